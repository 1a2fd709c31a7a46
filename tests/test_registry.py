"""The driver registry: built-ins, duplicates, and a real plugin distribution (built as a wheel
from tests/fixtures/plugin, installed with pip into a temporary folder) used from a lab."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.registry import ENTRY_POINT_GROUP, DriverContext, DriverRegistry
from harness.base.errors import ConfigError
from harness.config.lab import Device, Lab
from harness.engine.bench import open_bench
from tests.conftest import free_port, require_tool

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_SRC = ROOT / "tests" / "fixtures" / "plugin"


def build_wheel(src: Path, out: Path, *, name: str | None = None,
                entry_points: dict[str, str] | None = None) -> Path:
    """A pure-Python wheel of the package at `src` (no build backend needed)."""
    project = tomllib.loads((src / "pyproject.toml").read_text())
    meta = project["project"]
    dist = (name or meta["name"]).replace("-", "_")
    version = meta["version"]
    info = f"{dist}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for package in project["tool"]["setuptools"]["packages"]:
        for path in sorted((src / package).rglob("*.py")):
            files[path.relative_to(src).as_posix()] = path.read_bytes()
    eps = entry_points if entry_points is not None else meta["entry-points"][ENTRY_POINT_GROUP]
    files[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name or meta['name']}\n"
                                 f"Version: {version}\n").encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: ran-harness-tests\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    files[f"{info}/entry_points.txt"] = (f"[{ENTRY_POINT_GROUP}]\n" + "".join(
        f"{k} = {v}\n" for k, v in eps.items())).encode()
    record = [f"{arc},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}"
              for arc, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = out / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for arc, data in files.items():
            archive.writestr(arc, data)
    return wheel


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pip_install(wheel: Path, target: Path) -> Path:
    """`pip install --target`: a real installed distribution importlib.metadata can find."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--disable-pip-version-check", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=120)
    return target


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("plugin")
    return pip_install(build_wheel(PLUGIN_SRC, tmp), tmp / "site")


@pytest.fixture
def plugin_on_path(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(plugin_dir))
    yield plugin_dir
    for module in [m for m in sys.modules if m.startswith("ranharness_acme")]:
        del sys.modules[module]


def test_builtins_and_role_defaults() -> None:
    registry = DriverRegistry.with_builtins()
    assert registry.names() == ["core", "gnodeb", "host"]
    assert registry.driver_for(Device(role="gnodeb", profile="sim-gnb")) == "gnodeb"
    assert registry.driver_for(Device(role="dn-host")) == "host"
    assert registry.driver_for(Device(role="gnodeb", profile="p", driver="acme-gnb")) == "acme-gnb"
    assert DriverRegistry().names() == []  # instances share nothing


def test_duplicate_names_are_an_error_naming_both() -> None:
    registry = DriverRegistry.with_builtins()
    with pytest.raises(ConfigError, match=r"'gnodeb' is registered twice: by built-in "
                                          r"\(drivers\.gnb\) and by my plugin"):
        registry.register("gnodeb", lambda ctx: object(), source="my plugin")
    with pytest.raises(ConfigError, match="not callable"):
        registry.register("odd", "not a factory", source="x")  # type: ignore[arg-type]


def test_unknown_and_broken_drivers_say_which() -> None:
    registry = DriverRegistry.with_builtins()
    with pytest.raises(ConfigError, match=r"no driver named 'acme'.*registered: core, gnodeb"):
        registry.entry("acme")
    broken = importlib.metadata.EntryPoint(name="broken", value="no_such_module_x:make",
                                           group=ENTRY_POINT_GROUP)
    with pytest.raises(ConfigError, match=r"cannot load driver 'broken'.*no_such_module_x"):
        registry.load_entry_points([broken])


def test_installed_plugin_is_found(plugin_on_path: Path) -> None:
    registry = DriverRegistry.default()
    assert "acme-gnb" in registry.names()
    assert registry.entry("acme-gnb").source == (
        "entry point acme-gnb = ranharness_acme.driver:make_gnb (ranharness-acme 0.1.0)")


