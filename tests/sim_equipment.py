"""A simulated lab started on its own (`harness sim up`) and reached as plain equipment: the
lab file that points at it, the environment carrying its credentials, its CLI over SSH, and
the long downlink scenario that the Ctrl-C tests interrupt."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.transport.ssh import SshTarget, SshTransport
from harness.base.secrets import Secret
from tests.runner_helpers import FAST_LAB
from tests.test_e2e_smoke import ROOT, run_harness

LONG_DL_SCENARIO = """\
name: {name}
title: {{vi: "{title_vi}", en: "{title_en}"}}
defaults: {{duration: 30s}}
setup:
  - {{device: gnb1, action: set_cell, cell: 1, params: {{bandwidth_mhz: {setup_mhz}}}}}
trials:
  - id: long-dl
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
{monitor}    criteria: ["throughput.mean >= 1 Mbit/s"]
"""


def long_dl_scenario(name: str, title_vi: str, title_en: str, *, setup_mhz: int,
                     kpis: bool) -> str:
    """A scenario whose setup sets cell 1 to `setup_mhz` and whose one trial, `long-dl`, runs
    30 s of downlink (long enough to be interrupted); `kpis` polls DRB.UEThpDl meanwhile."""
    monitor = "    monitor: {gnb1: [DRB.UEThpDl]}\n" if kpis else ""
    return LONG_DL_SCENARIO.format(name=name, title_vi=title_vi, title_en=title_en,
                                   setup_mhz=setup_mhz, monitor=monitor)


@dataclass
class SimEquipment:
    """A running simulated lab (its `sim up --json` state) and the known_hosts file that
    holds its gNodeB's SSH host key."""

    state: dict[str, Any]
    known_hosts: Path

    def lab_text(self, name: str) -> str:
        """A lab that reaches the running simulated gNodeB as plain equipment (SNMP v2c and
        SSH with the credentials from `env()`, traffic straight to its DN host)."""
        gnb = self.state["devices"]["gnb1"]
        ssh, snmp = gnb["ssh"], gnb["snmp"]
        dn = self.state["traffic"]["dn1"]
        return f"""\
name: {name}
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    host: 127.0.0.1
    snmp: {{version: 2c, port: {snmp['port']}, community: "${{env:RH_TEST_COMMUNITY}}",
           timeout: 1s, retries: 0}}
    ssh: {{port: {ssh['port']}, user: {ssh['user']}, password: "${{env:RH_TEST_PASSWORD}}",
          known_hosts: {self.known_hosts}}}
  ue1: {{role: ue-host, host: 127.0.0.1}}
  dn1: {{role: dn-host, host: 127.0.0.1, traffic_port: {dn['port']}}}
"""

    def env(self) -> dict[str, str]:
        """The environment of a harness run against `lab_text()`: its secrets by reference."""
        gnb = self.state["devices"]["gnb1"]
        return {**os.environ, "PYTHONPATH": str(ROOT),
                "RH_TEST_COMMUNITY": gnb["snmp"]["community"],
                "RH_TEST_PASSWORD": gnb["ssh"]["password"]}

    def ssh(self, *commands: str) -> list[str]:
        """CLI commands run on the simulated gNodeB over SSH, as an operator would."""
        ssh = self.state["devices"]["gnb1"]["ssh"]

        async def go() -> list[str]:
            transport = SshTransport(SshTarget(
                host=ssh["host"], port=ssh["port"], user=ssh["user"],
                password=Secret(ssh["password"]), known_hosts=str(self.known_hosts)),
                device="gnb1")
            try:
                return [(await transport.run(c, timeout_s=10)).stdout for c in commands]
            finally:
                await transport.close()
        return asyncio.run(go())


@contextlib.contextmanager
def sim_up(base: Path, lab: str = FAST_LAB) -> Iterator[SimEquipment]:
    """`harness sim up` with `lab` (files in `base`); the running lab as equipment, with its
    gNodeB's host key in `base/known_hosts`; `harness sim down` afterwards."""
    (base / "sim-lab.yaml").write_text(lab, encoding="utf-8")
    state_dir = base / "state"
    up = run_harness("sim", "up", "--lab", str(base / "sim-lab.yaml"), "--state-dir",
                     str(state_dir), "--json")
    assert up.returncode == 0, up.stderr
    try:
        state = json.loads(up.stdout)
        ssh = state["devices"]["gnb1"]["ssh"]
        known = base / "known_hosts"
        known.write_text(f"[{ssh['host']}]:{ssh['port']} {ssh['host_key']}\n", encoding="utf-8")
        yield SimEquipment(state, known)
    finally:
        run_harness("sim", "down", "--state-dir", str(state_dir))
