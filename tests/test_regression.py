"""Regressions against a baseline: judged only on the criteria's (and `regression:`) metrics,
beyond a noise floor, by Welch's test over >= 2 repetitions, INCONCLUSIVE with one; a verdict
reason of its own in summary.json, JUnit and the exit code (issue 9, item 9)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.base.errors import ConfigError
from harness.base.loader import load_model
from harness.base.verdict import Verdict
from harness.cli import cli
from harness.config.lab import Lab
from harness.engine.inputs import load_inputs
from harness.report import write_junit
from harness.store.compare import compare
from harness.store.judged import criterion_directions
from harness.store.noise import family_of, floor_of
from harness.store.results import Baseline, ResultsOptions, RunResults

ROOT = Path(__file__).resolve().parent.parent

SMOKE_CRITERIA = [{"expr": "throughput.mean >= 100 Mbit/s"}, {"expr": "throughput.p5 >= 30 Mbit/s"},
                  {"expr": "throughput.mean >= 0.6 * peak(gnb1)"}]


def run_of(run_id: str, reps: list[dict[str, tuple[float, str]]], *, trial: str = "tcp-dl",
           criteria: list[dict[str, Any]] | None = None, verdict: str = "PASS",
           regression: dict[str, Any] | None = None) -> dict[str, Any]:
    """A summary.json with one trial, one entry per repetition."""
    summary: dict[str, Any] = {
        "run_id": run_id, "verdict": verdict, "scenario": {"name": "smoke"},
        "trials": [{"id": trial, "repetition": i + 1, "verdict": verdict,
                    "metrics": {k: {"value": v, "unit": u} for k, (v, u) in rep.items()},
                    "criteria": SMOKE_CRITERIA if criteria is None else criteria}
                   for i, rep in enumerate(reps)]}
    if regression is not None:
        summary["regression"] = regression
    return summary


def smoke_rep(mean: float, p5: float, rtt_baseline: float = 3.3,
              retransmits: float = 0.0) -> dict[str, tuple[float, str]]:
    return {"throughput.mean": (mean, "Mbit/s"), "throughput.p5": (p5, "Mbit/s"),
            "tcp.rtt.baseline": (rtt_baseline, "ms"), "tcp.rtt.mean": (rtt_baseline + 0.5, "ms"),
            "throughput.retransmits": (retransmits, "")}


# --- which metrics are judged --------------------------------------------------------------
def test_an_unjudged_metric_moving_is_not_a_regression() -> None:
    # the smoke runs: tcp.rtt.baseline +16 %, read by no criterion (fails on old code)
    base = run_of("A", [smoke_rep(1736, 1735, rtt_baseline=3.0)])
    cand = run_of("B", [smoke_rep(1730, 1729, rtt_baseline=3.48)])
    result = compare(base, cand)
    assert result.regressions == []
    assert result.verdict is Verdict.PASS
    judged = {d.metric for d in result.diffs if d.judged}
    assert judged == {"throughput.mean", "throughput.p5"}
    rtt = next(d for d in result.diffs if d.metric == "tcp.rtt.baseline")
    assert rtt.status == "info" and rtt.verdict is None


def test_udp_jitter_and_retransmits_are_judged_only_when_named() -> None:
    # the quick commercial trial: jitter +205 %, retransmits 0 → 4 (fails on old code)
    udp = [{"expr": "throughput.loss <= 2 %"}]
    base = run_of("A", [{"throughput.jitter": (0.02, "ms"), "throughput.loss": (0.0, "%"),
                         "throughput.retransmits": (0.0, "")}], criteria=udp)
    cand = run_of("B", [{"throughput.jitter": (0.061, "ms"), "throughput.loss": (0.0, "%"),
                         "throughput.retransmits": (4.0, "")}], criteria=udp)
    assert compare(base, cand).regressions == []
    assert compare(base, cand).verdict is Verdict.PASS
    # named under `regression:` they are judged (and within their floors here)
    named = {"trials": {"tcp-dl": {"metrics": ["throughput.jitter", "throughput.retransmits"],
                                   "threshold": None}}}
    result = compare(base, {**cand, "regression": named})
    by_metric = {d.metric: d for d in result.diffs}
    assert by_metric["throughput.jitter"].judged and by_metric["throughput.jitter"].better == \
        "lower"
    assert by_metric["throughput.jitter"].status == "same"  # 0.04 ms is within ±max(100 %, 1 ms)
    assert by_metric["throughput.retransmits"].status == "same"  # 4 within ±max(50 %, 25)
    # a named metric moving beyond its floor is judged: 20 ms jitter → 1 repetition → INCONCLUSIVE
    worse = run_of("C", [{"throughput.jitter": (20.0, "ms"), "throughput.loss": (0.0, "%"),
                          "throughput.retransmits": (0.0, "")}], criteria=udp,
                   regression=named)
    assert compare(base, worse).verdict is Verdict.INCONCLUSIVE


def test_direction_comes_from_the_operator_and_the_side() -> None:
    assert criterion_directions("throughput.mean >= 0.6 * peak(gnb1)") == {
        "throughput.mean": "higher"}
    assert criterion_directions("100 Mbit/s <= throughput.mean") == {"throughput.mean": "higher"}
    assert criterion_directions("30 ms >= rtt.p95") == {"rtt.p95": "lower"}
    assert criterion_directions("100 % - throughput.loss >= 98 %") == {"throughput.loss": "lower"}
    assert criterion_directions("alarms.critical == 0") == {"alarms.critical": "either"}
    assert criterion_directions("a.mean - b.mean <= 5 ms") == {"a.mean": "lower",
                                                                "b.mean": "higher"}
    with pytest.raises(ConfigError):
        criterion_directions("throughput.mean >=")
    # written the other way round, a throughput drop is still the regression (fails on old code:
    # its regex read only a metric on the left)
    flipped = [{"expr": "100 Mbit/s <= throughput.mean"}]
    base = run_of("A", [{"throughput.mean": (500.0 + d, "Mbit/s")} for d in (0, 2, -2)],
                  criteria=flipped)
    cand = run_of("B", [{"throughput.mean": (400.0 + d, "Mbit/s")} for d in (0, 2, -2)],
                  criteria=flipped)
    assert [d.metric for d in compare(base, cand).regressions] == ["throughput.mean"]
    assert compare(cand, base).regressions == []


# --- noise floor, Welch, one repetition -------------------------------------------------------
def test_noise_floor_per_metric_family() -> None:
    assert family_of("throughput.mean", "Mbit/s") == "rate"
    assert family_of("throughput.p5", "Mbit/s") == "rate-tail"
    assert family_of("rtt.p95", "ms") == "time-tail"
    assert family_of("tcp.rtt.mean", "ms") == "time"
    assert family_of("throughput.jitter", "ms") == "spread"
    assert family_of("throughput.loss", "%") == "loss"
    assert family_of("tcp.efficiency", "%") == "percent"
    assert family_of("throughput.retransmits", "") == "count"
    assert family_of("gnb1.RRU.PrbUsedDl.mean", "PRB") == "other"
    assert floor_of("tcp.rtt.mean", "ms").tolerance(3.0, "ms") == pytest.approx(1.0)
    assert floor_of("tcp.rtt.mean", "ms").tolerance(3.0, "s") == pytest.approx(0.6)
    assert floor_of("rtt.mean", "µs").tolerance(3000.0, "µs") == pytest.approx(1000.0)
    assert floor_of("throughput.loss", "%").tolerance(0.1, "%") == pytest.approx(0.5)
    assert floor_of("throughput.mean", "Mbit/s").describe() == "±5 %"
    assert floor_of("tcp.rtt.mean", "ms").describe() == "±max(20 %, 1 ms)"


def test_a_change_within_the_floor_is_never_a_regression() -> None:
    # RTT 3.0 → 3.8 ms over 3 repetitions each: +27 %, p < 0.001, beyond a 5 % threshold, but
    # within the time floor ±max(20 %, 1 ms) (fails on old code: a regression there)
    judged = [{"expr": "tcp.rtt.mean <= 30 ms"}]
    base = run_of("A", [{"tcp.rtt.mean": (v, "ms")} for v in (3.0, 3.01, 2.99)], criteria=judged)
    cand = run_of("B", [{"tcp.rtt.mean": (v, "ms")} for v in (3.8, 3.81, 3.79)], criteria=judged)
    diff = compare(base, cand, threshold=0.05).diffs[0]
    assert diff.p_value is not None and diff.p_value < 0.001
    assert diff.status == "same" and diff.tolerance == pytest.approx(1.0)


def test_a_real_drop_with_repetitions_is_a_regression_that_fails() -> None:
    base = run_of("A", [smoke_rep(m, m - 5) for m in (1736, 1740, 1731)])
    cand = run_of("B", [smoke_rep(m, m - 5) for m in (1400, 1405, 1398)])
    result = compare(base, cand)
    assert {d.metric for d in result.regressions} == {"throughput.mean", "throughput.p5"}
    assert result.verdict is Verdict.FAIL
    [trial] = result.as_json()["trials"]
    assert trial["verdict"] == "FAIL" and trial["reason"] == "regression"
    assert trial["detail"].startswith("regression against A: throughput.mean 1,736 → 1,401")
    # the same drop where the repetitions are too noisy to tell: INCONCLUSIVE, not FAIL
    noisy = run_of("C", [smoke_rep(m, m - 5) for m in (1100, 1790, 1310)])
    assert compare(base, noisy).verdict is Verdict.INCONCLUSIVE


def test_a_void_repetition_takes_no_part_in_the_comparison() -> None:
    """A baseline repetition whose figures the simulator's relay cut short (600 Mbit/s, void)
    would pull the baseline mean down to ~1,359 and hide the candidate's real drop to ~1,401:
    the old code said PASS. Left out, the drop is the regression it is; and a void candidate
    repetition cannot make a regression either."""
    base = run_of("A", [smoke_rep(m, m - 5) for m in (1736, 1740, 1731, 600)])
    base["trials"][3]["void"] = ["the simulator's relay itself lost 9000 datagrams on gnb1"]
    cand = run_of("B", [smoke_rep(m, m - 5) for m in (1400, 1405, 1398)])
    result = compare(base, cand)
    assert result.verdict is Verdict.FAIL
    mean = next(d for d in result.diffs if d.metric == "throughput.mean")
    assert mean.status == "regression" and mean.baseline == (1736, 1740, 1731)
    steady = run_of("C", [smoke_rep(m, m - 5) for m in (1736, 1740, 1731, 500)])
    steady["trials"][3]["void"] = ["the simulator's relay itself lost 9000 datagrams on gnb1"]
    assert compare(run_of("A", [smoke_rep(m, m - 5) for m in (1736, 1740, 1731)]),
                   steady).verdict is Verdict.PASS


def test_one_repetition_cannot_fail_only_be_inconclusive() -> None:
    # fails on old code: the threshold alone made one repetition a regression (FAIL)
    result = compare(run_of("A", [smoke_rep(1736, 1735)]), run_of("B", [smoke_rep(900, 890)]))
    assert result.regressions == []
    assert result.verdict is Verdict.INCONCLUSIVE
    assert {d.status for d in result.diffs if d.judged} == {"inconclusive"}
    assert "one repetition" in result.inconclusive[0].reason


def test_a_scenario_threshold_widens_the_tolerance_for_its_trial() -> None:
    base = run_of("A", [smoke_rep(m, m) for m in (1000, 1001, 999)])
    cand = run_of("B", [smoke_rep(m, m) for m in (880, 881, 879)])  # -12 %
    assert compare(base, cand).verdict is Verdict.FAIL
    wide = {"trials": {"tcp-dl": {"metrics": [], "threshold": 0.2}}}
    assert compare(base, {**cand, "regression": wide}).verdict is Verdict.PASS


# --- verdict reason in summary.json, JUnit and exit code ----------------------------------------
def judge_with_results(tmp_path: Path, base: dict[str, Any],
                       cand: dict[str, Any]) -> dict[str, Any]:
    base_dir = tmp_path / "base"
    base_dir.mkdir(parents=True)
    (base_dir / "summary.json").write_text(json.dumps(base), encoding="utf-8")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lab = load_model(ROOT / "lab.yaml", Lab)
    results = RunResults(run_dir, run_id="B", scenario="smoke", lab=lab,
                         options=ResultsOptions(baseline=Baseline(base_dir)), emit=lambda e: None)
    summary = json.loads(json.dumps(cand))
    results.finish(summary)
    results.close()
    return summary


def test_summary_gives_the_regression_as_its_own_verdict_reason(tmp_path: Path) -> None:
    base = run_of("A", [smoke_rep(m, m - 5) for m in (1736, 1740, 1731)])
    cand = run_of("B", [smoke_rep(m, m - 5) for m in (1400, 1405, 1398)])
    summary = judge_with_results(tmp_path, base, cand)
    assert summary["verdict"] == "FAIL"
    assert all(t["verdict"] == "PASS" for t in summary["trials"])  # criteria all passed
    assert summary["baseline"]["verdict"] == "FAIL"
    assert summary["baseline"]["trials"][0]["reason"] == "regression"
    assert summary["verdict_reasons"] == [
        {"reason": "trials", "verdict": "PASS"},
        {"reason": "regression", "verdict": "FAIL", "against": "A", "regressions": 2,
         "inconclusive": 0}]
    # one repetition: the run is INCONCLUSIVE (exit 3), not FAIL
    single = judge_with_results(tmp_path / "one", run_of("A", [smoke_rep(1736, 1735)]),
                                run_of("B", [smoke_rep(900, 890)]))
    assert single["verdict"] == "INCONCLUSIVE"
    assert single["verdict_reasons"][1]["verdict"] == "INCONCLUSIVE"


def test_junit_shows_a_regression_only_fail_as_a_failure(tmp_path: Path) -> None:
    # fails on old code: every trial PASSed, so junit.xml said failures="0" for a FAIL run
    base = run_of("A", [smoke_rep(m, m - 5) for m in (1736, 1740, 1731)])
    cand = run_of("B", [smoke_rep(m, m - 5) for m in (1400, 1405, 1398)])
    summary = judge_with_results(tmp_path, base, cand)
    root = ET.parse(write_junit(tmp_path / "junit.xml", summary)).getroot()
    assert root.get("failures") == "1" and root.get("tests") == "4"
    failures = root.findall(".//failure")
    assert len(failures) == 1 and failures[0].get("type") == "regression"
    assert failures[0].get("message", "").startswith(
        "regression against A: throughput.mean 1,736 → 1,401 Mbit/s (-19.3 %")
    case = root.find(".//testcase[failure]")
    assert case is not None and case.get("name") == "tcp-dl vs A"


def test_compare_exit_codes(tmp_path: Path) -> None:
    from tests.test_store import make_run

    reports = tmp_path / "reports"
    make_run(reports, "20261128T100000Z-smoke-aaaa", means=[500, 505, 495])
    make_run(reports, "20261128T110000Z-smoke-bbbb", means=[400, 405, 395])
    make_run(reports, "20261128T120000Z-smoke-cccc", means=[300])
    runner = CliRunner()
    fail = runner.invoke(cli, ["compare", "20261128T10", "20261128T11", "--out", str(reports)])
    assert fail.exit_code == 1 and "1 regression(s), 0 inconclusive" in fail.output
    one = runner.invoke(cli, ["compare", "20261128T10", "20261128T12", "--out", str(reports)])
    assert one.exit_code == 3 and "INCONCLUSIVE (1 repetition)" in one.output
    unjudged = runner.invoke(cli, ["compare", "20261128T10", "20261128T11", "--all", "--out",
                                   str(reports)])
    assert "rtt.mean" in unjudged.output and "(not judged)" in unjudged.output


def test_runs_sharing_no_judged_metric_are_inconclusive_not_no_regression() -> None:
    # fails on the old code: nothing compared was "PASS" (exit 0, "no regression")
    base = run_of("A", [smoke_rep(1736, 1735)], trial="tcp-dl")
    cand = run_of("B", [smoke_rep(1736, 1735)], trial="tcp-ul")
    result = compare(base, cand)
    assert not [d for d in result.diffs if d.judged and d.status not in ("gone", "new")]
    assert result.verdict is Verdict.INCONCLUSIVE
    unjudged = compare(run_of("A", [smoke_rep(1736, 1735)], criteria=[]),
                       run_of("B", [smoke_rep(1736, 1735)], criteria=[]))
    assert unjudged.trials == [] and unjudged.verdict is Verdict.INCONCLUSIVE
    assert "share no judged metric" in unjudged.reason
    assert unjudged.as_json()["detail"] == unjudged.reason


def test_a_judged_metric_gone_from_the_candidate_is_inconclusive() -> None:
    # fails on the old code: the candidate's trial lost throughput.p5 (say it errored before
    # the statistic) and the comparison said PASS on throughput.mean alone
    base = run_of("A", [smoke_rep(1736, 1735), smoke_rep(1730, 1729)])
    cand_reps = [smoke_rep(1736, 1735), smoke_rep(1730, 1729)]
    for rep in cand_reps:
        del rep["throughput.p5"]
    result = compare(base, run_of("B", cand_reps))
    gone = next(d for d in result.diffs if d.metric == "throughput.p5")
    assert gone.status == "gone" and gone.judged and gone.verdict is Verdict.INCONCLUSIVE
    assert "no value in the candidate" in gone.describe() and "%" not in gone.describe()
    assert result.verdict is Verdict.INCONCLUSIVE and gone in result.inconclusive
    # a metric only the candidate has is new: shown, never judged
    new = compare(run_of("B", cand_reps), base)
    added = next(d for d in new.diffs if d.metric == "throughput.p5")
    assert added.status == "new" and not added.judged and new.verdict is Verdict.PASS


def test_compare_cli_says_nothing_was_compared(tmp_path: Path) -> None:
    from tests.test_store import make_run

    reports = tmp_path / "reports"
    make_run(reports, "20261128T100000Z-smoke-aaaa", means=[500, 505, 495])
    make_run(reports, "20261128T110000Z-smoke-bbbb", means=[500, 505, 495])
    base = next(reports.glob("20261128T10*/summary.json"))
    data = json.loads(base.read_text())
    for trial in data["trials"]:
        trial["id"] = "renamed"
    base.write_text(json.dumps(data))
    args = ["compare", "20261128T10", "20261128T11", "--out", str(reports)]
    renamed = CliRunner().invoke(cli, args)
    assert renamed.exit_code == 3, renamed.output  # the baseline's judged metrics are gone
    assert "gone" in renamed.output and "INCONCLUSIVE" in renamed.output
    for summary in reports.glob("*/summary.json"):
        data = json.loads(summary.read_text())
        for trial in data["trials"]:
            trial["criteria"] = []
        summary.write_text(json.dumps(data))
    unjudged = CliRunner().invoke(cli, [*args, "--any-scenario"])
    assert unjudged.exit_code == 3, unjudged.output
    assert "nothing to compare" in unjudged.output


# --- the scenario's `regression:` key -----------------------------------------------------------
SCENARIO = """\
name: smoke
title: {vi: "x", en: "x"}
defaults: {duration: 3s}
matrix: {direction: [dl, ul]}
regression:
  metrics: [tcp.rtt.mean]
  threshold: 10 %
  trials:
    "t-{direction}": {metrics: [METRIC]}
    t-ul: {threshold: 0.2}
