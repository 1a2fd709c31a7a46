"""`harness validate` checks what the profiles of a lab and a scenario must give, before any
device is touched: exit 2 with FILE:LINE:COL (each of these validated with exit 0 before)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from harness.cli import cli
from tests.input_files import GOOD_LAB, GOOD_SCENARIO, line_of, write_input

# A profile as docs/writing-a-profile.md used to teach it: facts and KPIs, no cell parameters.
GUIDE_PROFILE = """\
name: acme-ag5000
role: gnodeb
facts:
  description: {oid: 1.3.6.1.2.1.1.1.0}
  uptime: {oid: 1.3.6.1.2.1.1.3.0}
kpis:
  DRB.UEThpDl: {oid: "1.3.6.1.4.1.32473.1.3.1.3.{cell}", type: gauge, unit: kbit/s}
  DRB.PdcpSduVolumeDL: {oid: "1.3.6.1.4.1.32473.1.3.1.1.{cell}", type: counter64, unit: Mbit}
  RRU.PrbUsedDl: {oid: "1.3.6.1.4.1.32473.1.3.1.5.{cell}", type: gauge, unit: PRB}
  RRU.PrbTotDl: {oid: "1.3.6.1.4.1.32473.1.3.1.7.{cell}", type: gauge, unit: "%"}
"""


def _lab(folder: Path, profile: str = "acme-ag5000") -> Path:
    text = GOOD_LAB.replace("name: sim-lab\n", "name: sim-lab\nprofiles: profiles\n")
    text = text.replace("profile: sim-gnb", f"profile: {profile}")
    (folder / "profiles").mkdir(exist_ok=True)
    return write_input(folder, "lab.yaml", text)


def _validate(*files: Path) -> Result:
    return CliRunner().invoke(cli, ["validate", *map(str, files)])


def test_peak_on_a_profile_without_cell_parameters_is_a_positioned_error(
        tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    write_input(tmp_path / "profiles", "acme-ag5000.yaml", GUIDE_PROFILE)
    scenario = write_input(tmp_path, "smoke.yaml", GOOD_SCENARIO)
    result = _validate(lab, scenario)
    assert result.exit_code == 2, result.output
    line = line_of(GOOD_SCENARIO, "peak(gnb1)")
    assert f"smoke.yaml:{line}:" in result.output
    assert "layers_dl" in result.output and "cell_params" in result.output


def test_an_unknown_profile_is_an_error_at_the_labs_line(tmp_path: Path) -> None:
    lab = _lab(tmp_path, profile="acme-nope")
    result = _validate(lab)
    assert result.exit_code == 2, result.output
    line = line_of(lab.read_text(encoding="utf-8"), "acme-nope")
    assert f"lab.yaml:{line}:" in result.output and "acme-nope" in result.output


def test_a_profile_schema_error_points_into_the_profile(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    bad = GUIDE_PROFILE.replace("type: gauge, unit: PRB", "type: gauge, unit: PRB, colour: 1")
    write_input(tmp_path / "profiles", "acme-ag5000.yaml", bad)
    result = _validate(lab)
    assert result.exit_code == 2, result.output
    assert f"acme-ag5000.yaml:{line_of(bad, 'colour')}:" in result.output


def test_a_monitored_kpi_the_profile_lacks_is_a_positioned_error(tmp_path: Path) -> None:
    lab = _lab(tmp_path, profile="sim-gnb")
    text = GOOD_SCENARIO.replace("RRU.PrbTotDl]", "RRU.PrbTotDl, DRB.Nonsense]")
    scenario = write_input(tmp_path, "smoke.yaml", text)
    result = _validate(lab, scenario)
    assert result.exit_code == 2, result.output
    assert f"smoke.yaml:{line_of(text, 'DRB.Nonsense')}:" in result.output
    assert "no KPI 'DRB.Nonsense'" in result.output


def test_set_cell_on_a_profile_without_the_action_is_a_positioned_error(
        tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    write_input(tmp_path / "profiles", "acme-ag5000.yaml", GUIDE_PROFILE)
    text = GOOD_SCENARIO.replace(
        '      - "throughput.mean >= 0.6 * peak(gnb1)"\n', "").replace(
        "trials:\n", "setup:\n  - {device: gnb1, action: set_cell, cell: 1, "
        "params: {bandwidth_mhz: 40}}\ntrials:\n")
    scenario = write_input(tmp_path, "smoke.yaml", text)
    result = _validate(lab, scenario)
    assert result.exit_code == 2, result.output
    assert f"smoke.yaml:{line_of(text, 'action: set_cell')}:" in result.output
    assert "add actions.set_cell" in result.output


def test_a_mib_name_no_mib_defines_is_an_error_at_its_line(tmp_path: Path) -> None:
    text = GUIDE_PROFILE.replace("{oid: 1.3.6.1.2.1.1.3.0}", "{oid: ACME-NOPE-MIB::acmeUptime.0}")
    profile = write_input(tmp_path, "acme-ag5000.yaml", text)
    result = _validate(profile)
    assert result.exit_code == 2, result.output
    assert f"acme-ag5000.yaml:{line_of(text, 'ACME-NOPE-MIB')}:" in result.output
    assert "ACME-NOPE-MIB not found" in result.output


def test_a_set_cell_value_the_write_map_lacks_is_a_positioned_error(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    profile = GUIDE_PROFILE + """\
cell_params:
  bandwidth_mhz: {oid: "1.3.6.1.4.1.32473.1.2.1.2.{cell}", map: {1: 20, 2: 40, 3: 100}}