def test_plugin_clashing_with_a_builtin_is_refused(plugin_on_path: Path,
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    clash = build_wheel(PLUGIN_SRC, tmp_path, name="ranharness-clash",
                        entry_points={"gnodeb": "ranharness_acme.driver:make_gnb"})
    monkeypatch.syspath_prepend(str(pip_install(clash, tmp_path / "site")))
    with pytest.raises(ConfigError) as info:
        DriverRegistry.default()
    message = str(info.value)
    assert "'gnodeb' is registered twice" in message
    assert "built-in (drivers.gnb)" in message and "ranharness-clash 0.1.0" in message


def test_a_driver_must_fit_its_role(tmp_path: Path) -> None:
    registry = DriverRegistry.with_builtins()
    registry.register("toaster", lambda ctx: object(), source="test")
    lab = Lab.model_validate({"name": "t", "allow_inline_secrets": True, "devices": {
        "gnb1": {"role": "gnodeb", "profile": "sim-gnb", "driver": "toaster",
                 "snmp": {"version": "2c", "community": "x", "port": free_port()}}}})

    async def go() -> None:
        bench = await open_bench(lab, tmp_path, registry=registry)
        await bench.close()

    with pytest.raises(ConfigError, match=r"gnb1: driver 'toaster' built a object, which lacks "
                                          r"what a gnodeb needs \(facts, read_kpis"):
        asyncio.run(go())


def test_factories_get_the_lab_entry(tmp_path: Path) -> None:
    seen: list[DriverContext] = []

    def spy(ctx: DriverContext) -> Any:
        seen.append(ctx)
        return DriverRegistry.with_builtins().entry("host").factory(ctx)

    registry = DriverRegistry.with_builtins()
    registry.register("spy-host", spy, source="test")
    lab = Lab.model_validate({"name": "t", "devices": {
        "dn1": {"role": "dn-host", "driver": "spy-host"}}})

    async def go() -> tuple[str, str]:
        bench = await open_bench(lab, tmp_path, run_id="r1", registry=registry)
        try:
            return bench.hosts["dn1"].name, bench.drivers["dn1"]
        finally:
            await bench.close()

    assert asyncio.run(go()) == ("dn1", "spy-host")
    (ctx,) = seen
    assert (ctx.name, ctx.role, ctx.run_id, ctx.ssh_target, ctx.log.run_id) == (
        "dn1", "dn-host", "r1", None, "r1")


def test_ssh_settings_reach_the_driver(tmp_path: Path) -> None:
    seen: list[DriverContext] = []
    registry = DriverRegistry.with_builtins()
    registry.register("spy", lambda ctx: seen.append(ctx) or registry.entry("host").factory(ctx),
                      source="test")
    lab = Lab.model_validate({"name": "t", "defaults": {"ssh": {"user": "ops", "keepalive": "15s"}},
                              "devices": {"dn1": {
        "role": "dn-host", "driver": "spy", "connection": "ssh", "host": "127.0.0.3",
        "ssh": {"port": 2222, "key_file": "/k", "host_key": "accept-new", "agent": True,
                "command_timeout": "5s", "jump": {"host": "127.0.0.4", "host_key": "verify"}}}}})

    async def go() -> dict[str, str]:
        bench = await open_bench(lab, tmp_path, registry=registry)
        await bench.close()
        return bench.ssh_policies

    policies = asyncio.run(go())
    target = seen[0].ssh_target
    assert target is not None and target.jump is not None
    assert (target.host, target.port, target.user, target.key_file, target.agent) == (
        "127.0.0.3", 2222, "ops", "/k", True)
    assert (target.keepalive_s, target.command_timeout_s) == (15.0, 5.0)
    jump = target.jump
    assert (jump.host, jump.port, jump.user, jump.key_file, jump.host_key) == (
        "127.0.0.4", 22, "ops", "/k", "verify")
    assert policies == {"dn1": "accept-new (jump 127.0.0.4:22: verify)"}
    with pytest.raises(ValueError, match="connection: ssh is for traffic hosts"):
        Lab.model_validate({"name": "t", "devices": {"g": {
            "role": "gnodeb", "profile": "sim-gnb", "connection": "ssh"}}})


# --- the plugin from lab.yaml: `harness devices` and a real run ---------------------------------

LAB = """\
name: plugin-lab
defaults:
  snmp: {version: 3, user: harness, auth: {protocol: SHA-256}, priv: {protocol: AES-128},
         timeout: 2s, retries: 1}
  ssh: {user: admin, password: "${env:ACME_SSH_PW}", host_key: verify}
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    driver: acme-gnb
    simulated: {cells: [{id: 1, bandwidth_mhz: 20}], serial: ACME-0042, firmware: 7.1.3}
  ue1: {role: ue-host}
  dn1: {role: dn-host}
"""
SCENARIO = """\
name: plugin-smoke
title: {en: "plugin driver smoke", vi: "kiểm tra trình điều khiển bổ sung"}
defaults: {duration: 2s, omit: 0s, repetitions: 1, kpi_interval: 1s, min_samples: 1}
setup:
  - {device: gnb1, action: set_cell, cell: 1, params: {bandwidth_mhz: 20}}
trials:
  - id: dl
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    protocol: tcp
    criteria: ["throughput.max >= 1 Mbit/s"]
"""


def _harness(args: list[str], plugin: Path, env: dict[str, str],
             cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "PYTHONPATH": f"{ROOT}{os.pathsep}{plugin}"}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=120, check=False)


