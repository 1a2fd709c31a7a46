"""Statistics across repetitions and judgement with CIs, against hand-computed values."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from harness.base.batch_means import batch_means_ci
from harness.base.units import Quantity
from harness.base.verdict import Verdict
from harness.config.scenario import Scenario, TrialDefaults
from harness.engine.plan import PlannedTrial
from harness.judge.aggregate import (
    JudgeContext,
    aggregate_trials,
    judge,
    run_verdict,
    sample_intervals,
    voided,
)
from harness.judge.criteria import parse_criterion
from harness.judge.estimates import is_exact, sample_statistics
from harness.kinds.throughput import ThroughputSpec


def _planned(criteria: list[str], min_samples: int | None = None) -> PlannedTrial:
    spec = ThroughputSpec(id="t", kind="throughput", ue="ue1", dn="dn1")
    return PlannedTrial(id="t", repetition=1, kind="throughput", spec=spec, ue="ue1", dn="dn1",
                        via=None, cell=1, duration_s=3, omit_s=0, timeout_s=30,
                        kpi_interval_s=1, monitor={},
                        criteria=[parse_criterion(c) for c in criteria], params={},
                        min_samples=min_samples)


def _entry(rep: int, mean: float, verdict: str = "PASS", **extra: Any) -> dict[str, Any]:
    return {"id": "t", "repetition": rep, "verdict": verdict,
            "metrics": {"throughput.mean": {"value": mean, "unit": "Mbit/s"}},
            "n": {"throughput.mean": 10}, **extra}


def test_t_interval_over_repetitions_by_hand() -> None:
    entries = [_entry(1, 100.0), _entry(2, 110.0), _entry(3, 120.0)]
    [agg] = aggregate_trials([_planned(["throughput.mean >= 50 Mbit/s"])], entries)
    metric = agg["metrics"]["throughput.mean"]
    half = 4.303 * 10.0 / math.sqrt(3)  # t(0.975, 2) × s / √n, s = 10
    assert metric["value"] == pytest.approx(110.0) and metric["n"] == 3
    assert metric["ci"] == pytest.approx([110 - half, 110 + half])
    assert metric["samples"] == 30
    stats = metric["stats"]
    assert stats["median"] == 110 and stats["min"] == 100 and stats["max"] == 120
    assert stats["std"] == pytest.approx(10.0)
    assert stats["p5"] == 100.0 and stats["p95"] == 120.0  # empirical percentiles
    assert agg["verdict"] == "PASS" and agg["repetitions"] == 3


def test_scipy_agrees_on_the_t_interval() -> None:
    stats = pytest.importorskip("scipy.stats")
    values = [100.0, 110.0, 120.0, 95.0, 131.0]
    entries = [_entry(i + 1, v) for i, v in enumerate(values)]
    [agg] = aggregate_trials([_planned([])], entries)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=sum(values) / 5,
                              scale=stats.sem(values))
    assert agg["metrics"]["throughput.mean"]["ci"] == pytest.approx([lo, hi], rel=1e-3)


def test_ci_straddling_threshold_is_inconclusive() -> None:
    entries = [_entry(1, 100.0), _entry(2, 110.0), _entry(3, 120.0)]
    [agg] = aggregate_trials([_planned(["throughput.mean >= 100 Mbit/s"])], entries)
    [criterion] = agg["criteria"]
    assert criterion["verdict"] == "INCONCLUSIVE" and "straddles" in criterion["detail"]
    assert agg["verdict"] == "INCONCLUSIVE"
    assert run_verdict(entries, [agg]) is Verdict.INCONCLUSIVE


def test_min_samples_makes_a_pass_inconclusive() -> None:
    ctx = JudgeContext(metrics={"throughput.mean": Quantity(500.0, "Mbit/s")},
                       intervals={"throughput.mean": (450.0, 550.0)},
                       counts={"throughput.mean": 3})
    [result] = judge([parse_criterion("throughput.mean >= 100 Mbit/s")], ctx, min_samples=5)
    assert result.verdict is Verdict.INCONCLUSIVE and "N=3" in result.detail
    [result] = judge([parse_criterion("throughput.mean >= 100 Mbit/s")], ctx, min_samples=3)
    assert result.verdict is Verdict.PASS


def test_error_repetitions_are_left_out_and_all_errors_is_error() -> None:
    entries = [_entry(1, 100.0), _entry(2, 0.0, "ERROR"), _entry(3, 120.0)]
    [agg] = aggregate_trials([_planned(["throughput.mean >= 50 Mbit/s"])], entries)
    assert agg["metrics"]["throughput.mean"]["n"] == 2 and agg["errors"] == 1
    assert agg["metrics"]["throughput.mean"]["value"] == pytest.approx(110.0)
    assert run_verdict(entries, [agg]) is Verdict.ERROR
    [agg] = aggregate_trials([_planned([])], [_entry(1, 0.0, "ERROR")])
    assert agg["verdict"] == "ERROR"


def test_one_repetition_keeps_its_batch_means_ci() -> None:
    rng = np.random.default_rng(5)
    series = list(100.0 + rng.standard_normal(60))
    ci = sample_intervals({"throughput.mean": series}, {})["throughput.mean"]
    assert ci == pytest.approx(batch_means_ci(series).interval)  # type: ignore[union-attr]
    assert ci[0] < sum(series) / 60 < ci[1]
    entry = _entry(1, 100.0, ci={"throughput.mean": list(ci)})
    [agg] = aggregate_trials([_planned([])], [entry])
    assert agg["metrics"]["throughput.mean"]["ci"] == pytest.approx(list(ci))


def _judge_series(series: list[float], criterion: str, **kw: Any) -> Any:
    ctx = JudgeContext(metrics={"throughput.mean": Quantity(sum(series) / len(series),
                                                            "Mbit/s")},
                       intervals=sample_intervals({"throughput.mean": series}, {}),
                       counts={"throughput.mean": len(series)})
    [result] = judge([parse_criterion(criterion)], ctx, **kw)
    return result


def test_nineteen_samples_with_no_interval_are_inconclusive_not_pass() -> None:
    """Regression (fails on the old code: under 20 samples there was no interval, and a
    criterion without one PASSed)."""
    drifting = [90.0 + i for i in range(19)]  # mean 99, rising: no uncorrelated batches
    result = _judge_series(drifting, "throughput.mean >= 95 Mbit/s")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no 95 % confidence interval" in result.detail
    noisy = [99.0 + (6.0 if i % 3 == 0 else -3.0) for i in range(19)]  # near the threshold
    assert _judge_series(noisy, "throughput.mean >= 99 Mbit/s").verdict is Verdict.INCONCLUSIVE


def test_a_short_trial_is_inconclusive() -> None:
    """Regression (fails on the old code): 4 per-second samples far above the threshold used to
    PASS; now they make no interval and fall below min_samples' default."""
    short = [500.0, 510.0, 490.0, 505.0]
    result = _judge_series(short, "throughput.mean >= 100 Mbit/s",
                           min_samples=TrialDefaults().min_samples)
    assert result.verdict is Verdict.INCONCLUSIVE
    entries = [_entry(1, 501.0, n={"throughput.mean": 4})]
    [agg] = aggregate_trials([_planned(["throughput.mean >= 100 Mbit/s"], 10)], entries)
    assert agg["verdict"] == "INCONCLUSIVE"