actions:
  set_cell:
    commands: {bandwidth_mhz: "set cell {cell} bandwidth {value}"}
"""
    write_input(tmp_path / "profiles", "acme-ag5000.yaml", profile)
    text = GOOD_SCENARIO.replace(
        '      - "throughput.mean >= 0.6 * peak(gnb1)"\n', "").replace(
        "trials:\n", "setup:\n  - device: gnb1\n    action: set_cell\n    cell: 1\n"
        "    params: {bandwidth_mhz: 30}\ntrials:\n")
    scenario = write_input(tmp_path, "smoke.yaml", text)
    result = _validate(lab, scenario)
    assert result.exit_code == 2, result.output
    assert f"smoke.yaml:{line_of(text, 'bandwidth_mhz: 30')}:" in result.output
    assert "bandwidth_mhz 30 has no device value" in result.output
    ok = write_input(tmp_path, "ok.yaml", text.replace("bandwidth_mhz: 30", "bandwidth_mhz: 40"))
    assert _validate(lab, ok).exit_code == 0


def test_a_kpi_from_pm_files_counts_as_in_the_profile(tmp_path: Path) -> None:
    """A monitored KPI the profile reads from PM files is known to validate (the check looked
    at the SNMP `kpis:` only and refused it)."""
    import yaml

    from drivers.profile import profile_path

    data = yaml.safe_load(profile_path("sim-gnb").read_text(encoding="utf-8"))
    data["name"] = "acme-ag5000"
    data["pm_files"] = {"directory": "/pm", "kpis": {
        "PM.PdcpSduVolumeDL": {"counter": "DRB.PdcpSduVolumeDL", "unit": "Mbit",
                               "scale": 8.0e-6}}}
    lab = _lab(tmp_path)
    write_input(tmp_path / "profiles", "acme-ag5000.yaml", yaml.safe_dump(data))
    text = GOOD_SCENARIO.replace("RRU.PrbTotDl]", "RRU.PrbTotDl, PM.PdcpSduVolumeDL]")
    assert "PM.PdcpSduVolumeDL" in text
    result = _validate(lab, write_input(tmp_path, "smoke.yaml", text))
    assert result.exit_code == 0, result.output
