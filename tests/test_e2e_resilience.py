"""End to end: Ctrl-C mid-trial, and credentials that never reach the run's outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.sim_equipment import long_dl_scenario
from tests.test_e2e_smoke import ROOT, load_run, run_harness

pytestmark = pytest.mark.e2e

LONG_SCENARIO = long_dl_scenario("long", "Phép đo dài", "Long trial", setup_mhz=50, kpis=True)


def _processes_with(marker: str) -> list[int]:
    """PIDs whose environment carries `marker` (children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_ctrl_c_mid_trial_restores_and_keeps_results(tmp_path: Path) -> None:
    require_tool("iperf3")
    scenario = tmp_path / "long.yaml"
    scenario.write_text(LONG_SCENARIO, encoding="utf-8")
    marker = f"RAN_HARNESS_TEST_MARKER={os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), marker.split("=")[0]: marker.split("=")[1]}
    # A new session stands in for a terminal: Ctrl-C goes to the whole foreground group.
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(scenario), "--lab", "lab.yaml",
         "--out", str(tmp_path / "out")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        seen = ""
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            seen += line
            if "long-dl #1" in line or not line:
                break
        assert "long-dl #1" in seen, seen
        time.sleep(3)  # traffic and KPI polling under way
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, seen + stderr
    assert "Traceback" not in seen + stderr
    run_dir, summary = load_run(stdout)
    assert summary["interrupted"] is True
    assert summary["verdict"] == "ERROR"
    assert summary["trials"][0]["error"].startswith("interrupted")
    assert summary["restore_errors"] == []
    assert "bandwidth_mhz" in stderr and "100" in stderr  # restored to the lab's 100 MHz
    assert (run_dir / "report.html").is_file()
    import sqlite3

    db = sqlite3.connect(run_dir / "samples.sqlite")
    kpi_samples = db.execute("SELECT COUNT(*) FROM samples WHERE measurement='kpi'").fetchone()[0]
    assert kpi_samples >= 2, "samples taken before Ctrl-C are kept"
    time.sleep(0.5)
    assert _processes_with(marker) == [], "simulated lab or iperf3 left running"


def test_credentials_by_reference_never_reach_outputs(tmp_path: Path) -> None:
    require_tool("iperf3")
    values = {
        "RH_SNMP_COMMUNITY": "community-Zq81xK",
        "RH_SNMP_AUTH": "auth-key-Ppq93LmZ",
        "RH_SNMP_PRIV": "priv-key-Hh27wQsd",
    }
    (tmp_path / "ssh-password").write_text("ssh-pass-Kk55rTvv\n", encoding="utf-8")
    lab_text = (ROOT / "lab.yaml").read_text(encoding="utf-8").replace(
        "defaults:\n  snmp: {version: 3, user: harness, auth: {protocol: SHA-256}, "
        "priv: {protocol: AES-128},\n",
        'defaults:\n  snmp: {version: 3, user: harness, community: "${env:RH_SNMP_COMMUNITY}",\n'
        '         auth: {protocol: SHA-256, key: "${env:RH_SNMP_AUTH}"},\n'
        '         priv: {protocol: AES-128, key: "${env:RH_SNMP_PRIV}"},\n',
    ).replace("ssh: {user: admin, host_key: verify}",
              'ssh: {user: admin, host_key: verify, password: "${file:ssh-password}"}')
    assert "RH_SNMP_AUTH" in lab_text and "ssh-password" in lab_text
    lab = tmp_path / "lab.yaml"
    lab.write_text(lab_text, encoding="utf-8")
    env_before = dict(os.environ)
    os.environ.update(values)
    try:
        proc = run_harness("run", "scenarios/smoke.yaml", "--lab", str(lab),
                           "--out", str(tmp_path / "out"), "--pdf")  # every output scanned
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    assert proc.returncode == 0, proc.stderr
    run_dir, summary = load_run(proc.stdout)
    assert summary["verdict"] == "PASS"
    secrets = [*values.values(), "ssh-pass-Kk55rTvv"]
    texts = [proc.stdout, proc.stderr]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in run_dir.rglob("*") if p.is_file()]
    for secret in secrets:
        assert not any(secret in text for text in texts), secret
    assert json.dumps(summary).count("RH_SNMP") == 0


def test_missing_secret_is_a_clear_error(tmp_path: Path) -> None:
    lab_text = (ROOT / "lab.yaml").read_text(encoding="utf-8").replace(
        "auth: {protocol: SHA-256}", 'auth: {protocol: SHA-256, key: "${env:RH_UNSET_KEY_X}"}')
    lab = tmp_path / "lab.yaml"
    lab.write_text(lab_text, encoding="utf-8")
    env = dict(os.environ)
    env.pop("RH_UNSET_KEY_X", None)
    proc = run_harness("run", "scenarios/smoke.yaml", "--lab", str(lab),
                       "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    line = next(n for n, text in enumerate(lab_text.splitlines(), 1) if "RH_UNSET_KEY_X" in text)
    assert f"lab.yaml:{line}:" in proc.stderr and "defaults.snmp.auth.key" in proc.stderr
    assert "RH_UNSET_KEY_X is not set" in proc.stderr
    assert "Traceback" not in proc.stderr