def test_min_samples_is_on_by_default() -> None:
    """Regression (fails on the old code, where min_samples defaulted to None = off)."""
    assert TrialDefaults().min_samples == 10
    scenario = Scenario.model_validate({
        "name": "s", "title": {"vi": "s", "en": "s"},
        "trials": [{"id": "t", "kind": "throughput", "ue": "ue1", "dn": "dn1"}]})
    assert scenario.defaults.min_samples == 10


def test_exact_observations_need_no_interval_estimates_do() -> None:
    ctx = JudgeContext(metrics={"alarms.critical": Quantity(0.0, ""),
                                "throughput.max": Quantity(900.0, "Mbit/s"),
                                "rfc2544.throughput.f64": Quantity(50.0, "Mbit/s"),
                                "tcp.efficiency": Quantity(99.0, "%")})
    criteria = [parse_criterion(c) for c in (
        "alarms.critical == 0", "throughput.max >= 100 Mbit/s",
        "rfc2544.throughput.f64 >= 10 Mbit/s", "tcp.efficiency >= 90 %")]
    verdicts = [r.verdict for r in judge(criteria, ctx, exact={"rfc2544.throughput"})]
    assert verdicts == [Verdict.PASS, Verdict.PASS, Verdict.PASS, Verdict.INCONCLUSIVE]
    # without the kind's declaration the search result is an estimate like any other
    assert judge(criteria[2:3], ctx)[0].verdict is Verdict.INCONCLUSIVE
    assert is_exact("y1564.voice.steps_failed") and is_exact("gnb1.DRB.PdcpSduVolumeDL.delta")
    assert not is_exact("rtt.p95") and not is_exact("throughput.loss")


