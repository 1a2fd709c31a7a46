"""The simulated gNodeB's PM files (harness/simlab/pm_writer.py): TS 32.435 files whose
counter values add up to the very counters its SNMP agent serves."""

from __future__ import annotations

import re
from pathlib import Path

from drivers.pm_files import parse_pm_file
from harness.simlab.gnb import CellConfig, GnbIdentity, VirtualGnb
from harness.simlab.mib import snapshot
from harness.simlab.oids import PM_COLUMNS, SIM_PM_ENTRY
from harness.simlab.pm_writer import PmFileWriter, pm_file_name


def _snmp_dl_volume(gnb: VirtualGnb, cell: int) -> int:
    value = snapshot(gnb)[(*SIM_PM_ENTRY, PM_COLUMNS["DRB.PdcpSduVolumeDL"], cell)]
    assert value[0] == "Counter64"
    return int(value[1])  # type: ignore[call-overload]


def _file_values(path: Path, counter: str) -> dict[str, int | float | None]:
    return {v.ldn: v.value for v in parse_pm_file(path).values if v.counter == counter}


def test_period_files_add_up_to_the_snmp_counters(tmp_path: Path) -> None:
    gnb = VirtualGnb(GnbIdentity("gnb1"), [CellConfig(id=1, plmns=("452-02", "452-04")),
                                           CellConfig(id=2)])
    writer = PmFileWriter(gnb, tmp_path / "pm", 60.0)
    cell1 = gnb.cells[1]
    cell1.lane("452-04", "dl").count(1_000_000)
    cell1.lane("452-02", "dl").count(250_000)
    first = writer.tick(writer._next_end + 0.1)
    assert first is not None
    cell1.lane("452-04", "dl").count(40_000)
    assert writer.tick(writer._next_end - 0.5) is None  # the period has not ended yet
    second = writer.tick(writer._next_end + 0.1)
    assert second is not None and second != first
    one, two = (_file_values(p, "DRB.PdcpSduVolumeDL") for p in (first, second))
    c1 = "ManagedElement=gnb1,GNBDUFunction=1,NRCellDU=1"
    assert (one[c1], two[c1]) == (1_250_000, 40_000)
    assert one[c1] + two[c1] == _snmp_dl_volume(gnb, 1) == cell1.downlink.bytes  # type: ignore
    assert (one[f"{c1},PLMN=452-04"], two[f"{c1},PLMN=452-04"]) == (1_000_000, 40_000)
    assert one["ManagedElement=gnb1,GNBDUFunction=1,NRCellDU=2"] == 0
    parsed = [parse_pm_file(p) for p in (first, second)]
    assert [v.suspect for v in parsed[0].values][:1] == [True]  # the lab began mid-period
    assert not any(v.suspect for v in parsed[1].values)
    assert {v.granularity_s for v in parsed[1].values} == {60.0}
    assert re.fullmatch(r"A\d{8}\.\d{4}[+-]\d{4}-\d{4}[+-]\d{4}_gnb1\.xml", second.name)


def test_file_name_follows_ts_32_432() -> None:
    from datetime import datetime, timedelta, timezone

    tz = timezone(timedelta(hours=7))
    begin, end = datetime(2026, 12, 7, 10, 0, tzinfo=tz), datetime(2026, 12, 7, 10, 1, tzinfo=tz)
    assert pm_file_name(begin, end, "gnb1", 60) == "A20261207.1000+0700-1001+0700_gnb1.xml"
    assert (pm_file_name(begin, begin + timedelta(seconds=2), "gnb1", 2)
            == "A20261207.100000+0700-100002+0700_gnb1.xml")


LAB = """
name: pm-lab
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    simulated: {pm_files: {granularity: 1m}}
"""


def test_lab_pm_files_granularity_reaches_the_simulated_gnodeb(tmp_path: Path) -> None:
    from harness.base.loader import parse_yaml, validate_model
    from harness.config.lab import Lab
    from harness.engine.bench import Bench, sim_lab_spec
    from harness.simlab.spec import SimLabSpec

    data, index = parse_yaml(LAB, file="lab.yaml")
    lab = validate_model(data, index, Lab, file="lab.yaml")
    spec = sim_lab_spec(lab, tmp_path, {"gnb1": {}}, {"gnb1": {}}, Bench(lab=lab))
    assert spec.gnbs[0].pm_granularity_s == 60.0
    assert SimLabSpec.from_json(spec.to_json()).gnbs[0].pm_granularity_s == 60.0


def test_lab_refuses_a_pm_granularity_below_one_second() -> None:
    import pytest

    from harness.base.errors import ConfigError
    from harness.base.loader import parse_yaml, validate_model
    from harness.config.lab import Lab

    data, index = parse_yaml(LAB.replace("1m", "500ms"), file="lab.yaml")
    with pytest.raises(ConfigError, match=r"lab\.yaml:7.*pm_files.granularity"):
        validate_model(data, index, Lab, file="lab.yaml")
