"""`harness record` on the simulated gNodeB: the walk of what sim-gnb reads, in .snmprec form
that snmpsim (a simulator no one here wrote) loads and serves with the same values, and the
transcripts of its read commands; the time it takes is printed (and reported)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.profile import load_profile
from drivers.record import profile_commands, profile_subtrees
from drivers.transport.snmp import SnmpTarget, SnmpTransport
from harness.base.secrets import Secret
from harness.base.snmprec import load_snmprec
from harness.base.transcript import load_transcript
from tests.input_files import ROOT
from tests.runner_helpers import FAST_LAB
from tests.snmpsim_daemon import running_snmpsim

pytestmark = [pytest.mark.interop, pytest.mark.e2e]


def test_profile_subtrees_cover_every_oid_it_reads_once() -> None:
    profile = load_profile("sim-gnb")
    roots = profile_subtrees(profile)
    assert "1.3.6.1.2.1.1" in roots  # sysDescr/sysUpTime facts: in the system group
    assert "1.3.6.1.4.1.32473.1.2.1" in roots  # the cell table (cells_oid's parent)
    assert "1.3.6.1.4.1.32473.1.3.1.3" in roots  # DRB.UEThpDl's column, before {cell}
    assert "1.3.6.1.4.1.32473.1.2.1.2" not in roots  # inside the cell table already
    for kpi in profile.kpis.values():
        assert any(kpi.oid.startswith(root + ".") for root in roots), kpi.oid
    assert ("exec", "show alarms") in profile_commands(profile)
    assert all("{" not in command for _mode, command in profile_commands(profile))


def record(tmp: Path, device: str, out: Path) -> subprocess.CompletedProcess[str]:
    (tmp / "lab.yaml").write_text(FAST_LAB, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "harness", "record", device, "--lab", str(tmp / "lab.yaml"),
         "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_record_the_simulated_gnodeb_and_serve_it_with_snmpsim(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    done = record(tmp_path, "gnb1", out)
    assert done.returncode == 0, done.stderr
    print(done.stdout)  # "recorded gnb1 into …: N SNMP objects … in S s" (the figure)
    assert "recorded gnb1" in done.stdout and " s" in done.stdout
    manifest = json.loads((out / "recording.json").read_text())
    assert manifest["device"] == "gnb1" and manifest["profile"] == "sim-gnb"
    records = {".".join(map(str, r.oid)): r for r in load_snmprec(out / "gnb1.snmprec")}
    assert records["1.3.6.1.2.1.47.1.1.1.1.13.1"].value == b"SimGNB-1"  # model fact
    assert records["1.3.6.1.2.1.1.3.0"].tag == 67  # TimeTicks
    assert records["1.3.6.1.4.1.32473.1.3.1.1.1"].tag == 70  # a Counter64 PM counter
    assert records["1.3.6.1.4.1.32473.1.2.1.2.1"].value == 20  # cell 1 bandwidth (MHz)
    transcripts = [load_transcript(out / t["file"]) for t in manifest["transcripts"]]
    assert [t.command for t in transcripts] == ["show alarms"]

    async def read_back(port: int) -> dict[str, object]:
        snmp = SnmpTransport(SnmpTarget("127.0.0.1", port, "2c", Secret("gnb1")),
                             device="snmpsim")
        try:
            return {oid: (tag, value) for oid, tag, value in await snmp.walk_typed("1.3.6.1")}
        finally:
            await snmp.close()

    with running_snmpsim(out, tmp_path, "gnb1") as port:
        served = asyncio.run(read_back(port))
    assert len(served) == len(records)
    for oid, record_ in records.items():
        tag, value = served[oid]  # type: ignore[misc]
        assert tag == record_.tag, oid
        expected = record_.value
        if isinstance(expected, bytes):
            expected = expected.decode() if expected.isascii() else "0x" + expected.hex()
        assert value == expected, oid


def test_record_names_what_it_can_record(tmp_path: Path) -> None:
    done = record(tmp_path, "ue1", tmp_path / "rec")
    assert done.returncode == 2
    assert "no gNodeB or core named 'ue1'" in done.stderr and "gnb1, core1" in done.stderr
