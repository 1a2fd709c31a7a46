"""Snapshot/restore: Ctrl-C mid-run puts every cell back, checked over SSH on the device."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from drivers.transport.ssh import SshTarget, SshTransport
from harness.config.secrets import Secret
from harness.snapshot import cell_differences
from tests.conftest import require_tool
from tests.runner_helpers import FAST_LAB
from tests.test_e2e_smoke import ROOT, load_run, run_harness

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: restore
title: {vi: "Khôi phục", en: "Restore"}
defaults: {duration: 30s}
setup:
  - {device: gnb1, action: set_cell, cell: 1, params: {bandwidth_mhz: 10}}
trials:
  - id: long-dl
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["throughput.mean >= 1 Mbit/s"]
"""


def test_cell_differences() -> None:
    assert cell_differences({"a": 1, "b": "x", "c": 3}, {"a": 1, "b": "y"}) == {"b": "x"}
    assert cell_differences({"a": 20}, {"a": "20"}) == {}


def _lab_for(state: dict[str, Any], known_hosts: Path) -> str:
    """A lab that reaches the running simulated gNodeB as plain equipment."""
    gnb = state["devices"]["gnb1"]
    ssh, snmp = gnb["ssh"], gnb["snmp"]
    known_hosts.write_text(f"[{ssh['host']}]:{ssh['port']} {ssh['host_key']}\n",
                           encoding="utf-8")
    dn = state["traffic"]["dn1"]
    return f"""\
name: restore-lab
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    host: 127.0.0.1
    snmp: {{version: 2c, port: {snmp['port']}, community: "${{env:RH_TEST_COMMUNITY}}",
           timeout: 1s, retries: 0}}
    ssh: {{port: {ssh['port']}, user: {ssh['user']}, password: "${{env:RH_TEST_PASSWORD}}",
          known_hosts: {known_hosts}}}
  ue1: {{role: ue-host, host: 127.0.0.1}}
  dn1: {{role: dn-host, host: 127.0.0.1, traffic_port: {dn['port']}}}
"""


async def _ssh(state: dict[str, Any], known_hosts: Path, *commands: str) -> list[str]:
    """Run CLI commands on the simulated gNodeB over SSH, as an operator would."""
    ssh = state["devices"]["gnb1"]["ssh"]
    transport = SshTransport(SshTarget(host=ssh["host"], port=ssh["port"], user=ssh["user"],
                                       password=Secret(ssh["password"]),
                                       known_hosts=str(known_hosts)), device="gnb1")
    try:
        return [(await transport.run(c, timeout_s=10)).stdout for c in commands]
    finally:
        await transport.close()


def test_ctrl_c_restores_cells_checked_over_ssh(tmp_path: Path) -> None:
    require_tool("iperf3")
    (tmp_path / "sim-lab.yaml").write_text(FAST_LAB, encoding="utf-8")
    state_dir = tmp_path / "state"
    up = run_harness("sim", "up", "--lab", str(tmp_path / "sim-lab.yaml"),
                     "--state-dir", str(state_dir), "--json")
    assert up.returncode == 0, up.stderr
    try:
        state = json.loads(up.stdout)
        known = tmp_path / "known_hosts"
        (tmp_path / "lab.yaml").write_text(_lab_for(state, known), encoding="utf-8")
        (tmp_path / "s.yaml").write_text(SCENARIO, encoding="utf-8")
        original = asyncio.run(_ssh(state, known, "show cell 1"))[0]
        print(original)
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "RH_TEST_COMMUNITY": state["devices"]["gnb1"]["snmp"]["community"],
               "RH_TEST_PASSWORD": state["devices"]["gnb1"]["ssh"]["password"]}
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", str(tmp_path / "s.yaml"), "--lab",
             str(tmp_path / "lab.yaml"), "--out", str(tmp_path / "out"), "--progress", "lines"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        try:
            assert proc.stderr is not None
            seen, deadline = "", time.monotonic() + 60
            while time.monotonic() < deadline and "long-dl #1" not in seen:
                line = proc.stderr.readline()
                if not line:
                    break
                seen += line
            assert "long-dl #1" in seen, seen
            # Mid-trial, someone changes the cell behind the harness's back: not a setup step,
            # so only the snapshot knows what to put back.
            changed = asyncio.run(_ssh(state, known, "set cell 1 layers dl 1", "show cell 1"))
            assert changed[1] != original
            time.sleep(1.0)
            os.killpg(proc.pid, signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 130, seen + stderr
        _, summary = load_run(stdout)
        assert summary["interrupted"] is True and summary["restore_errors"] == []
        before = summary["snapshot"]["before"]["gnb1"]["cells"]["1"]
        after = summary["snapshot"]["after"]["gnb1"]["cells"]["1"]
        assert before == after and before["bandwidth_mhz"] == 20 and before["layers_dl"] == 2
        assert "bandwidth_mhz" in stderr and "layers_dl" in stderr  # what was put back
        now = asyncio.run(_ssh(state, known, "show cell 1"))[0]
        assert now == original, (original, now)
    finally:
        run_harness("sim", "down", "--state-dir", str(state_dir))
