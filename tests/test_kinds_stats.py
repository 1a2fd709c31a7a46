"""Statistics across repetitions and judgement with CIs, against hand-computed values."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.aggregate import (
    JudgeContext,
    aggregate_trials,
    judge,
    run_verdict,
    sample_intervals,
)
from harness.criteria import parse_criterion
from harness.kinds.throughput import ThroughputSpec
from harness.plan import PlannedTrial
from harness.units import Quantity
from harness.verdict import Verdict


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
    assert stats["p5"] == pytest.approx(101.0) and stats["p95"] == pytest.approx(119.0)
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
    series = [float(v) for v in range(1, 21)]  # 10 batches of 2: means 1.5, 3.5 … 19.5
    ci = sample_intervals({"throughput.mean": series}, {})["throughput.mean"]
    batch_means = [1.5 + 2 * i for i in range(10)]
    mean = sum(batch_means) / 10
    sd = math.sqrt(sum((b - mean) ** 2 for b in batch_means) / 9)
    half = 2.262 * sd / math.sqrt(10)
    assert ci == pytest.approx((mean - half, mean + half))
    assert "throughput.mean" not in sample_intervals({"throughput.mean": series[:19]}, {})
    entry = _entry(1, 10.5, ci={"throughput.mean": list(ci)})
    [agg] = aggregate_trials([_planned([])], [entry])
    assert agg["metrics"]["throughput.mean"]["ci"] == pytest.approx(list(ci))


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
    entries = [_entry(1, 0.0, "ERROR"), _entry(1, 100.0)]  # a retry after an ERROR
    [agg] = aggregate_trials([_planned(["throughput.mean >= 50 Mbit/s"])], entries)
    assert agg["repetitions"] == 1 and agg["errors"] == 0 and agg["verdict"] == "PASS"
