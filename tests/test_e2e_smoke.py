"""End to end on the simulated lab: real iperf3, real SNMP over UDP, real SSH."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.base.nr_peak import Carrier, tdd_share
from harness.base.summary import WrittenSummary, parse_summary
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def run_harness(*args: str, cwd: Path = ROOT,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m harness ARGS…`. A `run` writes no report.pdf (2-5 s a run) unless the test
    says `--pdf`: the tests that read the PDF ask for it (tests/test_report_pdf.py)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if args[:1] == ("run",) and "--pdf" not in args and "--no-pdf" not in args:
        args = (*args, "--no-pdf")
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def capacity_mbps(bandwidth: int, direction: str = "dl") -> float:
    layers, modulation = (4, "256qam") if direction == "dl" else (1, "64qam")
    peak = Carrier(bandwidth, 30, layers, modulation, direction).peak_mbps()
    return peak * tdd_share("DDDSU", "10:2:2", direction)


def load_run(stdout: str) -> tuple[Path, dict[str, Any]]:
    run_dir = Path(stdout.strip().splitlines()[-1])
    return run_dir, json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def smoke_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    require_tool("iperf3")
    out = tmp_path_factory.mktemp("reports")
    junit = out / "ci-junit.xml"
    proc = run_harness("run", "scenarios/smoke.yaml", "--lab", "lab.yaml", "--out", str(out),
                       "--junit", str(junit))
    return proc, junit


def test_smoke_exits_0_and_summary_matches_contract(smoke_run: Any) -> None:
    proc, _ = smoke_run
    assert proc.returncode == 0, proc.stderr
    run_dir, summary = load_run(proc.stdout)
    parse_summary(summary, model=WrittenSummary)
    assert summary["verdict"] == "PASS"
    assert summary["scenario"]["name"] == "smoke"
    gnb = next(d for d in summary["devices"] if d["name"] == "gnb1")
    assert gnb["vendor"] == "ran-harness simulator" and gnb["serial"] == "SIM-0001"
    assert gnb["firmware"] == "1.0.0"
    for name in ("report.html", "junit.xml", "samples.sqlite"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "raw").glob("*.iperf3.json"))


def test_smoke_throughput_matches_cell_capacity(smoke_run: Any) -> None:
    proc, _ = smoke_run
    _, summary = load_run(proc.stdout)
    trial = summary["trials"][0]
    mean = trial["metrics"]["throughput.mean"]
    assert mean["unit"] == "Mbit/s"
    assert mean["value"] == pytest.approx(capacity_mbps(100), rel=0.10)
    assert [c["expr"] for c in trial["criteria"]] == ["throughput.mean >= 100 Mbit/s",
                                                      "throughput.mean >= 0.6 * peak(gnb1)"]
    assert all(c["verdict"] == "PASS" for c in trial["criteria"])
    assert trial["n"]["throughput.mean"] >= 10  # min_samples: enough for an interval
    assert "throughput.mean" in trial["ci"]
    peak_criterion = next(c for c in trial["criteria"] if "peak(gnb1)" in c["expr"])
    assert peak_criterion["threshold"]["value"] == pytest.approx(0.6 * capacity_mbps(100), rel=1e-3)


def test_smoke_snmp_byte_counter_agrees_with_iperf3(smoke_run: Any) -> None:
    proc, _ = smoke_run
    _, summary = load_run(proc.stdout)
    metrics = summary["trials"][0]["metrics"]
    iperf3_mbit = metrics["throughput.bytes"]["value"] * 8e-6
    counted = metrics["gnb1.DRB.PdcpSduVolumeDL.delta"]
    assert counted["unit"] == "Mbit"
    assert counted["value"] == pytest.approx(iperf3_mbit, rel=0.05)
    # the simulated lab's headroom monitor watched the trial: its relay lost nothing of its own
    assert metrics["simlab.relay_lost"] == {"value": 0.0, "unit": ""}


def test_smoke_samples_stored(smoke_run: Any) -> None:
    proc, _ = smoke_run
    run_dir, _ = load_run(proc.stdout)
    db = sqlite3.connect(run_dir / "samples.sqlite")
    counts = dict(db.execute("SELECT measurement, COUNT(*) FROM samples GROUP BY measurement"))
    assert counts["throughput"] >= 3
    assert counts["kpi"] >= 4 * 3  # 4 KPIs, polled at least 3 times
    tags = json.loads(db.execute("SELECT tags FROM samples WHERE measurement='kpi'").fetchone()[0])
    assert tags["device"] == "gnb1" and tags["trial"] == "throughput-dl-tcp"


def test_smoke_junit_written_where_asked(smoke_run: Any) -> None:
    _, junit = smoke_run
    text = junit.read_text(encoding="utf-8")
    # a testcase per criterion (two) and per built-in acceptance (the UE/gNodeB cross-check)
    assert 'tests="3"' in text and 'failures="0"' in text and 'errors="0"' in text
    assert "throughput-dl-tcp #1: acceptance: |crosscheck.deviation|" in text


def test_setup_changes_bandwidth_over_ssh(tmp_path: Path) -> None:
    require_tool("iperf3")
    scenario = tmp_path / "bw20.yaml"
    scenario.write_text("""\
name: bw20
title: {vi: "Băng thông 20 MHz", en: "20 MHz cell"}
defaults: {duration: 3s, repetitions: 1, min_samples: 1}
setup:
  - {device: gnb1, action: set_cell, cell: 1, params: {bandwidth_mhz: 20}}
trials:
  - id: "throughput-{direction}"
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    direction: "{direction}"
    streams: 2
    monitor: {gnb1: [DRB.UEThpDl]}
    # 3 one-second samples give a mean no interval (INCONCLUSIVE); the observed maximum is exact
    # (and min_samples: 1 says three samples are enough for it)
    criteria: ["throughput.max >= 0.9 * peak(gnb1)"]
matrix: {direction: [dl, ul]}
""", encoding="utf-8")
    proc = run_harness("run", str(scenario), "--lab", "lab.yaml", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    _, summary = load_run(proc.stdout)
    by_id = {t["id"]: t for t in summary["trials"]}
    assert set(by_id) == {"throughput-dl", "throughput-ul"}
    for direction in ("dl", "ul"):
        mean = by_id[f"throughput-{direction}"]["metrics"]["throughput.mean"]["value"]
        assert mean == pytest.approx(capacity_mbps(20, direction), rel=0.10), direction
    assert summary["restore_errors"] == []
    assert "bandwidth_mhz" in proc.stderr  # the setup step and its restore are shown
