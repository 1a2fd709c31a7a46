"""`harness runs | show | compare | export | push`, and `harness run --influx-url/--baseline`
end to end on the simulated lab with a real VictoriaMetrics."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.store.sqlite import SqliteStore
from tests.conftest import require_tool
from tests.test_store import make_run
from tests.victoria import VictoriaMetrics, expected_points

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    reports = tmp_path / "reports"
    make_run(reports, "20261128T100000Z-smoke-aaaa", means=[500, 505, 495],
             started="2026-11-28T10:00:00.000Z")
    make_run(reports, "20261128T110000Z-smoke-bbbb", means=[400, 405, 395], firmware="2.0.0",
             verdict="FAIL", started="2026-11-28T11:00:00.000Z")
    make_run(reports, "20261128T120000Z-smoke-cccc", means=[510, 500, 505], firmware="2.0.1",
             started="2026-11-28T12:00:00.000Z")
    return reports


def test_runs_lists_runs_with_verdicts_newest_first(reports: Path) -> None:
    result = invoke("runs", "--out", str(reports))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["RUN", "SCENARIO", "VERDICT"]
    assert [line.split()[2] for line in lines[1:]] == ["PASS", "FAIL", "PASS"]
    assert "gnb1=2.0.1" in lines[1]
    listed = json.loads(invoke("runs", "--out", str(reports), "--verdict", "fail",
                               "--json").output)
    assert [r["run_id"][-4:] for r in listed] == ["bbbb"]
    assert invoke("runs", "--out", str(reports.parent / "empty")).output.startswith("no runs")


def test_show_prints_trials_metrics_and_criteria(reports: Path) -> None:
    result = invoke("show", "20261128T1100", "--out", str(reports))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("run 20261128T110000Z-smoke-bbbb: FAIL")
    assert "firmware 2.0.0" in result.output
    assert "FAIL         throughput-dl #3  throughput.mean 395 Mbit/s  criteria 0/1 pass" \
        in result.output
    assert "[FAIL] throughput.mean >= 100 Mbit/s: observed 395 Mbit/s" in result.output
    verbose = invoke("show", "20261128T1100", "--verbose", "--out", str(reports)).output
    assert "rtt.mean" in verbose and "12 ms" in verbose  # every metric with --verbose
    as_json = json.loads(invoke("show", "20261128T1100", "--json", "--out",
                                str(reports)).output)
    assert as_json["run_id"] == "20261128T110000Z-smoke-bbbb"
    missing = invoke("show", "nope", "--out", str(reports))
    assert missing.exit_code == 2 and "no run 'nope'" in missing.output


def test_show_latest_trial_filter_and_one_line_a_trial(tmp_path: Path) -> None:
    """Fails on the old code: no `latest`, no --trial, and every trial's every metric (the
    issue counted 380 lines for 10 trials)."""
    reports = tmp_path / "reports"
    make_run(reports, "20261128T100000Z-smoke-aaaa", started="2026-11-28T10:00:00.000Z")
    make_run(reports, "20261128T120000Z-smoke-cccc", means=[float(500 + i) for i in range(10)],
             started="2026-11-28T12:00:00.000Z")
    result = invoke("show", "latest", "--out", str(reports))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "run 20261128T120000Z-smoke-cccc: PASS"
    trial_lines = [line for line in lines if "throughput-dl #" in line]
    assert len(trial_lines) == 10 and len(lines) <= 10 + 8
    assert "rtt.mean" not in result.output  # details only on demand
    one = invoke("show", "latest", "--trial", "throughput-dl#4", "--out", str(reports))
    assert one.exit_code == 0, one.output
    assert "throughput-dl #4" in one.output and "throughput-dl #5" not in one.output
    assert "rtt.mean" in one.output and "13 ms" in one.output
    every = invoke("show", "latest", "--trial", "throughput-dl", "--json", "--out", str(reports))
    assert len(json.loads(every.output)["trials"]) == 10
    unknown = invoke("show", "latest", "--trial", "nope", "--out", str(reports))
    assert unknown.exit_code == 2 and "trials: throughput-dl" in unknown.output
    empty = invoke("show", "latest", "--out", str(tmp_path / "none"))
    assert empty.exit_code == 2 and "no runs in" in empty.output


def test_compare_marks_regressions_and_exits_1(reports: Path) -> None:
    result = invoke("compare", "20261128T1000", "20261128T1100", "--out", str(reports))
    assert result.exit_code == 1, result.output
    row = next(line for line in result.output.splitlines() if "throughput.mean" in line)
    assert "REGRESSION" in row and "-20.0%" in row and "(n=3)" in row
    assert "1 regression(s)" in result.output
    fine = invoke("compare", "20261128T1000", "20261128T1200", "--out", str(reports))
    assert fine.exit_code == 0 and "0 regression(s)" in fine.output
    # the last PASS on a firmware as the baseline
    by_fw = invoke("compare", "20261128T1100", "--baseline", "last-pass", "--firmware",
                   "1.0.0", "--json", "--out", str(reports))
    assert by_fw.exit_code == 1
    doc = json.loads(by_fw.output)
    assert doc["baseline_run"].endswith("aaaa") and doc["regressions"] == 1
    none = invoke("compare", "20261128T1100", "--baseline", "last-pass", "--firmware", "9",
                  "--out", str(reports))
    assert none.exit_code == 2 and "no PASS run" in none.output
    bad = invoke("compare", "20261128T1000", "20261128T1100", "--threshold", "lots",
                 "--out", str(reports))
    assert bad.exit_code == 2


def test_export_csv_and_json(reports: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    result = invoke("export", "20261128T1000", "--format", "csv", "-o", str(out),
                    "--out", str(reports))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["value"] for r in rows] == ["0.0", "1.0", "2.0"]
    assert rows[0]["device"] == "gnb1" and rows[0]["measurement"] == "kpi"
    doc = json.loads(invoke("export", "20261128T1000", "--format", "json", "--out",
                            str(reports)).output)
    assert doc["summary"]["verdict"] == "PASS" and len(doc["samples"]) == 3


def test_run_refuses_bad_results_options_before_touching_devices(tmp_path: Path) -> None:
    args = ["run", str(ROOT / "scenarios/smoke.yaml"), "--lab", str(ROOT / "lab.yaml"),
            "--out", str(tmp_path)]
    missing = invoke(*args, "--baseline", "no-such-run")
    assert missing.exit_code == 2 and "no run 'no-such-run'" in missing.output
    org_only = invoke(*args, "--influx-org", "lab")
    assert org_only.exit_code == 2 and "--influx-url" in org_only.output
    no_bucket = invoke(*args, "--influx-url", "http://127.0.0.1:1")
    assert no_bucket.exit_code == 2 and "bucket" in no_bucket.output
    threshold = invoke(*args, "--threshold", "-3%")
    assert threshold.exit_code == 2 and "threshold" in threshold.output
    assert not any(tmp_path.glob("*/summary.json"))


def test_push_of_a_run_without_a_sink_sends_its_stored_samples(reports: Path,
                                                              tmp_path: Path) -> None:
    server = VictoriaMetrics(tmp_path / "vm-data")
    server.start()
    try:
        args = ["push", "20261128T1200", "--out", str(reports), "--influx-url", server.url,
                "--influx-org", "lab", "--influx-bucket", "trials"]
        result = invoke(*args, env={"INFLUX_TOKEN": "t"})
        assert result.exit_code == 0, result.output
        assert "spool built from samples.sqlite: 3 point(s)" in result.output
        store = SqliteStore(reports / "20261128T120000Z-smoke-cccc" / "samples.sqlite")
        expected = expected_points(store.query())
        store.close()
        got = server.points(expect=len(expected))
        assert {k: v for k, v in got.items()} == {k: [v] for k, v in expected.items()}
    finally:
        server.stop()
    down = invoke("push", "20261128T1000", "--out", str(reports), "--influx-url", server.url,
                  "--influx-org", "lab", "--influx-bucket", "trials", "--timeout", "0.5")
    assert down.exit_code == 1 and "connection refused" in down.output


# --- end to end: a real run with InfluxDB and a baseline ------------------------------------
@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, Any]]:
    require_tool("iperf3")
    tmp = tmp_path_factory.mktemp("e2e-results")
    reports = tmp / "reports"
    # a baseline that the simulated 100 MHz cell cannot reach: the run must regress
    make_run(reports, "20261101T000000Z-smoke-base", means=[9000.0],
             started="2026-11-01T00:00:00.000Z", trial="throughput-dl-tcp")
    server = VictoriaMetrics(tmp / "vm-data")
    server.start()
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "INFLUX_TOKEN": "t"}
        proc = subprocess.run(
            [sys.executable, "-m", "harness", "run", "scenarios/smoke.yaml", "--out",
             str(reports), "--influx-url", server.url, "--influx-org", "lab",
             "--influx-bucket", "trials", "--baseline", "20261101T000000Z-smoke-base"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
        yield proc, reports, server
    finally:
        server.stop()


@pytest.mark.e2e
def test_run_with_influx_stores_the_same_points_in_both_stores(e2e: Any) -> None:
    proc, _, server = e2e
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    influx = summary["results"]["influxdb"]
    assert influx["pending"] == 0 and influx["refused"] is None, proc.stderr
    store = SqliteStore(run_dir / "samples.sqlite", create=False)
    samples = list(store.query())
    store.close()
    assert influx["sent"] == len(samples) == summary["results"]["samples"]
    measurements = {s.measurement for s in samples}
    assert {"throughput", "kpi", "verdict", "event"} <= measurements
    kpi = next(s for s in samples if s.measurement == "kpi")
    assert kpi.tags["firmware"] == "1.0.0" and kpi.tags["vendor"] == "ran-harness simulator"
    expected = expected_points(samples)
    got = server.points(expect=len(expected))
    assert set(got) == set(expected)  # the same series and timestamps, none missing or extra
    for key, values in got.items():
        # VictoriaMetrics stores floats as decimals (~12 significant digits)
        assert len(values) == 1 and math.isclose(values[0], expected[key], rel_tol=1e-9,
                                                 abs_tol=1e-12), key


@pytest.mark.e2e
def test_run_with_a_baseline_judges_a_regression(e2e: Any) -> None:
    # smoke has one repetition: a drop far beyond the noise floor is reported as a possible
    # regression, INCONCLUSIVE (exit 3): one value per side cannot separate change from noise
    proc, reports, _ = e2e
    assert proc.returncode == 3, proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdict"] == "INCONCLUSIVE"
    assert summary["trials"][0]["verdict"] == "PASS"  # the trial passed; the comparison did not
    baseline = summary["baseline"]
    assert baseline["run_id"] == "20261101T000000Z-smoke-base"
    assert baseline["verdict"] == "INCONCLUSIVE" and baseline["inconclusive"] >= 1
    assert baseline["trials"][0]["metrics"] == ["throughput.mean"]
    assert summary["verdict_reasons"][1]["reason"] == "regression"
    assert "possible regression against 20261101T000000Z-smoke-base" in proc.stderr
    listed = invoke("runs", "--out", str(reports), "--json")
    assert [r["verdict"] for r in json.loads(listed.output)] == ["INCONCLUSIVE", "PASS"]


def test_grafana_dashboard_queries_only_the_schema() -> None:
    import re

    from harness.base.sample import MEASUREMENTS, TAG_KEYS

    dashboard = json.loads((ROOT / "contrib/grafana/ran-harness.json").read_text("utf-8"))
    queries = [t["query"] for p in dashboard["panels"] for t in p["targets"]]
    queries += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    queries += [a["target"]["query"] for a in dashboard["annotations"]["list"]]
    assert len(queries) >= 10
    measurements = set()
    for query in queries:
        measurements |= set(re.findall(r'r\._measurement == "([^"]+)"', query))
        for tag in re.findall(r"\br\.([a-z_]+) (?:==|=~|!=)", query):
            assert tag in TAG_KEYS or tag.startswith("_"), (tag, query)
        for tag in re.findall(r'tag: "([a-z_]+)"', query):
            assert tag in TAG_KEYS
    assert measurements and measurements <= set(MEASUREMENTS)
    assert {p["id"] for p in dashboard["panels"]} == set(range(1, len(dashboard["panels"]) + 1))


def _every_command() -> list[tuple[str, ...]]:
    import click

    paths: list[tuple[str, ...]] = []
    for name, command in cli.commands.items():  # type: ignore[attr-defined]
        paths.append((name,))
        if isinstance(command, click.Group):
            paths += [(name, sub) for sub in command.commands]
    return paths


def test_every_command_lists_its_exit_codes_in_help() -> None:
    """Fails on the old code: validate, show, runs, push, export, devices, peak and the sim
    commands listed none."""
    missing = []
    for path in _every_command():
        result = invoke(*path, "--help")
        assert result.exit_code == 0, result.output
        if "Exit codes: 0" not in result.output or "2 " not in result.output:
            missing.append(" ".join(path))
    assert not missing, f"no exit codes in --help of: {', '.join(missing)}"
    assert {"run", "validate", "compare", "verify", "report", "show"} <= {
        p[0] for p in _every_command()}


def test_compare_of_different_scenarios_is_refused_and_says_how(tmp_path: Path) -> None:
    """Fails on the old code: it compared the two runs silently and exited 0."""
    reports = tmp_path / "reports"
    make_run(reports, "20261128T100000Z-smoke-aaaa", started="2026-11-28T10:00:00.000Z")
    make_run(reports, "20261128T110000Z-y1564-bbbb", scenario="y1564", trial="y1564-a",
             started="2026-11-28T11:00:00.000Z")
    make_run(reports, "20261128T120000Z-other-cccc", scenario="other",
             started="2026-11-28T12:00:00.000Z")
    refused = CliRunner().invoke(cli, ["compare", "20261128T1000", "20261128T1100", "--out",
                                       str(reports)])
    assert refused.exit_code == 2, refused.output
    err = refused.stderr
    assert "different scenarios: baseline 'smoke', candidate 'y1564'" in err
    assert "only in the baseline: throughput-dl" in err and "--any-scenario" in err
    assert "regression(s)" not in refused.stdout
    anyway = CliRunner().invoke(cli, ["compare", "20261128T1000", "20261128T1200",
                                      "--any-scenario", "--out", str(reports)])
    assert anyway.exit_code == 0, anyway.output  # the trial they share did not regress
    assert "warning: the runs are of different scenarios" in anyway.stderr
    assert "1 judged metric(s)" in anyway.stdout


def test_compare_warns_when_the_scenario_file_changed(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    make_run(reports, "20261128T100000Z-smoke-aaaa", started="2026-11-28T10:00:00.000Z")
    changed = make_run(reports, "20261128T110000Z-smoke-bbbb",
                       started="2026-11-28T11:00:00.000Z")
    summary = json.loads((changed / "summary.json").read_text(encoding="utf-8"))
    summary["scenario"]["sha256"] = "f" * 64
    (changed / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    result = CliRunner().invoke(cli, ["compare", "20261128T1000", "20261128T1100", "--out",
                                      str(reports)])
    assert result.exit_code == 0, result.output
    assert "scenario 'smoke' changed between the runs" in result.stderr