def test_aggregate_reads_the_kinds_exact_declaration() -> None:
    entry = {"id": "t", "repetition": 1, "verdict": "PASS", "exact": ["firmware."],
             "metrics": {"firmware.downtime_s": {"value": 12.0, "unit": "s"}}}
    [agg] = aggregate_trials([_planned(["firmware.downtime_s <= 30 s"])], [entry])
    assert agg["verdict"] == "PASS"
    del entry["exact"]
    [agg] = aggregate_trials([_planned(["firmware.downtime_s <= 30 s"])], [entry])
    assert agg["verdict"] == "INCONCLUSIVE"


def test_percentiles_get_order_statistic_intervals_and_a_definition() -> None:
    rng = np.random.default_rng(9)
    series = list(50.0 + rng.standard_normal(1000))
    stats = sample_statistics({"rtt.mean": series}, {"loss.percent": (0, 400)})
    assert {"rtt.mean", "rtt.median", "rtt.p5", "rtt.p95", "rtt.p99", "loss.percent"} \
        <= set(stats.intervals)
    assert "inverted CDF" in stats.methods["rtt.p95"]
    assert stats.methods["rtt.mean"].startswith("batch means")
    short = sample_statistics({"rtt.mean": series[:50]}, {})
    assert "rtt.p99" not in short.intervals and "no interval" in short.methods["rtt.p99"]


def test_wilson_interval_for_loss_pooled_over_repetitions() -> None:
    ci = sample_intervals({}, {"loss.percent": (5, 100)})["loss.percent"]
    z = 1.959964
    p, n = 0.05, 100
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert ci == pytest.approx(((centre - half) * 100, (centre + half) * 100))
    entries = [{"id": "t", "repetition": r, "verdict": "PASS",
                "metrics": {"loss.percent": {"value": v, "unit": "%"}},
                "proportions": {"loss.percent": [k, 100]}}
               for r, (v, k) in enumerate([(2.0, 2), (8.0, 8)], start=1)]
    [agg] = aggregate_trials([_planned(["loss.percent <= 6 %"])], entries)
    metric = agg["metrics"]["loss.percent"]
    assert metric["value"] == pytest.approx(5.0)  # 10 lost of 200 sent
    assert metric["ci"][0] < 6.0 < metric["ci"][1]
    assert agg["criteria"][0]["verdict"] == "INCONCLUSIVE"


def test_latest_entry_per_repetition_wins() -> None:
    entries = [_entry(1, 0.0, "ERROR"),  # a retry after an ERROR
               _entry(1, 100.0, ci={"throughput.mean": [95.0, 105.0]})]
    [agg] = aggregate_trials([_planned(["throughput.mean >= 50 Mbit/s"])], entries)
    assert agg["repetitions"] == 1 and agg["errors"] == 0 and agg["verdict"] == "PASS"


def _share_entry(rep: int, below: int, n: int = 28) -> dict[str, Any]:
    """A repetition of n one-second samples, `below` of them under 30 Mbit/s."""
    series = [10.0] * below + [500.0] * (n - below)
    criterion = {"expr": "share(throughput >= 30 Mbit/s) >= 95 %", "verdict": "INCONCLUSIVE",
                 "shares": {"throughput >= 30 Mbit/s": [n - below, n]}}
    return _entry(rep, float(np.mean(series)), "INCONCLUSIVE", criteria=[criterion])


def test_repetitions_inconclusive_alone_are_judged_by_their_pooled_aggregate() -> None:
    """Three 28-sample repetitions can each not show a 95 % share (Wilson lower bound of 28/28
    is 87.9 %), but pooled they are 84/84 (lower bound 95.6 %): the run is PASS. Old rule:
    worst of every repetition → INCONCLUSIVE although the evidence decides."""
    entries = [_share_entry(rep, 0) for rep in (1, 2, 3)]
    [agg] = aggregate_trials([_planned(["share(throughput >= 30 Mbit/s) >= 95 %"])], entries)
    assert agg["verdict"] == "PASS", agg["criteria"]
    assert run_verdict(entries, [agg]) is Verdict.PASS