def test_plugin_driver_from_lab_yaml(plugin_dir: Path, tmp_path: Path) -> None:
    require_tool("iperf3")
    password = "acme-" + os.urandom(5).hex()
    (tmp_path / "lab.yaml").write_text(LAB)
    (tmp_path / "plugin-smoke.yaml").write_text(SCENARIO)
    env = {"ACME_SSH_PW": password}

    listed = _harness(["devices", "--lab", "lab.yaml", "--json"], plugin_dir, env, tmp_path)
    assert listed.returncode == 0, listed.stderr + listed.stdout
    rows = {row["name"]: row for row in json.loads(listed.stdout)["devices"]}
    gnb = rows["gnb1"]
    assert gnb["driver"] == "acme-gnb" and gnb["reachable"]
    assert gnb["facts"]["vendor"] == "Acme Radio (plugin)"
    assert (gnb["facts"]["serial"], gnb["facts"]["firmware"]) == ("ACME-0042", "7.1.3")
    assert gnb["transports"]["ssh"] == {"ok": True, "error": None, "host_key_policy": "verify"}

    run = _harness(["run", "plugin-smoke.yaml", "--lab", "lab.yaml", "--out", "reports", "-q"],
                   plugin_dir, env, tmp_path)
    assert run.returncode == 0, run.stderr + run.stdout
    run_dir = tmp_path / run.stdout.strip().splitlines()[-1]
    summary = json.loads((run_dir / "summary.json").read_text())
    devices = {d["name"]: d for d in summary["devices"]}
    assert devices["gnb1"]["driver"] == "acme-gnb"
    assert devices["gnb1"]["vendor"] == "Acme Radio (plugin)"
    assert devices["gnb1"]["ssh_host_key_policy"] == "verify"
    assert devices["dn1"]["ssh_host_key_policy"] is None  # a local host has no SSH
    log = (run_dir / "devices" / "gnb1.log").read_text()
    assert "exec> show version" in log and "exec> set cell 1 bandwidth 20" in log
    assert password not in log
    assert password not in "".join(p.read_text(errors="replace")
                                   for p in run_dir.rglob("*") if p.is_file()
                                   and p.suffix in (".json", ".log", ".html", ".xml"))
