"""KPIs from PM files end to end: the simulated gNodeB writes TS 32.435 files into its SFTP
area, the gNodeB driver (profile `pm_files:`) fetches them over SFTP and the KPI poller turns
them into per-period counter samples that match the SNMP counter over the same periods."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from drivers.gnb import Gnb
from drivers.profile import Profile, load_profile
from drivers.transport.snmp import SnmpTransport
from drivers.transport.snmp_target import SnmpTarget
from drivers.transport.ssh import SshTransport
from harness.base.errors import CommandFailed
from harness.base.sample import Sample
from harness.base.secrets import Secret
from harness.monitors.kpi import KpiPoller
from harness.simlab.lifecycle import flash_dir
from tests.simlab_mgmt_tools import CREDS, LOCAL, gnb_spec, running
from tests.test_pm_files import HOSTILE
from tests.test_simlab import ssh_target

GRANULARITY = 3.0
PM_KPI = "PM.PdcpSduVolumeDL"


def _profile() -> Profile:
    data = load_profile("sim-gnb").model_dump()
    data["pm_files"] = {"directory": "/pm", "pattern": "A*_gnb1.xml*",
                        "kpis": {PM_KPI: {"counter": "DRB.PdcpSduVolumeDL", "unit": "Mbit",
                                          "scale": 8.0e-6}}}
    return Profile.model_validate(data)


def _driver(tmp: Path, snmp_port: int, ssh_port: int, host_key: str) -> Gnb:
    snmp = SnmpTransport(SnmpTarget(LOCAL, snmp_port, "2c", community=Secret(CREDS.community)),
                         device="gnb1")
    ssh = SshTransport(ssh_target(tmp, ssh_port, host_key), device="gnb1")
    return Gnb("gnb1", _profile(), snmp=snmp, ssh=ssh)


async def _sleep_until_phase(phase: float) -> None:
    """Sleep until `phase` seconds into the next granularity period."""
    now = time.time()
    target = (now // GRANULARITY) * GRANULARITY + phase
    await asyncio.sleep((target if target > now else target + GRANULARITY) - now)


def _at(series: list[tuple[int, int | float]], t: int) -> int:
    """The counter's last SNMP reading at or before `t` (the first one when `t` is earlier:
    the test counts no byte before its first period)."""
    return int([raw for when, raw in series if when <= t][-1] if series[0][0] <= t
               else series[0][1])


@pytest.mark.e2e
def test_pm_file_kpi_samples_match_the_snmp_counter_per_period(tmp_path: Path) -> None:
    spec = dataclasses.replace(gnb_spec("gnb1"), pm_granularity_s=GRANULARITY)
    sent = [3_000_000, 0, 1_234_567]

    async def scenario() -> tuple[KpiPoller, list[Sample]]:
        samples: list[Sample] = []
        async with running(tmp_path, spec) as lab:
            gnb = _driver(tmp_path, spec.snmp_port, spec.ssh_port, lab.ssh.host_key_line)
            poller = KpiPoller("gnb1", gnb, [PM_KPI, "DRB.PdcpSduVolumeDL"], [1], 0.5, {},
                               samples.extend)
            task = asyncio.create_task(poller.run())
            lane = lab.gnb.cells[1].lane(None, "dl")
            for count in sent:  # bytes only mid-period: period ends see a still counter
                await _sleep_until_phase(GRANULARITY / 2)
                lane.count(count)
            await _sleep_until_phase(GRANULARITY / 2)
            await _sleep_until_phase(GRANULARITY / 2)
            poller.stop()
            await task
            await gnb.close()
        return poller, samples

    poller, samples = asyncio.run(scenario())
    assert poller.error is None, poller.error
    pm = poller.series[(PM_KPI, 1)]
    snmp = poller.series[("DRB.PdcpSduVolumeDL", 1)].raw
    assert snmp[0][1] == 0 and pm.raw[0][1] == 0  # both start from nothing counted
    step = round(GRANULARITY * 1e9)
    periods = [(t1 - step, t1, int(r1) - int(r0))
               for (_, r0), (t1, r1) in zip(pm.raw, pm.raw[1:], strict=False)]
    assert len(periods) >= len(sent), periods
    for t0, t1, pm_delta in periods:  # each file period against SNMP over the same period
        assert pm_delta == _at(snmp, t1) - _at(snmp, t0), (t0, t1, periods, snmp)
    assert [d for _, _, d in periods if d] == [c for c in sent if c]
    assert pm.total() == pytest.approx(sum(sent) * 8.0e-6)
    stamps = [s.time_ns for s in samples if s.tags.get("kpi") == PM_KPI]
    assert all(t % round(GRANULARITY * 1e9) == 0 for t in stamps[1:])  # at period ends


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["billion-laughs", "truncated"])
def test_a_hostile_pm_file_on_the_device_ends_polling_with_a_clear_error(
        tmp_path: Path, kind: str) -> None:
    spec = dataclasses.replace(gnb_spec("gnb1"), pm_granularity_s=3600.0)

    async def scenario() -> KpiPoller:
        async with running(tmp_path, spec) as lab:
            gnb = _driver(tmp_path, spec.snmp_port, spec.ssh_port, lab.ssh.host_key_line)
            poller = KpiPoller("gnb1", gnb, [PM_KPI], [1], 0.3, {}, lambda _s: None)
            task = asyncio.create_task(poller.run())
            await asyncio.sleep(0.6)
            bad = flash_dir(tmp_path, "gnb1") / "pm" / "A20261207.1000+0700-1001+0700_gnb1.xml"
            bad.parent.mkdir(parents=True, exist_ok=True)
            text = HOSTILE["billion-laughs"] if kind == "billion-laughs" else (
                HOSTILE["external-dtd"].split("\n", 2)[2][:300])
            bad.write_text(text)
            await asyncio.wait_for(task, timeout=10)
            await gnb.close()
        return poller

    poller = asyncio.run(scenario())
    assert isinstance(poller.error, CommandFailed)
    message = str(poller.error)
    assert "gnb1:/pm/A20261207.1000+0700-1001+0700_gnb1.xml:" in message
    assert ("has a DTD" if kind == "billion-laughs" else "not well-formed") in message


@pytest.mark.e2e
def test_pm_files_fetched_from_real_openssh_sftp(tmp_path: Path) -> None:
    """The same source against OpenSSH's internal-sftp: a vendor's own layout (gzip files,
    PLMN-level objects), old files left alone, new ones read in period order."""
    import gzip

    from drivers.pm_source import PmFileSource
    from drivers.profile_pm import PmFilesSpec
    from tests.daemons import running_sshd
    from tests.test_pm_files import GOOD

    pm_dir = tmp_path / "pm"
    pm_dir.mkdir()
    (pm_dir / "A20261207.0959+0700-1000+0700_gnb1.xml.gz").write_bytes(gzip.compress(b"old"))
    spec = PmFilesSpec.model_validate({
        "directory": str(pm_dir), "pattern": "A*_gnb1.xml.gz",
        "kpis": {"vol": {"counter": "DRB.PdcpSduVolumeDL", "plmn": "452-02"},
                 "thp": {"counter": "DRB.UEThpDl", "type": "gauge", "plmn": "452-02"}}})

    def later(text: str, minutes: int) -> str:
        return text.replace("10:01:00", f"10:{minutes:02d}:00").replace(">5<", f">{minutes}<")

    async def scenario(target: object) -> list[list[tuple[str, float, int | None]]]:
        async with SshTransport(target, device="gnb1") as ssh:  # type: ignore[arg-type]
            source = PmFileSource("gnb1", spec, ssh)
            polls = [await source.read(["vol", "thp"], [2])]
            for minutes in (3, 2):  # written out of order: read in period order
                name = f"A20261207.10{minutes - 1:02d}+0700-10{minutes:02d}+0700_gnb1.xml.gz"
                (pm_dir / name).write_bytes(gzip.compress(later(GOOD, minutes).encode()))
            polls.append(await source.read(["vol", "thp"], [2]))
            polls.append(await source.read(["vol", "thp"], [2]))
        return [[(r.name, r.raw, r.time_ns) for r in poll] for poll in polls]

    with running_sshd(tmp_path, extra="Subsystem sftp internal-sftp") as server:
        server.write_known_hosts()
        polls = asyncio.run(scenario(server.target()))
    from datetime import datetime

    end2, end3 = (round(datetime.fromisoformat(f"2026-12-07T10:0{m}:00+07:00").timestamp() * 1e9)
                  for m in (2, 3))
    assert polls[0] == [("vol", 0, None)]  # the old file is the past: a baseline, unread
    assert polls[1] == [("vol", 2, end2), ("thp", 2.5, end2), ("vol", 5, end3),
                        ("thp", 2.5, end3)]
    assert polls[2] == []