def test_a_failed_repetition_fails_the_run_whatever_the_aggregate_says() -> None:
    entries = [_entry(1, 500.0, "PASS"), _entry(2, 40.0, "FAIL"), _entry(3, 500.0, "PASS")]
    agg = {"id": "t", "verdict": "PASS"}
    assert run_verdict(entries, [agg]) is Verdict.FAIL
    entries[1]["verdict"] = "ERROR"
    assert run_verdict(entries, [agg]) is Verdict.ERROR


def test_pooled_aggregate_that_cannot_decide_keeps_the_run_inconclusive() -> None:
    entries = [_share_entry(rep, 2) for rep in (1, 2, 3)]  # 78/84 = 92.9 %
    [agg] = aggregate_trials([_planned(["share(throughput >= 30 Mbit/s) >= 95 %"])], entries)
    assert agg["verdict"] != "PASS"
    assert run_verdict(entries, [agg]) is not Verdict.PASS


HEADROOM = "the simulator's relay itself lost 120 datagrams on gnb1 (this machine short of CPU)"


def _void(entry: dict[str, Any]) -> dict[str, Any]:
    """A repetition the headroom monitor voided: judged INCONCLUSIVE, with its figures."""
    return {**entry, "verdict": "INCONCLUSIVE", "void": [HEADROOM],
            "acceptance": [{"verdict": "INCONCLUSIVE", "source": "simulated lab headroom"}]}


def test_a_void_repetitions_figures_are_not_pooled() -> None:
    """One repetition measured the simulator (40 Mbit/s, its relay losing datagrams) beside
    three that measured the cell (100, 110, 120): the aggregate pools only the three. On the
    old code the 40 went into the mean and the t-interval, so the pooled figure blamed the
    cell."""
    entries = [_entry(1, 100.0), _void(_entry(2, 40.0)), _entry(3, 110.0), _entry(4, 120.0)]
    [agg] = aggregate_trials([_planned(["throughput.mean >= 50 Mbit/s"])], entries)
    assert agg["metrics"]["throughput.mean"]["n"] == 3
    assert agg["metrics"]["throughput.mean"]["value"] == pytest.approx(110.0)
    assert agg["void_repetitions"] == [2]
    assert agg["criteria"][0]["verdict"] == "PASS"
    assert agg["verdict"] == "INCONCLUSIVE"  # the void repetition's headroom row stands
    assert run_verdict(entries, [agg]) is Verdict.INCONCLUSIVE


def test_every_repetition_void_is_inconclusive_never_fail() -> None:
    """All repetitions measured the simulator: their figures are shown, but the criterion a
    FAIL would have blamed on the cell reads INCONCLUSIVE with the reason."""
    entries = [_void(_entry(1, 40.0)), _void(_entry(2, 40.2))]
    [agg] = aggregate_trials([_planned(["throughput.mean >= 50 Mbit/s"])], entries)
    [criterion] = agg["criteria"]
    assert criterion["verdict"] == "INCONCLUSIVE" and HEADROOM in criterion["detail"]
    assert agg["void"] == [HEADROOM] and agg["verdict"] == "INCONCLUSIVE"
    assert agg["metrics"]["throughput.mean"]["value"] == pytest.approx(40.1)
    assert run_verdict(entries, [agg]) is Verdict.INCONCLUSIVE


def test_voided_turns_pass_and_fail_inconclusive_and_keeps_the_rest() -> None:
    ctx = JudgeContext(metrics={"throughput.mean": Quantity(40.0, "Mbit/s")},
                       intervals={"throughput.mean": (39.0, 41.0)})
    fail, pass_ = judge([parse_criterion("throughput.mean >= 50 Mbit/s"),
                         parse_criterion("throughput.mean >= 10 Mbit/s")], ctx)
    assert (fail.verdict, pass_.verdict) == (Verdict.FAIL, Verdict.PASS)
    error = dataclasses.replace(fail, verdict=Verdict.ERROR)
    out = voided([fail, pass_, error], [HEADROOM])
    assert [r.verdict for r in out] == [Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE,
                                        Verdict.ERROR]
    assert out[0].detail == f"{fail.detail}; but {HEADROOM}"
    assert out[0].observed == fail.observed and out[0].threshold == fail.threshold
