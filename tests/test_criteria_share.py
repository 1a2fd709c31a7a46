"""share(): the percentage of samples meeting a threshold, judged on its Wilson interval;
rate(); the QCVN 126 preset built on them; pooling over repetitions; plan-time checks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.base.stats import summarize
from harness.base.units import Quantity
from harness.base.verdict import Verdict
from harness.engine.plan import PlannedTrial
from harness.judge.aggregate import JudgeContext, aggregate_trials
from harness.judge.criteria import CriterionSyntaxError, parse_criterion
from harness.judge.presets import TrialShape, expand_preset
from harness.kinds.throughput import ThroughputSpec
from tests.test_plan import HEAD, LAB, LATENCY, TRIAL, _error, _write

QCVN_DL = TrialShape("throughput", "dl", "gnb1")


def _ctx(rates: list[float], **metrics: Quantity) -> JudgeContext:
    """A trial's context as trial.py builds it: metrics (with the empirical P5) and series."""
    stats = summarize(rates)
    mean, p5 = (stats.mean, stats.p5) if stats else (float("nan"), float("nan"))
    return JudgeContext(metrics={"throughput.mean": Quantity(mean, "Mbit/s"),
                                 "throughput.p5": Quantity(p5, "Mbit/s"), **metrics},
                        series={"throughput.mean": rates})


def _qcvn_share(ctx: JudgeContext) -> Any:
    [_, share] = expand_preset("qcvn-126-2021", QCVN_DL)
    return share.evaluate(ctx)


# --- the QCVN 126 regressions (the old preset judged an interpolated P5 and PASSed both) ------

def _linear_p5(rates: list[float]) -> float:
    """The old preset's figure: numpy's default (linearly interpolated) P5."""
    return float(np.percentile(np.asarray(rates), 5))


def test_qcvn_n10_with_one_sample_at_5_is_not_pass() -> None:
    """Fails on the old code: the interpolated P5 of these is 47.75 Mbit/s, so the old preset's
    `throughput.p5 >= 30` PASSed; the empirical P5 is the 5 Mbit/s sample itself."""
    rates = [5.0] + [100.0 + i for i in range(9)]
    assert _linear_p5(rates) == pytest.approx(47.75)  # the old figure cleared 30
    assert _ctx(rates).metrics["throughput.p5"].value == 5.0  # empirical (inverted CDF)
    result = _qcvn_share(_ctx(rates))
    assert result.verdict is not Verdict.PASS
    assert result.verdict is Verdict.INCONCLUSIVE  # 90 %, Wilson [59.6, 98.2] % holds 95 %
    assert result.observed == Quantity(90.0, "%") and result.threshold == Quantity(95, "%")
    assert "9 of 10 samples meet throughput >= 30 Mbit/s" in result.detail
    assert "below the 1,500 the source asks for" in result.detail
    assert result.shares == {"throughput >= 30 Mbit/s": (9, 10)}


def test_qcvn_n30_with_two_samples_at_29_is_not_pass() -> None:
    """Fails on the old code: P5 interpolates to 69.95 and the criterion PASSed; the empirical
    P5 is 29 Mbit/s."""
    rates = [29.0, 29.0] + [120.0] * 28
    assert _linear_p5(rates) == pytest.approx(69.95)  # the old figure cleared 30
    assert _ctx(rates).metrics["throughput.p5"].value == 29.0
    result = _qcvn_share(_ctx(rates))
    assert result.verdict is not Verdict.PASS
    assert result.observed is not None
    assert result.observed.value == pytest.approx(93.333, abs=1e-3)


def test_share_passes_fails_and_is_inconclusive_on_its_wilson_interval() -> None:
    assert _qcvn_share(_ctx([100.0] * 100)).verdict is Verdict.PASS  # Wilson lower 96.3 %
    assert _qcvn_share(_ctx([100.0] * 50)).verdict is Verdict.INCONCLUSIVE  # lower 92.9 %
    assert _qcvn_share(_ctx([10.0] * 40 + [100.0] * 60)).verdict is Verdict.FAIL
    empty = _qcvn_share(_ctx([]))
    assert empty.verdict is Verdict.INCONCLUSIVE and "no samples" in empty.detail