trials:
  - id: "t-{direction}"
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    direction: "{direction}"
    protocol: tcp
    criteria: ["throughput.mean >= 10 Mbit/s"]
"""


def test_regression_key_is_validated_with_positions(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("METRIC", "throughput.jiter"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_inputs(path, ROOT / "lab.yaml")
    assert str(err.value).startswith(f"{path}:9:") and "did you mean" in str(err.value)
    assert "regression metric 'throughput.jiter': a throughput trial does not produce it" in \
        str(err.value)
    path.write_text(SCENARIO.replace("METRIC", "throughput.p5").replace("t-ul:", "t-up:"),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"s\.yaml:10:11: regression\.trials\.t-up: no trial"):
        load_inputs(path, ROOT / "lab.yaml")
    path.write_text(SCENARIO.replace("METRIC", "throughput.p5").replace("10 %", "lots"),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"s\.yaml:7:14: regression\.threshold: expected a "):
        load_inputs(path, ROOT / "lab.yaml")
    path.write_text(SCENARIO.replace("METRIC", "throughput.p5").replace("tcp.rtt.mean", "rtt"),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"s\.yaml:6:13: regression\.metrics\[0\]: .*no trial"):
        load_inputs(path, ROOT / "lab.yaml")


def test_regression_key_reaches_the_summary_rules(tmp_path: Path) -> None:
    from harness.cli.results import regression_rules

    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("METRIC", "throughput.p5"), encoding="utf-8")
    rules = regression_rules(load_inputs(path, ROOT / "lab.yaml"))
    assert rules["trials"] == {
        "t-dl": {"metrics": ["tcp.rtt.mean", "throughput.p5"], "threshold": 0.1},
        "t-ul": {"metrics": ["tcp.rtt.mean", "throughput.p5"], "threshold": 0.2}}
