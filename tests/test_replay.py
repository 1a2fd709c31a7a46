"""Replay: a lab device with `simulated: {replay: DIR}` served from `harness record`'s output.
`harness devices --json` on the replayed simulated gNodeB equals the live one for what was
recorded; the same .snmprec served by snmpsim (a simulator no one here wrote) gives the same
facts as our replay; a malformed recording is exit 2 with file:line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.base.snmprec import load_snmprec
from tests.conftest import free_port
from tests.input_files import ROOT
from tests.snmpsim_daemon import running_snmpsim
from tests.test_record import record

pytestmark = [pytest.mark.interop, pytest.mark.e2e]

REPLAY_LAB = """\
name: replay-lab
allow_inline_secrets: true
defaults:
  ssh: {{user: admin}}
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    simulated: {{replay: rec}}
    snmp: {{version: 2c, community: replay-community}}
    ssh: {{port: {ssh_port}, password: replay-password-1}}
{extra}"""

SNMPSIM_DEVICE = """\
  gnb2:
    role: gnodeb
    profile: sim-gnb
    snmp: {{version: 2c, community: gnb1, port: {snmpsim_port}}}
    ssh: {{port: {ssh_port}, password: replay-password-1, host_key: ignore}}
"""


def devices_json(lab: Path) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run([sys.executable, "-m", "harness", "devices", "--lab", str(lab),
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def _row(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in report["devices"] if r["name"] == name)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The simulated gNodeB recorded, and its live `harness devices --json` row."""
    tmp = tmp_path_factory.mktemp("record")
    done = record(tmp, "gnb1", tmp / "rec")
    assert done.returncode == 0, done.stderr
    code, live, err = devices_json(tmp / "lab.yaml")
    assert code == 0, err
    return tmp / "rec", _row(live, "gnb1")


def test_replayed_gnodeb_shows_the_live_facts(recording: tuple[Path, dict[str, Any]],
                                              tmp_path: Path) -> None:
    rec, live = recording
    (tmp_path / "rec").symlink_to(rec)
    lab = tmp_path / "lab.yaml"
    lab.write_text(REPLAY_LAB.format(ssh_port=free_port(), extra=""), encoding="utf-8")
    code, report, err = devices_json(lab)
    assert code == 0, err
    replayed = _row(report, "gnb1")
    assert replayed["reachable"] and replayed["error"] is None, replayed
    assert replayed["transports"]["snmp"]["ok"] and replayed["transports"]["ssh"]["ok"]
    for fact in ("description", "vendor", "model", "serial", "firmware"):
        assert replayed["facts"][fact] == live["facts"][fact], fact
    uptime = {".".join(map(str, r.oid)): r.value
              for r in load_snmprec(rec / "gnb1.snmprec")}["1.3.6.1.2.1.1.3.0"]
    assert replayed["facts"]["uptime_s"] == pytest.approx(int(uptime) / 100)  # as recorded


def test_snmpsim_and_our_replay_give_the_same_devices_json(
        recording: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    rec, _live = recording
    (tmp_path / "rec").symlink_to(rec)
    ssh_port = free_port()
    with running_snmpsim(rec, tmp_path, "gnb1") as snmpsim_port:
        extra = SNMPSIM_DEVICE.format(snmpsim_port=snmpsim_port, ssh_port=ssh_port)
        lab = tmp_path / "lab.yaml"
        lab.write_text(REPLAY_LAB.format(ssh_port=ssh_port, extra=extra), encoding="utf-8")
        code, report, err = devices_json(lab)
    assert code == 0, err
    ours, theirs = _row(report, "gnb1"), _row(report, "gnb2")
    assert ours["facts"] == theirs["facts"]
    assert ours["facts"]["model"] == "SimGNB-1"
    assert {k: v["ok"] for k, v in ours["transports"].items()} == \
        {k: v["ok"] for k, v in theirs["transports"].items()} == {"snmp": True, "ssh": True}


@pytest.mark.parametrize(("file", "text", "line"), [
    ("gnb1.snmprec", "1.3.6.1.2.1.1.1.0|4|ok\n1.3.6.1.2.1.1.3.0|67|not-ticks\n", 2),
    ("cli/01-show-alarms.txt", "command: show alarms\nexit: x\n---\n", 2),
])
def test_a_malformed_recording_is_exit_2_with_file_and_line(tmp_path: Path, file: str,
                                                            text: str, line: int) -> None:
    rec = tmp_path / "rec"
    (rec / "cli").mkdir(parents=True)
    (rec / "gnb1.snmprec").write_text("1.3.6.1.2.1.1.1.0|4|ok\n", encoding="utf-8")
    (rec / file).write_text(text, encoding="utf-8")
    lab = tmp_path / "lab.yaml"
    lab.write_text(REPLAY_LAB.format(ssh_port=free_port(), extra=""), encoding="utf-8")
    code, _report, err = devices_json(lab)
    assert code == 2, err
    assert f"{rec / file}:{line}:" in err, err
    validate = subprocess.run([sys.executable, "-m", "harness", "validate", str(lab)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    assert validate.returncode == 2  # found statically, without serving anything
    assert f"{rec / file}:{line}:" in validate.stdout + validate.stderr


def test_a_missing_recording_folder_is_a_lab_error(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yaml"
    lab.write_text(REPLAY_LAB.format(ssh_port=free_port(), extra=""), encoding="utf-8")
    code, _report, err = devices_json(lab)
    assert code == 2 and "lab.yaml:" in err and "no recording folder" in err, err