def test_share_converts_the_threshold_to_the_series_unit() -> None:
    ctx = _ctx([31.0] * 200)
    crit = parse_criterion("share(throughput >= 30000 kbit/s) >= 95 %")
    assert crit.evaluate(ctx).verdict is Verdict.PASS
    mismatch = parse_criterion("share(throughput >= 30 ms) >= 95 %").evaluate(ctx)
    assert mismatch.verdict is Verdict.ERROR and "ms (time)" in mismatch.detail


def test_share_either_way_round() -> None:
    ctx = _ctx([29.0, 29.0] + [120.0] * 28)
    forms = ["share(throughput >= 30 Mbit/s) >= 95 %", "95 % <= share(throughput >= 30 Mbit/s)",
             "share(30 Mbit/s <= throughput) >= 95 %", "95 % <= share(30 Mbit/s <= throughput)"]
    results = [parse_criterion(f).evaluate(ctx) for f in forms]
    assert {(r.verdict, r.observed, r.threshold, r.detail) for r in results} == {
        (results[0].verdict, results[0].observed, results[0].threshold, results[0].detail)}


def test_share_of_missing_series_is_error() -> None:
    result = parse_criterion("share(rtt <= 50 ms) >= 95 %").evaluate(_ctx([1.0]))
    assert result.verdict is Verdict.ERROR and "no per-sample series 'rtt'" in result.detail


@pytest.mark.parametrize(("expr", "column", "message"), [
    ("share(throughput) >= 95 %", 17, "a comparison"),
    ("share(throughput >= rtt.mean) >= 95 %", 21, "constant"),
    ("share(throughput >= 30 Mbit/s >= 95 %", 31, "')' closing share"),
    ("share(share(x > 1) > 1) > 1", 7, "cannot be nested"),
    ("share(1 Mbit/s >= 2 Mbit/s) >= 95 %", 7, "series name alone"),
    ("share(throughput >= peak(gnb1)) >= 95 %", 21, "constant"),
    ("share(throughput >= 30 Mbit/s) >= 95", 32, "cannot compare %"),
    ("share(throughput >= 30 Mbit/s + 2 ms) >= 95 %", 31, "cannot add"),
    ("rate(a.delta) >= 95 %", 13, "',' in rate"),
])
def test_share_and_rate_refused_with_column(expr: str, column: int, message: str) -> None:
    with pytest.raises(CriterionSyntaxError, match=re.escape(message)) as info:
        parse_criterion(expr)
    assert info.value.column == column, str(info.value)


def test_rate_is_judged_on_its_wilson_interval() -> None:
    crit = parse_criterion("100 % - rate(core1.RM.RegInitSucc.delta, core1.RM.RegInitReq.delta)"
                           " <= 5 %")

    def judge(succ: float, req: float) -> Verdict:
        ctx = _ctx([1.0], **{"core1.RM.RegInitSucc.delta": Quantity(succ, ""),
                            "core1.RM.RegInitReq.delta": Quantity(req, "")})
        return crit.evaluate(ctx).verdict

    assert judge(1, 1) is Verdict.INCONCLUSIVE  # one attempt proves nothing
    assert judge(1000, 1000) is Verdict.PASS
    assert judge(80, 100) is Verdict.FAIL
    assert judge(0, 0) is Verdict.INCONCLUSIVE  # no attempts: nothing to judge, never PASS
    assert judge(5, 3) is Verdict.ERROR


# --- the preset -----------------------------------------------------------------------------

def test_qcvn_sources_cite_titles_and_unit_of_sampling() -> None:
    criteria = expand_preset("qcvn-126-2021", QCVN_DL)
    assert [c.expr for c in criteria] == ["throughput.mean >= 100 Mbit/s",
                                          "share(throughput >= 30 Mbit/s) >= 95 %"]
    share = criteria[1]
    assert share.source is not None and "one iperf3 reporting interval" in share.source
    assert "1,500" in share.source and share.expected_samples == 1500


def test_qcvn_access_criterion_only_when_counters_are_monitored() -> None:
    plain = TrialShape("latency")
    assert [c.expr for c in expand_preset("qcvn-126-2021", plain)] == ["rtt.mean <= 50 ms"]
    core = TrialShape("latency", monitor={"core1": ["RM.RegInitReq", "RM.RegInitSucc"]})
    access = expand_preset("qcvn-126-2021", core)[-1]
    assert access.expr == ("100 % - rate(core1.RM.RegInitSucc.delta, core1.RM.RegInitReq.delta)"
                           " <= 5 %")
    assert access.source is not None and "unsuccessful access" in access.source


