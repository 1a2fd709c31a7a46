"""`harness record` of a device's CLI, end to end: the simulated gNodeB recorded through a
profile whose facts come from commands — over SSH exec and in the interactive CLI session —
the transcripts hold the commands' real output, and the recording replayed
(`simulated: {replay: DIR}`) gives the live device's `harness devices --json` facts."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.profile import load_profile
from drivers.record import record_device
from drivers.transport.devlog import DeviceLog
from drivers.transport.ssh import SshTarget, SshTransport
from harness.base.secrets import Secret
from harness.base.transcript import load_transcript
from tests.conftest import free_port
from tests.input_files import ROOT, write_input
from tests.runner_helpers import FAST_LAB
from tests.sim_equipment import SimEquipment, sim_up

pytestmark = [pytest.mark.e2e]

# firmware over an SSH exec channel, serial and vendor/model line in the interactive CLI
# session (prompt "gnb1# "), uptime by SNMP: each of record's paths.
CLI_PROFILE = """\
name: cli-gnb
role: gnodeb
facts:
  uptime: {oid: 1.3.6.1.2.1.1.3.0}
cli:
  prompt: '^gnb1# ?$'
command_facts:
  firmware: {command: show version, parser: {keyvalue: ":"}, field: Software version}
  serial: {command: show version, mode: cli, parser: {keyvalue: ":"}, field: Serial number}
  model:
    command: show cell 1
    mode: cli
    parser: {regex: '^(?P<model>[0-9]+) +up '}
actions:
  show_cells: {command: show cell, mode: cli}
"""

REPLAY_LAB = """\
name: replay-cli
allow_inline_secrets: true
profiles: profiles
defaults:
  ssh: {{user: admin}}
devices:
  gnb1:
    role: gnodeb
    profile: cli-gnb
    simulated: {{replay: rec}}
    snmp: {{version: 2c, community: replay-community}}
    ssh: {{port: {ssh_port}, password: replay-password-1}}
"""


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _gnb1(lab: Path) -> dict[str, Any]:
    done = _harness("devices", "--lab", str(lab), "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    return next(r for r in json.loads(done.stdout)["devices"] if r["name"] == "gnb1")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """The simulated gNodeB recorded through CLI_PROFILE; its live devices row; record's
    output line."""
    tmp = tmp_path_factory.mktemp("record-cli")
    (tmp / "profiles").mkdir()
    write_input(tmp / "profiles", "cli-gnb.yaml", CLI_PROFILE)
    lab = FAST_LAB.replace("name: test-lab\n", "name: test-lab\nprofiles: profiles\n")
    lab = lab.replace("profile: sim-gnb", "profile: cli-gnb")
    write_input(tmp, "lab.yaml", lab)
    done = _harness("record", "gnb1", "--lab", str(tmp / "lab.yaml"), "-o", str(tmp / "rec"))
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr, done.stderr
    return tmp / "rec", _gnb1(tmp / "lab.yaml"), done.stdout


def test_the_transcripts_hold_the_commands_real_output(
        recorded: tuple[Path, dict[str, Any], str]) -> None:
    rec, live, line = recorded
    print(line)  # "recorded gnb1 into …: … 4 command transcript(s) in S s" (the figure)
    manifest = json.loads((rec / "recording.json").read_text(encoding="utf-8"))
    got = {(t["mode"], t["command"]): load_transcript(rec / t["file"])
           for t in manifest["transcripts"]}
    assert set(got) == {("exec", "show version"), ("cli", "show version"),
                        ("cli", "show cell 1"), ("cli", "show cell")}
    assert "4 command transcript(s)" in line
    assert manifest["prompt"] == "gnb1# "  # the prompt the live session showed
    for (mode, command), transcript in got.items():
        assert (transcript.mode, transcript.command) == (mode, command)
        assert transcript.exit_status == 0
        assert "gnb1#" not in transcript.output  # the session's prompt and echo are not output
        assert command not in transcript.output
    exec_version, cli_version = got[("exec", "show version")], got[("cli", "show version")]
    for text in (exec_version.output, cli_version.output):
        assert f"Serial number    : {live['facts']['serial']}\n" in text
        assert f"Software version : {live['facts']['firmware']}\n" in text
        assert "\r" not in text
    assert got[("cli", "show cell 1")].output.splitlines()[0].startswith("Cell  Admin  BW(MHz)")
    assert got[("cli", "show cell 1")].output.splitlines()[1].startswith("1     up     20 ")


def test_the_replayed_cli_gives_the_live_facts(recorded: tuple[Path, dict[str, Any], str],
                                               tmp_path: Path) -> None:
    rec, live, _ = recorded
    (tmp_path / "rec").symlink_to(rec)
    (tmp_path / "profiles").mkdir()
    write_input(tmp_path / "profiles", "cli-gnb.yaml", CLI_PROFILE)
    lab = write_input(tmp_path, "lab.yaml", REPLAY_LAB.format(ssh_port=free_port()))
    replayed = _gnb1(lab)
    assert replayed["reachable"] and replayed["error"] is None, replayed
    assert live["facts"]["serial"] == "SIM-0001" and live["facts"]["model"] == "1"
    for fact in ("description", "vendor", "model", "serial", "firmware"):
        assert replayed["facts"][fact] == live["facts"][fact], fact


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEquipment]:
    with sim_up(tmp_path_factory.mktemp("sim")) as equipment:
        yield equipment


def test_record_runs_the_cli_on_connect_commands_once(
        sim: SimEquipment, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`open_cli` already runs the profile's on_connect; record ran them a second time (the
    old code: two `terminal length 0` in the device's command log, one session)."""
    ssh = sim.state["devices"]["gnb1"]["ssh"]
    write_input(tmp_path, "cli-gnb.yaml", CLI_PROFILE.replace(
        "cli:\n", "cli:\n  on_connect: [terminal length 0]\n"))
    profile = load_profile("cli-gnb", [tmp_path])
    log = DeviceLog("gnb1")
    transport = SshTransport(SshTarget(host=ssh["host"], port=ssh["port"], user=ssh["user"],
                                       password=Secret(ssh["password"]),
                                       known_hosts=str(sim.known_hosts)),
                             device="gnb1", log=log)

    async def go() -> Any:
        try:
            return await record_device("gnb1", profile, snmp=None, ssh=transport,
                                       folder=tmp_path / "rec")
        finally:
            await transport.close()

    with caplog.at_level(logging.INFO, logger=log.logger.name):
        result = asyncio.run(go())
    assert len(result.transcripts) == 4 and not result.problems
    sent = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cli> ")]
    assert sent.count("cli> terminal length 0") == 1, sent
    assert sent.count("cli> show version") == 1, sent
