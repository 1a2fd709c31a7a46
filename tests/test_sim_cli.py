"""`harness sim up/status/fault/clear/down` as real subprocesses, and what they print works:
the endpoints of `status --json` answer net-snmp and our SSH client, the traffic commands carry
iperf3 through the gNodeB relay, and `down` leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from drivers.transport.ssh import SshTarget, SshTransport
from harness.base.secrets import Secret
from tests.conftest import free_port, require_tool

ROOT = Path(__file__).resolve().parent.parent
SYS_NAME = "1.3.6.1.2.1.1.5.0"
AMF_REGISTERED = "1.3.6.1.4.1.32473.2.2.1.0"

LAB = """\
name: cli-sim-lab
defaults:
  snmp: {version: 3, user: harness, auth: {protocol: SHA-256}, priv: {protocol: AES-128}}
  ssh: {user: admin, host_key: verify}
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    simulated: {cells: [{id: 1, bandwidth_mhz: 20, plmns: ["452-02"]}]}
  core1:
    role: core
    profile: sim-core
    simulated: {plmns: ["452-02"], slices: ["1-000001"], subscribers: 5}
  ue1: {role: ue-host}
  dn1: {role: dn-host, traffic_port: DN_PORT}
"""


def harness(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "harness", "sim", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie left to a non-reaping parent counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def net_snmp(tool: str, snmp: dict[str, Any], oid: str, *, version: str = "3",
             timeout_s: float = 2) -> subprocess.CompletedProcess[str]:
    v3 = snmp["v3"]
    auth = (["-v3", "-l", "authPriv", "-u", v3["user"], "-a", v3["auth_protocol"], "-A",
             v3["auth_key"], "-x", "AES", "-X", v3["priv_key"]] if version == "3"
            else ["-v2c", "-c", snmp["community"]])
    return subprocess.run(
        [require_tool(tool), *auth, "-On", "-t", str(timeout_s), "-r", "0",
         f"{snmp['host']}:{snmp['port']}", oid], capture_output=True, text=True, timeout=30,
        check=False, env={**os.environ, "MIBS": ""})


async def ssh_run(ssh: dict[str, Any], known_hosts: Path, command: str) -> str:
    known_hosts.write_text(f"[{ssh['host']}]:{ssh['port']} {ssh['host_key']}\n",
                           encoding="utf-8")
    target = SshTarget(host=ssh["host"], port=ssh["port"], user=ssh["user"],
                       password=Secret(ssh["password"]), host_key="verify",
                       known_hosts=str(known_hosts), timeout_s=5, command_timeout_s=5)
    async with SshTransport(target, device="sim") as transport:
        result = await transport.run(command)
    assert result.ok, result.stdout + result.stderr
    return result.stdout


def iperf3_through_relay(command: dict[str, str]) -> dict[str, Any]:
    """Run the printed server and client commands (one-off server, 1 s client)."""
    server = subprocess.Popen([*shlex.split(command["server"]), "-1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = int(shlex.split(command["server"])[-1])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not listening(port):
            time.sleep(0.05)
        client = subprocess.run([*shlex.split(command["client"]), "-t", "1", "-J"],
                                capture_output=True, text=True, timeout=20, check=False)
        assert client.returncode == 0, client.stdout[-500:] + client.stderr
        report: dict[str, Any] = json.loads(client.stdout)
        return report
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.kill()
        server.wait(timeout=5)


def listening(port: int) -> bool:
    with open("/proc/net/tcp", encoding="ascii") as handle:
        return any(f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port
                   for f in (line.split() for line in handle.readlines()[1:]))


@pytest.mark.e2e
def test_sim_up_status_fault_clear_down(tmp_path: Path) -> None:
    require_tool("iperf3")
    dn_port = free_port()
    (tmp_path / "lab.yaml").write_text(LAB.replace("DN_PORT", str(dn_port)), encoding="utf-8")
    pid: int | None = None
    try:
        up = harness(tmp_path, "up", "--lab", "lab.yaml")
        assert up.returncode == 0, up.stderr
        assert "core1 (core)" in up.stdout and f"iperf3 -s -B 127.0.0.1 -p {dn_port}" in up.stdout
        state_dir = tmp_path / ".harness" / "sim"
        state_file = state_dir / "state.json"
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
        pid = json.loads(state_file.read_text())["pid"]
        assert alive(pid)  # it outlived the `sim up` process

        status = harness(tmp_path, "status", "--json")
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        assert info["pid"] == pid and set(info["devices"]) == {"gnb1", "core1"}
        assert info["live"]["devices"]["core1"]["registered"] == 5
        gnb, core = info["devices"]["gnb1"], info["devices"]["core1"]
        assert info["traffic"]["dn1"]["host"] == "127.0.0.1"
        assert info["traffic"]["dn1"]["port"] == dn_port

        # The endpoints and credentials work with net-snmp and with our SSH client.
        for name, dev in (("gnb1", gnb), ("core1", core)):
            for version in ("3", "2c"):
                got = net_snmp("snmpget", dev["snmp"], SYS_NAME, version=version)
                assert got.returncode == 0 and f'"{name}"' in got.stdout, got.stderr
        got = net_snmp("snmpget", core["snmp"], AMF_REGISTERED)
        assert got.stdout.strip().endswith("Gauge32: 5"), got.stdout
        ues = asyncio.run(ssh_run(core["ssh"], tmp_path / "known_hosts", "show ue"))
        assert "Registered: 5 of 5" in ues
        version = asyncio.run(ssh_run(gnb["ssh"], tmp_path / "known_hosts", "show version"))
        assert "SimGNB-1" in version

        # The printed traffic commands carry iperf3 through gNodeB gnb1's relay.
        kinds = sorted(c["kind"] for c in info["commands"])
        assert kinds == ["irtt", "traffic"]
        [command] = [c for c in info["commands"] if c["kind"] == "traffic"]
        assert command["via"] == "gnb1" and command["dn"] == "dn1"
        assert command["plmn"] == "452-02"
        report = iperf3_through_relay(command)
        received = report["end"]["sum_received"]["bytes"]
        assert received > 0
        live = json.loads(harness(tmp_path, "status", "--json").stdout)["live"]
        assert live["devices"]["core1"]["upf"]["in_octets"] >= received
        cell = live["devices"]["gnb1"]["cells"]["1"]
        assert cell["relay_lost"] == 0 and cell["relay_late"] >= 0  # the simulator kept up
        text = harness(tmp_path, "status").stdout
        assert (f"cell 1   carried {cell['dl_packets']} DL" in text
                or "cell 1   carried" in text), text
        assert "the relay's own loss 0" in text, text

        # A second lab on the same state directory is refused.
        again = harness(tmp_path, "up", "--lab", "lab.yaml")
        assert again.returncode == 2 and "already running" in again.stderr

        # Faults from the command line are observable from outside, and clear.
        fault = harness(tmp_path, "fault", "core1", "snmp-silent", "--for", "10s")
        assert fault.returncode == 0, fault.stderr
        assert "snmp-silent" in fault.stdout
        silent = net_snmp("snmpget", core["snmp"], SYS_NAME, timeout_s=0.5)
        assert silent.returncode != 0 and "Timeout" in silent.stderr
        listed = json.loads(harness(tmp_path, "status", "--json").stdout)
        [active] = listed["live"]["devices"]["core1"]["faults"]
        assert active["kind"] == "snmp-silent" and 0 < active["remaining_s"] <= 10
        cleared = harness(tmp_path, "clear", "core1", "snmp-silent")
        assert cleared.returncode == 0 and "no active faults" in cleared.stdout
        assert net_snmp("snmpget", core["snmp"], SYS_NAME).returncode == 0

        # Bad input: exit 2 with a message that says what is wrong.
        for args, message in (
                (("fault", "gnb9", "snmp-silent"), "no simulated device 'gnb9'"),
                (("fault", "core1", "melt-down"), "no fault kind 'melt-down'"),
                (("fault", "core1", "snmp-silent", "--for", "soon"), "expected a duration"),
                (("fault", "core1", "snmp-silent", "--param", "novalue"), "KEY=VALUE"),
                (("clear", "gnb9"), "no simulated device 'gnb9'")):
            bad = harness(tmp_path, *args)
            assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)

        down = harness(tmp_path, "down")
        assert down.returncode == 0, down.stderr
        assert not alive(pid) and not state_file.exists()
        assert not (Path(info["control"])).exists()
        pid = None
        after_down: list[tuple[str, ...]] = [("status",), ("down",),
                                             ("fault", "core1", "snmp-silent")]
        for command_args in after_down:
            gone = harness(tmp_path, *command_args)
            assert gone.returncode == 2, command_args
            assert "no simulated lab is running" in gone.stderr
    finally:
        if pid is not None and alive(pid):
            harness(tmp_path, "down", timeout=30)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# ---- the lab model: simulated cores, and which core a gNodeB attaches to -----------------------

GNB = "  gnb1: {role: gnodeb, profile: sim-gnb, simulated: {SIM}}\n"
CORE = "  NAME: {role: core, profile: sim-core, simulated: {SIM}}\n"


def lab_text(*devices: str) -> str:
    return "name: t\ndevices:\n" + "".join(devices)


def load_lab(tmp_path: Path, text: str) -> Any:
    from harness.base.loader import load_model
    from harness.config.lab import Lab

    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    return load_model(path, Lab)


def test_lab_accepts_simulated_core_and_attaches_gnodebs(tmp_path: Path) -> None:
    from harness.config.simulated import SimulatedCore

    lab = load_lab(tmp_path, lab_text(
        GNB.replace("SIM", "cells: [{id: 1}]"),
        CORE.replace("NAME", "core1").replace("SIM", "")))
    core = lab.devices["core1"].simulated
    assert isinstance(core, SimulatedCore)
    assert (core.plmns, core.slices, core.subscribers) == (["452-02"], ["1-000001"], 10)
    assert lab.core_of("gnb1") == "core1"


@pytest.mark.parametrize(("devices", "where", "message"), [
    ((CORE.replace("NAME", "core1").replace("SIM", "cells: []"),), "3:", "unknown key 'cells'"),
    ((CORE.replace("NAME", "core1").replace("SIM", "slices: ['1-XYZ']"),), "3:",
     "expected an S-NSSAI like"),
    ((CORE.replace("NAME", "core1").replace("SIM", "subscribers: -1"),), "3:",
     "greater than or equal to 0"),
    ((GNB.replace("SIM", "core: core9"), CORE.replace("NAME", "core1").replace("SIM", "")),
     "3:", "no simulated core named 'core9'"),
    ((GNB.replace("SIM", "cells: [{id: 1}]"), CORE.replace("NAME", "c1").replace("SIM", ""),
      CORE.replace("NAME", "c2").replace("SIM", "")), "3:", "several simulated cores"),
    (("  ue1: {role: ue-host, simulated: {}}\n",), "3:", "only gnodeb and core devices"),
])
def test_lab_refuses_bad_simulated_cores_with_positions(
        tmp_path: Path, devices: tuple[str, ...], where: str, message: str) -> None:
    from harness.base.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_lab(tmp_path, lab_text(*devices))
    text = str(caught.value)
    assert f"lab.yaml:{where}" in text and message in text, text


def test_sim_up_refuses_a_lab_without_simulated_devices(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yaml"
    lab.write_text("name: real\ndevices:\n  ue1: {role: ue-host}\n", encoding="utf-8")
    result = harness(tmp_path, "up", "--lab", str(lab), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2
    assert "no simulated devices" in result.stderr
    assert not (tmp_path / "s" / "state.json").exists()


def test_sim_up_reports_lab_errors_with_their_line(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yaml"
    lab.write_text("name: bad\ndevices:\n  core1:\n    role: core\n    profile: sim-core\n"
                   "    simulated: {cells: [{id: 1}]}\n", encoding="utf-8")
    result = harness(tmp_path, "up", "--lab", str(lab))
    assert result.returncode == 2
    assert f"{lab}:6:" in result.stderr and "unknown key 'cells'" in result.stderr


def test_stale_state_is_reported_and_removed(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (state_dir / "state.json").write_text(json.dumps(
        {"format_version": 1, "pid": dead.pid, "start_ticks": "1",
         "control": str(state_dir / "control.sock"), "devices": {}}), encoding="utf-8")
    result = harness(tmp_path, "status", "--state-dir", str(state_dir))
    assert result.returncode == 2 and "no longer running" in result.stderr
    assert not (state_dir / "state.json").exists()