# --- pooling across repetitions ---------------------------------------------------------------

def _planned(criteria: list[str], monitor: dict[str, list[str]] | None = None) -> PlannedTrial:
    spec = ThroughputSpec(id="t", kind="throughput", ue="ue1", dn="dn1",
                          criteria=[{"preset": "qcvn-126-2021"}])  # type: ignore[list-item]
    return PlannedTrial(id="t", repetition=1, kind="throughput", spec=spec, ue="ue1", dn="dn1",
                        via=None, cell=1, duration_s=3, omit_s=0, timeout_s=30,
                        kpi_interval_s=1, monitor=monitor or {},
                        criteria=[parse_criterion(c) for c in criteria], params={})


def test_aggregate_pools_the_events_of_every_repetition() -> None:
    crit = parse_criterion("share(throughput >= 30 Mbit/s) >= 95 %")
    entries = []
    for rep in (1, 2, 3):  # 40 of 40 each: INCONCLUSIVE alone (Wilson lower 91.2 %)
        result = crit.evaluate(_ctx([50.0] * 40))
        assert result.verdict is Verdict.INCONCLUSIVE
        entries.append({"id": "t", "repetition": rep, "verdict": "INCONCLUSIVE",
                        "metrics": {"throughput.mean": {"value": 50.0, "unit": "Mbit/s"}},
                        "criteria": [result.to_json(), result.to_json()]})
    [agg] = aggregate_trials([_planned([crit.expr])], entries)
    [judged] = agg["criteria"]
    assert judged["shares"] == {"throughput >= 30 Mbit/s": [120, 120]}  # each rep counted once
    assert judged["verdict"] == "PASS"  # 120 of 120: Wilson lower 96.9 %
    assert judged["observed"] == {"value": 100.0, "unit": "%"}


def test_aggregate_lists_what_the_preset_does_not_cover() -> None:
    [agg] = aggregate_trials([_planned([])], [{"id": "t", "repetition": 1, "verdict": "PASS",
                                              "metrics": {}}])
    clauses = [g["clause"] for g in agg["not_covered"]]
    assert clauses[0] == "QCVN 126:2021/BTTTT §2.1.2, unsuccessful access ≤ 5 %"
    assert "not measured" in agg["not_covered"][0]["reason"]
    monitored = _planned([], {"core1": ["RM.RegInitReq", "RM.RegInitSucc"]})
    [agg] = aggregate_trials([monitored], [{"id": "t", "repetition": 1, "verdict": "PASS",
                                           "metrics": {}}])
    assert all("unsuccessful access" not in g["clause"] for g in agg["not_covered"])


# --- plan-time checks ------------------------------------------------------------------------

def test_plan_refuses_share_over_a_series_the_kind_does_not_record(tmp_path: Path) -> None:
    text = HEAD + TRIAL.replace("throughput.mean >= 0.5 * peak(gnb1)",
                                "share(throughputs >= 30 Mbit/s) >= 95 %")
    message = _error(tmp_path, text)
    assert "share() counts the samples of series 'throughputs', which a throughput trial " \
        "does not record; did you mean throughput?" in message
    latency = HEAD + LATENCY.replace('"rtt.p95 <= 30 ms"', '"share(throughput >= 1 Mbit/s) > 1 %"')
    assert "it records rtt" in _error(tmp_path, latency)


def test_plan_checks_the_share_threshold_unit(tmp_path: Path) -> None:
    text = HEAD + TRIAL.replace("throughput.mean >= 0.5 * peak(gnb1)",
                                "share(throughput >= 30 ms) >= 95 %")
    assert "cannot compare series 'throughput' in Mbit/s (bit rate) with ms (time)" in \
        _error(tmp_path, text)
    ok = HEAD + LATENCY.replace('"rtt.p95 <= 30 ms"', '"share(rtt <= 50 ms) >= 95 %"')
    from harness.engine.inputs import load_inputs

    assert load_inputs(_write(tmp_path, ok), LAB).trials[0].criteria[0].series_names == \
        frozenset({"rtt"})
