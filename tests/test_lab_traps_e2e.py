"""The lab-level trap receiver end to end: a real device (net-snmp's snmpd answering its facts,
net-snmp's `snmptrap`/`snmpinform` as its notifications) on a bench run with `traps:` in
lab.yaml. Traps raised during a trial show in that trial's alarms in summary.json; a trap with
a wrong community or a v3 trap with a wrong auth key is counted as refused (the trial's notes)
and never becomes an alarm."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from harness.base.events import Event, TrialStarted
from harness.engine.runner import Runner
from tests.conftest import free_port, require_tool
from tests.daemons import running_snmpd, snmpd_binary
from tests.runner_helpers import FAST_LAB, inputs, later, run_in_process
from tests.test_snmp_traps import cli

pytestmark = [pytest.mark.interop, pytest.mark.e2e]

COMMUNITY, FORGED = "gnb2-community", "forged-community"
ENGINE = "0x8000000001020399"
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"  # IF-MIB linkDown: generic-snmp maps it to major "link down"
COLD_START = "1.3.6.1.6.3.1.1.5.1"  # warning "device restarted (coldStart)"
AUTH_FAIL = "1.3.6.1.6.3.1.1.5.5"

SCENARIO = """\
name: lab-traps
title: {en: "Lab trap receiver", vi: "Bộ thu trap của phòng lab"}
defaults: {duration: 3s, kpi_interval: 0.5s}
monitors: {alarms: {interval: 0.5s}}
trials:
  - id: dl
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    protocol: tcp
    criteria: ["throughput.mean >= 1 Mbit/s"]
"""


def _lab(snmp_port: int, trap_port: int) -> str:
    real = (f"  gnb2:\n    role: gnodeb\n    profile: generic-snmp\n    host: 127.0.0.1\n"
            f"    snmp: {{version: 2c, community: {COMMUNITY}, port: {snmp_port}}}\n")
    traps = (f"traps:\n  listen: \"127.0.0.1:{trap_port}\"\n"
             "  users:\n"
             "    - {user: trapper, auth: {protocol: SHA-256, key: trap-auth-key-1},\n"
             "       priv: {protocol: AES-128, key: trap-priv-key-1}, engine_id: \""
             f"{ENGINE}\"}}\n")
    return "allow_inline_secrets: true\n" + traps + FAST_LAB + real


def test_real_device_traps_show_in_the_trials_alarms_forged_ones_refused(
        tmp_path: Path) -> None:
    snmptrap, snmpinform = require_tool("snmptrap"), require_tool("snmpinform")
    binary = snmpd_binary()
    if binary is None:
        pytest.skip("net-snmp snmpd is not installed (apt-get install snmpd)")
    trap_port = free_port(socket.SOCK_DGRAM)
    target = f"127.0.0.1:{trap_port}"
    v3 = ["-v3", "-u", "trapper", "-l", "authPriv", "-a", "SHA-256", "-x", "AES"]
    sent: list[int] = []

    async def device_sends() -> None:
        codes = [
            (await cli(snmptrap, "-v2c", "-c", COMMUNITY, target, "", LINK_DOWN,
                       "1.3.6.1.2.1.2.2.1.1.2", "i", "2"))[0],
            (await cli(snmpinform, "-v2c", "-c", COMMUNITY, "-t", "2", "-r", "1", target, "",
                       COLD_START))[0],
            (await cli(snmptrap, "-v2c", "-c", FORGED, target, "", AUTH_FAIL))[0],
            (await cli(snmptrap, *v3, "-e", ENGINE, "-A", "wrong-auth-key", "-X",
                       "trap-priv-key-1", target, "", AUTH_FAIL))[0],
        ]
        sent.extend(codes)

    tasks: list[asyncio.Task[None]] = []

    def on_event(_runner: Runner, event: Event) -> None:
        if isinstance(event, TrialStarted):
            tasks.append(later(0.5, device_sends))

    with running_snmpd(binary, tmp_path / "snmpd", f"rocommunity {COMMUNITY} 127.0.0.1\n"
                       ) as snmp_port:
        run_inputs = inputs(tmp_path, SCENARIO, _lab(snmp_port, trap_port))
        outcome, _ = run_in_process(run_inputs, tmp_path / "out", on_event=on_event)
    assert sent == [0, 0, 0, 0]
    summary: dict[str, Any] = json.loads((outcome.run_dir / "summary.json").read_text())
    trial = summary["trials"][0]
    metrics = trial["metrics"]
    # the linkDown trap and the coldStart inform, attributed to gnb2, during the trial
    assert metrics["alarms.major"]["value"] == 1, trial
    assert metrics["alarms.warning"]["value"] == 1, trial
    assert metrics["alarms.raised"]["value"] == 2, trial
    assert metrics["alarms.traps"]["value"] == 2, trial
    notes = " ".join(trial["monitors"]["notes"])
    assert "1 wrong community from gnb2" in notes, notes
    assert "1 SNMPv3 refused" in notes, notes
    assert "gnb2 major link down" in notes and "coldStart" in notes, notes
    # neither forged trap became an alarm (generic-snmp maps authenticationFailure to one)
    assert "authentication failure" not in json.dumps(trial)
