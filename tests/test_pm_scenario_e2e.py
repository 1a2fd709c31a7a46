"""A scenario monitored and judged on a PM-file KPI, through `harness run`: the simulated
gNodeB (`harness sim up`) writes TS 32.435 files every second, the run (`--attach`) fetches
them over SFTP as a real device's, samples.sqlite holds one sample per file period whose
increase is the file's counter, and the verdict follows the criterion on the KPI's total: PASS
with a loose threshold, FAIL with an impossible one, INCONCLUSIVE (never PASS) when the device
marks every period suspect (the `pm-suspect` fault)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drivers.pm_files import parse_pm_file
from harness.simlab.lifecycle import flash_dir
from harness.store.sqlite import SqliteStore
from tests.conftest import free_port, require_tool
from tests.test_sim_attach import cli
from tests.test_sim_cli import LAB

ROOT = Path(__file__).resolve().parent.parent
PM_KPI = "PM.PdcpSduVolumeDL"
COUNTER = "DRB.PdcpSduVolumeDL"
SCALE = 8.0e-6  # bytes → Mbit
CELL1 = "ManagedElement=gnb1,GNBDUFunction=1,NRCellDU=1"

PM_SECTION = f"""
pm_files:
  directory: /pm
  pattern: "A*_gnb1.xml*"
  kpis:
    {PM_KPI}: {{counter: {COUNTER}, unit: Mbit, scale: {SCALE}}}
"""


def _trial(trial_id: str, criterion: str) -> str:
    return f"""\
  - id: {trial_id}
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    protocol: tcp
    monitor: {{gnb1: [{PM_KPI}]}}
    criteria: ["{criterion}"]
"""


HEAD = """\
name: pm-kpi
title: {vi: "KPI từ tệp PM", en: "KPI from PM files"}
defaults: {duration: 4s, omit: 0s, repetitions: 1, kpi_interval: 0.5s}
trials:
"""
LOOSE = _trial("loose", f"gnb1.{PM_KPI}.delta >= 0.01 Mbit")
IMPOSSIBLE = _trial("impossible", f"gnb1.{PM_KPI}.delta >= 1000000 Mbit")


def _files(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    profile = (ROOT / "drivers" / "profiles" / "sim-gnb.yaml").read_text(encoding="utf-8")
    assert "\nname: sim-gnb\n" in profile
    (tmp_path / "profiles" / "sim-gnb-pm.yaml").write_text(
        profile.replace("\nname: sim-gnb\n", "\nname: sim-gnb-pm\n") + PM_SECTION,
        encoding="utf-8")
    lab = (LAB.replace("DN_PORT", str(free_port()))
           .replace("name: cli-sim-lab\n", "name: cli-sim-lab\nprofiles: profiles\n")
           .replace("profile: sim-gnb\n", "profile: sim-gnb-pm\n")
           .replace("simulated: {cells: [{id: 1, bandwidth_mhz: 20, plmns: [\"452-02\"]}]}",
                    "simulated: {cells: [{id: 1, bandwidth_mhz: 20, plmns: [\"452-02\"]}],"
                    " pm_files: {granularity: 1s}}"))
    assert "pm_files: {granularity: 1s}" in lab and "sim-gnb-pm" in lab
    (tmp_path / "lab.yaml").write_text(lab, encoding="utf-8")
    (tmp_path / "both.yaml").write_text(HEAD + LOOSE + IMPOSSIBLE, encoding="utf-8")
    (tmp_path / "loose.yaml").write_text(HEAD + LOOSE, encoding="utf-8")


def _run(tmp_path: Path, scenario: str) -> tuple[int, Path, dict[str, Any]]:
    proc = cli(tmp_path, "run", scenario, "--lab", "lab.yaml", "--attach", "--no-pdf",
               "--progress", "lines")
    assert proc.returncode in (0, 1, 3), proc.stdout + proc.stderr
    run_dir = tmp_path / proc.stdout.strip().splitlines()[-1]
    return proc.returncode, run_dir, json.loads((run_dir / "summary.json").read_text())


def _period_files(tmp_path: Path) -> dict[int, tuple[int, bool]]:
    """period end (ns) → (the file's DRB.PdcpSduVolumeDL of cell 1, suspect)."""
    out: dict[int, tuple[int, bool]] = {}
    for path in (flash_dir(tmp_path / ".harness" / "sim", "gnb1") / "pm").glob("A*.xml"):
        for v in parse_pm_file(path).values:
            if v.counter == COUNTER and v.ldn == CELL1:
                assert isinstance(v.value, int)
                out[round(v.end.timestamp() * 1e9)] = (v.value, v.suspect)
    return out


def _pm_samples(run_dir: Path, trial: str) -> list[tuple[int, dict[str, Any]]]:
    store = SqliteStore(run_dir / "samples.sqlite", create=False, read_only=True)
    try:
        return [(s.time_ns, dict(s.fields)) for s in
                store.query(measurement="kpi", tags={"kpi": PM_KPI, "trial": trial})]
    finally:
        store.close()


def _trials(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in summary["trials"]}


@pytest.mark.e2e
def test_a_scenario_judged_on_a_pm_file_kpi_through_harness_run(tmp_path: Path) -> None:
    require_tool("iperf3")
    _files(tmp_path)
    up = cli(tmp_path, "sim", "up", "--lab", "lab.yaml")
    assert up.returncode == 0, up.stderr
    try:
        code, run_dir, summary = _run(tmp_path, "both.yaml")
        trials = _trials(summary)
        assert code == 1, summary  # one FAIL
        assert trials["loose"]["verdict"] == "PASS", trials["loose"]
        assert trials["impossible"]["verdict"] == "FAIL", trials["impossible"]
        files = _period_files(tmp_path)
        for trial in ("loose", "impossible"):
            samples = _pm_samples(run_dir, trial)
            periods = [(t, f) for t, f in samples if "delta" in f]
            assert len(periods) >= 2, samples  # a 4 s trial sees several 1 s periods
            for t, fields in periods:  # each sample is its file's period and counter
                assert t in files, (t, sorted(files))
                assert fields["delta"] == pytest.approx(files[t][0] * SCALE)
                assert not files[t][1] and "suspect" not in fields
            total = trials[trial]["metrics"][f"gnb1.{PM_KPI}.delta"]["value"]
            assert total == pytest.approx(sum(files[t][0] for t, _ in periods) * SCALE)
        assert trials["loose"]["metrics"][f"gnb1.{PM_KPI}.delta"]["value"] > 1  # Mbit moved

        fault = cli(tmp_path, "sim", "fault", "gnb1", "pm-suspect")
        assert fault.returncode == 0, fault.stderr
        code, run_dir, summary = _run(tmp_path, "loose.yaml")
        loose = _trials(summary)["loose"]
        assert (code, summary["verdict"], loose["verdict"]) == (3, "INCONCLUSIVE",
                                                                "INCONCLUSIVE"), loose
        detail = loose["criteria"][0]["detail"]
        assert "marked suspect by the device" in detail, detail
        assert f"gnb1.{PM_KPI}.delta" in loose["withheld"]
        assert f"gnb1.{PM_KPI}.delta" not in loose["metrics"]
        files = _period_files(tmp_path)
        flagged = [(t, f) for t, f in _pm_samples(run_dir, "loose") if "delta" in f]
        assert flagged and all(f.get("suspect") == 1 and files[t][1] for t, f in flagged)
    finally:
        down = cli(tmp_path, "sim", "down")
        assert down.returncode == 0, down.stderr
