"""Statistics across repetitions and judgement with confidence intervals (pure functions).

One repetition: a mean's 95 % CI comes from batch means of its per-sample series whose batch
size follows the autocorrelation, a percentile's from order statistics, a percentage of counted
events (loss) from the Wilson interval (judge/estimates.py). Across repetitions: each
metric's N (repetitions), mean, median, p5/p95/p99, min/max, std and a t-interval of the mean;
counted percentages pool their events into one Wilson interval. A criterion whose CI straddles its
threshold is INCONCLUSIVE, and so is one on a statistical estimate with no CI, or whose metric
rests on fewer samples than `min_samples`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.base.stats import mean_interval, summarize
from harness.base.units import Quantity
from harness.base.verdict import Verdict, worst
from harness.judge.criteria import (
    Criterion,
    CriterionResult,
    MetricWithheld,
    ShareSpec,
    series_key,
)
from harness.judge.estimates import is_exact, sample_statistics, wilson_percent
from harness.judge.presets import TrialShape, not_covered


class _JudgedSpec(Protocol):
    @property
    def criteria(self) -> Sequence[Any]: ...

    def shape_direction(self) -> str | None: ...


class JudgedTrial(Protocol):
    """What aggregation reads of a planned trial (the engine's JudgedTrial is one)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def via(self) -> str | None: ...
    @property
    def monitor(self) -> Mapping[str, list[str]]: ...
    @property
    def criteria(self) -> Sequence[Criterion]: ...
    @property
    def min_samples(self) -> int | None: ...
    @property
    def direction(self) -> str: ...
    @property
    def spec(self) -> _JudgedSpec: ...

__all__ = ["JudgeContext", "aggregate_trial", "aggregate_trials", "judge", "peaks_from_json",
           "run_verdict", "sample_intervals", "voided", "wilson_percent"]


def sample_intervals(series: Mapping[str, Sequence[float]],
                     proportions: Mapping[str, tuple[int, int]]) -> dict[str, tuple[float, float]]:
    """95 % CIs within one repetition (judge/estimates.py): batch means of each
    series' mean, order statistics of its percentiles, Wilson (in %) of each (events, n)
    percentage."""
    return sample_statistics(series, proportions).intervals


@dataclass
class JudgeContext:
    """What criteria read: metrics, their CIs and sample counts, gNodeB peaks, the per-sample
    series share() counts in (KindRun.series), and shares pooled over repetitions."""

    metrics: dict[str, Quantity]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    peaks: dict[tuple[str, str], Quantity] = field(default_factory=dict)
    direction: str = "dl"
    series: Mapping[str, Sequence[float]] = field(default_factory=dict)
    shares: dict[str, tuple[int, int]] = field(default_factory=dict)
    # metrics watched but not reported, and why (a KPI whose every reading was suspect)
    withheld: dict[str, str] = field(default_factory=dict)

    def metric(self, name: str) -> Quantity:
        """The metric's value; MetricWithheld (a KeyError) when the trial withheld it,
        KeyError when the trial has none."""
        if name not in self.metrics and name in self.withheld:
            raise MetricWithheld(name, self.withheld[name])
        return self.metrics[name]

    def interval(self, name: str) -> tuple[float, float] | None:
        """The metric's 95 % CI in its own unit, or None."""
        return self.intervals.get(name)

    def peak(self, device: str, direction: str | None) -> Quantity:
        """TS 38.306 peak × TDD share of a gNodeB's cell (read before the trial)."""
        return self.peaks[(device, direction or self.direction)]

    def share(self, spec: ShareSpec) -> tuple[int, int]:
        """(events, n) pooled over repetitions if given, else counted in the series whose
        unit is its `.mean` metric's; KeyError when there is neither."""
        pooled = self.shares.get(spec.text)
        if pooled is not None:
            return pooled
        key = series_key(spec.series)
        return spec.count(self.series[key], self.metrics[key].unit)


def judge(criteria: Sequence[Criterion], ctx: JudgeContext,
          min_samples: int | None = None, exact: Collection[str] = ()) -> list[CriterionResult]:
    """Evaluate each criterion. A PASS/FAIL becomes INCONCLUSIVE when a metric it reads is a
    statistical estimate with no confidence interval (harness/judge/estimates.py; `exact` are the
    kind's declared exact names/prefixes), or rests on fewer than `min_samples` samples."""
    results = []
    for criterion in criteria:
        result = criterion.evaluate(ctx)
        if result.verdict in (Verdict.PASS, Verdict.FAIL):
            bare = sorted(n for n in criterion.metric_names
                          if n in ctx.metrics and ctx.interval(n) is None
                          and not is_exact(n, exact))
            if bare:
                result = dataclasses.replace(
                    result, verdict=Verdict.INCONCLUSIVE,
                    detail=f"{result.detail}; but '{bare[0]}' is a statistical estimate with no "
                           "95 % confidence interval (too few samples, or too autocorrelated "
                           "for 5 uncorrelated batches): lengthen the trial or add repetitions")
        if min_samples and result.verdict in (Verdict.PASS, Verdict.FAIL):
            short = sorted((n, ctx.counts[n]) for n in criterion.metric_names
                           if n in ctx.counts and ctx.counts[n] < min_samples)
            if short:
                name, count = short[0]
                result = dataclasses.replace(
                    result, verdict=Verdict.INCONCLUSIVE,
                    detail=f"{result.detail}; but '{name}' rests on N={count} sample(s), "
                           f"fewer than min_samples={min_samples}")
        results.append(result)
    return results


def voided(results: Sequence[CriterionResult], reasons: Sequence[str]) -> list[CriterionResult]:
    """`results` of a trial whose figures measure the test equipment, not the device (a
    monitor's void, e.g. the simulator's relay lost datagrams): each PASS and FAIL becomes
    INCONCLUSIVE with the reason. A FAIL too: on figures the equipment cut short, a FAIL would
    blame the device for the equipment's loss."""
    why = "; ".join(reasons)
    return [dataclasses.replace(r, verdict=Verdict.INCONCLUSIVE,
                                detail=f"{r.detail}; but {why}" if r.detail else f"but {why}")
            if r.verdict in (Verdict.PASS, Verdict.FAIL) else r for r in results]


def peaks_from_json(data: Mapping[str, Any]) -> dict[tuple[str, str], Quantity]:
    """`{"gnb1/dl": {value, unit}}` (a trial entry's `peaks`) → {(device, direction): peak}."""
    out: dict[tuple[str, str], Quantity] = {}
    for key, q in data.items():
        device, _, direction = key.partition("/")
        out[(device, direction)] = Quantity(float(q["value"]), str(q["unit"]))
    return out


def _latest(entries: Sequence[Mapping[str, Any]], trial_id: str) -> list[Mapping[str, Any]]:
    """The last entry of each repetition of a trial (retries and resumes append later ones)."""
    by_rep: dict[int, Mapping[str, Any]] = {}
    for entry in entries:
        if entry.get("id") == trial_id:
            by_rep[int(entry.get("repetition", 1))] = entry
    return [by_rep[k] for k in sorted(by_rep)]


def _metric_aggregate(name: str, ok: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    have = [e for e in ok if name in e.get("metrics", {})]
    if not have:
        return None
    values = [float(e["metrics"][name]["value"]) for e in have]
    unit = str(have[0]["metrics"][name]["unit"])
    stats = summarize(values)
    samples = sum(int(e.get("n", {}).get(name, 0)) for e in have)
    props = [e.get("proportions", {}).get(name) for e in have]
    value = stats.mean if stats is not None else values[0]
    ci: tuple[float, float] | None
    if all(p is not None for p in props):
        events, n = sum(int(p[0]) for p in props if p), sum(int(p[1]) for p in props if p)
        ci = wilson_percent(events, n)
        value = events / n * 100.0 if n else value
    elif len(values) >= 2:
        ci = mean_interval(values)
    else:
        raw = have[0].get("ci", {}).get(name)
        ci = (float(raw[0]), float(raw[1])) if raw else None
    out: dict[str, Any] = {"value": value, "unit": unit,
                           "ci": None if ci is None else [ci[0], ci[1]], "n": len(values),
                           "samples": samples}
    if stats is not None:
        out["stats"] = {k: v for k, v in stats.as_dict().items() if k != "samples"}
    return out


def aggregate_trial(trial: JudgedTrial, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The aggregate of one trial id over its repetitions, judged with CIs."""
    reps = _latest(entries, trial.id)
    ok = [e for e in reps if e.get("verdict") != Verdict.ERROR.value]
    # a void repetition's figures are the equipment's: pooled only when no other has any
    valid = [e for e in ok if not e.get("void")]
    pooled = valid or ok
    names = sorted({n for e in pooled for n in e.get("metrics", {})})
    metrics: dict[str, Any] = {}
    for name in names:
        agg = _metric_aggregate(name, pooled)
        if agg is not None:
            metrics[name] = agg
    result: dict[str, Any] = {"id": trial.id, "kind": trial.kind, "repetitions": len(reps),
                              "errors": len(reps) - len(ok), "metrics": metrics,
                              "criteria": [], "verdict": Verdict.ERROR.value}
    shape = TrialShape(trial.kind, trial.spec.shape_direction(), trial.via, trial.monitor)
    gaps = not_covered(trial.spec.criteria, shape)
    if gaps:
        result["not_covered"] = gaps
    if not ok:
        return result
    voids = [e for e in ok if e.get("void")]
    if voids:
        result["void_repetitions"] = [int(e.get("repetition", 1)) for e in voids]
    direction = trial.direction if trial.direction in ("dl", "ul") else "dl"
    ctx = JudgeContext(
        metrics={n: Quantity(m["value"], m["unit"]) for n, m in metrics.items()},
        intervals={n: (m["ci"][0], m["ci"][1]) for n, m in metrics.items() if m["ci"]},
        counts={n: m["samples"] for n, m in metrics.items() if m["samples"]},
        peaks=peaks_from_json(pooled[0].get("peaks", {})), direction=direction,
        shares=pooled_shares(pooled), withheld=_withheld(pooled, metrics))
    exact = sorted({str(x) for e in pooled for x in e.get("exact") or ()})
    results = judge(trial.criteria, ctx, trial.min_samples, exact)
    if not valid:  # every repetition measured the equipment
        reasons = list(dict.fromkeys(str(r) for e in voids for r in e.get("void") or ()))
        result["void"] = reasons
        results = voided(results, reasons)
    result["criteria"] = [r.to_json() for r in results]
    # built-in acceptance is judged per repetition (a failed service in any repetition fails it)
    acceptance = [Verdict(str(a["verdict"])) for e in ok for a in e.get("acceptance") or ()]
    result["verdict"] = worst([*(r.verdict for r in results), *acceptance]).value
    return result


def _withheld(entries: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any]) -> dict[str, str]:
    """Metrics no repetition reports but some withheld (entry `withheld`), with the first
    such repetition's reason: the aggregate withholds them too (INCONCLUSIVE, not ERROR)."""
    out: dict[str, str] = {}
    for entry in entries:
        for name, reason in (entry.get("withheld") or {}).items():
            if str(name) not in metrics:
                out.setdefault(str(name), f"repetition {entry.get('repetition', 1)}: {reason}")
    return out


def pooled_shares(entries: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Each share()'s (events, n) summed over repetitions (once per repetition, whichever of
    its criteria recorded it), so the aggregate judges one Wilson interval of all samples."""
    pooled: dict[str, tuple[int, int]] = {}
    for entry in entries:
        seen: dict[str, tuple[int, int]] = {}
        for criterion in entry.get("criteria") or ():
            for text, (k, n) in (criterion.get("shares") or {}).items():
                seen.setdefault(str(text), (int(k), int(n)))
        for text, (k, n) in seen.items():
            total = pooled.get(text, (0, 0))
            pooled[text] = (total[0] + k, total[1] + n)
    return pooled


def aggregate_trials(planned: Sequence[JudgedTrial],
                     entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """summary.json's `aggregates`: one per trial id that has entries, in plan order."""
    firsts: dict[str, JudgedTrial] = {}
    for trial in planned:
        firsts.setdefault(trial.id, trial)
    ran = {e.get("id") for e in entries}
    return [aggregate_trial(t, entries) for tid, t in firsts.items() if tid in ran]


def run_verdict(entries: Sequence[Mapping[str, Any]],
                aggregates: Sequence[Mapping[str, Any]]) -> Verdict:
    """Worst of the aggregates' verdicts and of every repetition's FAIL or ERROR.

    A repetition that is INCONCLUSIVE (or PASS) on its own is judged again by its trial's
    aggregate, which pools the evidence of every repetition (three 28-sample repetitions are
    one 84-sample share); a repetition that FAILed or could not be measured counts as it is,
    whatever the others did. A repetition whose trial has no aggregate counts as it is.
    """
    pooled = {str(a.get("id")) for a in aggregates}
    counted = [Verdict(str(a["verdict"])) for a in aggregates]
    for entry in entries:
        verdict = Verdict(str(entry["verdict"]))
        if str(entry.get("id")) not in pooled or verdict in (Verdict.FAIL, Verdict.ERROR):
            counted.append(verdict)
    return worst(counted)
