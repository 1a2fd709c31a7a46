"""Compare two runs trial by trial and metric by metric; judge regressions.

Only *judged* metrics can regress: those a trial's criteria read and those the scenario names
under `regression:` (harness/store/judged.py); the rest are shown, never judged. A judged
metric's values are its per-repetition values in each run's summary.json. Its tolerance is
the larger of the threshold (relative to the baseline mean; `--threshold` or the scenario's
`regression.threshold`) and its noise floor (harness/store/noise.py). A change within the
tolerance is never a regression. A worse change beyond it is:

- a **regression** (verdict FAIL) when both runs have ≥ 2 repetitions and Welch's t-test says
  it is not chance (p < alpha);
- **inconclusive** (verdict INCONCLUSIVE) when Welch's test cannot tell it from chance
  (p ≥ alpha), or when either run has a single repetition: one value per side cannot separate a
  change from noise, however large the change.

A void repetition (its figures the test equipment's: the simulated lab's relay lost datagrams)
takes no part on either side. A trial's comparison verdict is the worst of its judged metrics;
the comparison's, the worst of its trials. Both are reported apart from the trials' own
verdicts (reason "regression").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.base.verdict import Verdict, worst
from harness.store.judged import EITHER, HIGHER, direction_by_name, judged_metrics
from harness.store.noise import floor_of
from harness.store.stats import welch

__all__ = ["Comparison", "MetricDiff", "TrialComparison", "compare", "direction_by_name",
           "format_table", "parse_threshold", "scenario_differences"]

# A judged metric the candidate no longer has ("gone": its trial errored, was skipped or was
# removed) cannot show the absence of a regression: INCONCLUSIVE, never a silent PASS.
_VERDICT_OF_STATUS = {"regression": Verdict.FAIL, "inconclusive": Verdict.INCONCLUSIVE,
                      "gone": Verdict.INCONCLUSIVE, "same": Verdict.PASS,
                      "improvement": Verdict.PASS}


@dataclass(frozen=True)
class MetricDiff:
    """One metric of one trial in both runs."""

    trial: str
    metric: str
    unit: str
    baseline: tuple[float, ...]
    candidate: tuple[float, ...]
    better: str  # "higher", "lower", "either" (judged) or "" (not judged)
    change: float | None  # (candidate mean - baseline mean) / |baseline mean|
    p_value: float | None
    status: str  # regression, inconclusive, improvement, same, info, new, gone
    tolerance: float | None = None  # absolute, in `unit`: max(threshold, noise floor)
    floor: str = ""  # the noise floor's family and rule, e.g. "time ±max(20 %, 1 ms)"
    reason: str = ""

    @property
    def judged(self) -> bool:
        """Whether this metric takes part in the regression verdict."""
        return bool(self.better)

    @property
    def verdict(self) -> Verdict | None:
        """FAIL (regression), INCONCLUSIVE, PASS; None when not judged."""
        return _VERDICT_OF_STATUS.get(self.status) if self.judged else None

    @property
    def baseline_mean(self) -> float | None:
        """Mean over the baseline's repetitions."""
        return math.fsum(self.baseline) / len(self.baseline) if self.baseline else None

    @property
    def candidate_mean(self) -> float | None:
        """Mean over the candidate's repetitions."""
        return math.fsum(self.candidate) / len(self.candidate) if self.candidate else None

    def describe(self) -> str:
        """`tput.mean 500 → 400 Mbit/s (-20.0 %, p = 0.001)`: one line for notices and JUnit."""
        unit = f" {self.unit}" if self.unit else ""
        text = f"{self.metric} {_fmt(self.baseline_mean)} → {_fmt(self.candidate_mean)}{unit}"
        if self.change is not None:
            text += f" ({self.change * 100:+.1f} %"
            text += f", p = {self.p_value:.3g})" if self.p_value is not None else ")"
        return text + (f": {self.reason}" if self.reason else "")

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready entry (summary.json `baseline.metrics`, `harness compare --json`)."""
        verdict = self.verdict
        return {"trial": self.trial, "metric": self.metric, "unit": self.unit,
                "baseline": list(self.baseline), "candidate": list(self.candidate),
                "baseline_mean": self.baseline_mean, "candidate_mean": self.candidate_mean,
                "judged": self.judged, "better": self.better, "change": self.change,
                "p_value": self.p_value, "tolerance": self.tolerance, "floor": self.floor,
                "status": self.status, "verdict": None if verdict is None else verdict.value,
                "reason": self.reason}


@dataclass(frozen=True)
class TrialComparison:
    """The regression verdict of one trial (all its repetitions) against the baseline."""

    trial: str
    verdict: Verdict
    diffs: tuple[MetricDiff, ...]

    def as_json(self, baseline_run: str) -> dict[str, Any]:
        """summary.json `baseline.trials[]`: verdict, reason "regression", the metrics."""
        bad = [d for d in self.diffs if d.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE)]
        detail = "; ".join(d.describe() for d in bad)
        return {"id": self.trial, "verdict": self.verdict.value, "reason": "regression",
                "judged": [d.metric for d in self.diffs],
                "metrics": [d.metric for d in bad],
                "detail": f"regression against {baseline_run}: {detail}" if bad else ""}


@dataclass(frozen=True)
class Comparison:
    """Every metric difference between a baseline run and a candidate run."""

    baseline_run: str
    candidate_run: str
    threshold: float
    alpha: float
    diffs: list[MetricDiff] = field(default_factory=list)

    @property
    def regressions(self) -> list[MetricDiff]:
        """The differences judged regressions (FAIL)."""
        return [d for d in self.diffs if d.status == "regression"]

    @property
    def inconclusive(self) -> list[MetricDiff]:
        """Judged differences that cannot be decided (INCONCLUSIVE): worse beyond the
        tolerance but not separable from noise, or judged in the baseline and gone from the
        candidate."""
        return [d for d in self.diffs if d.verdict is Verdict.INCONCLUSIVE]

    @property
    def trials(self) -> list[TrialComparison]:
        """Per trial with judged metrics: its comparison verdict."""
        by_trial: dict[str, list[MetricDiff]] = {}
        for d in self.diffs:
            if d.judged and d.verdict is not None:
                by_trial.setdefault(d.trial, []).append(d)
        return [TrialComparison(t, worst(d.verdict for d in ds if d.verdict), tuple(ds))
                for t, ds in by_trial.items()]

    @property
    def verdict(self) -> Verdict:
        """FAIL on a regression, INCONCLUSIVE on an unresolved one or when no judged metric
        was compared at all (nothing shows the absence of a regression), PASS otherwise."""
        trials = self.trials
        if not trials:
            return Verdict.INCONCLUSIVE
        return worst(t.verdict for t in trials)

    @property
    def reason(self) -> str:
        """Why the verdict is what it is, when the metrics' lines do not say it."""
        if not self.trials:
            return ("nothing to compare: the runs share no judged metric (no criterion or "
                    "`regression:` metric with a value in both)")
        return ""

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record of the comparison."""
        return {"baseline_run": self.baseline_run, "candidate_run": self.candidate_run,
                "threshold": self.threshold, "alpha": self.alpha,
                "verdict": self.verdict.value, "reason": "regression",
                "detail": self.reason,
                "regressions": len(self.regressions), "inconclusive": len(self.inconclusive),
                "trials": [t.as_json(self.baseline_run) for t in self.trials],
                "metrics": [d.as_json() for d in self.diffs]}


def parse_threshold(text: str) -> float:
    """'5%' → 0.05; '0.05' → 0.05. Raises ValueError for anything else."""
    text = text.strip()
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0 <= value < 10 or math.isnan(value):
        raise ValueError(f"threshold {text!r} must be a fraction like 0.05 or a percentage "
                         "like 5%")
    return value


def _values(summary: Mapping[str, Any]) -> dict[tuple[str, str], tuple[list[float], str]]:
    """Each trial's metric values over its repetitions, leaving out void repetitions (their
    figures are the test equipment's, e.g. the simulator's relay lost datagrams)."""
    found: dict[tuple[str, str], tuple[list[float], str]] = {}
    for trial in summary.get("trials") or ():
        if trial.get("void"):
            continue
        for name, metric in (trial.get("metrics") or {}).items():
            value = metric.get("value") if isinstance(metric, Mapping) else None
            if isinstance(value, int | float) and math.isfinite(value):
                entry = found.setdefault((str(trial["id"]), name), ([], str(metric.get("unit"))))
                entry[0].append(float(value))
    return found


def _judge(key: tuple[str, str], a: list[float], b: list[float], unit: str, better: str,
           threshold: float, alpha: float) -> MetricDiff:
    trial, metric = key
    mean_a, mean_b = math.fsum(a) / len(a), math.fsum(b) / len(b)
    delta = mean_b - mean_a
    change = delta / abs(mean_a) if mean_a != 0 else (
        0.0 if mean_b == 0 else math.copysign(math.inf, mean_b))
    test = welch(a, b)
    p_value = test.p_value if test is not None else None
    if not better:
        return MetricDiff(trial, metric, unit, tuple(a), tuple(b), "", change, p_value, "info")
    floor = floor_of(metric, unit)
    tolerance = max(threshold * abs(mean_a), floor.tolerance(mean_a, unit))
    beyond = abs(delta) > tolerance
    worse = beyond and (better == EITHER or (delta < 0) == (better == HIGHER))
    status, reason = "same", ""
    if worse and p_value is None:
        status = "inconclusive"
        reason = ("one repetition on a side: a single value cannot separate the change from "
                  "noise (use repetitions: 2 or more)")
    elif worse and p_value is not None and p_value >= alpha:
        status, reason = "inconclusive", f"not significant (Welch p ≥ alpha {alpha:g})"
    elif worse:
        status = "regression"
    elif beyond:
        status = "improvement"
    return MetricDiff(trial, metric, unit, tuple(a), tuple(b), better, change, p_value, status,
                      tolerance, f"{floor.family} {floor.describe()}", reason)


def compare(baseline: Mapping[str, Any], candidate: Mapping[str, Any], *,
            threshold: float = 0.05, alpha: float = 0.05) -> Comparison:
    """Compare two summary.json documents (baseline first).

    `threshold` applies to trials whose scenario sets no `regression.threshold` (recorded in
    summary.json's `regression` entry)."""
    rules = candidate.get("regression") or baseline.get("regression") or {}
    ways = judged_metrics(baseline.get("trials") or (), rules)
    for key, way in judged_metrics(candidate.get("trials") or (), rules).items():
        ways[key] = way if ways.get(key) in (None, way) else EITHER
    per_trial = {str(t): r.get("threshold") for t, r in (rules.get("trials") or {}).items()}
    base, cand = _values(baseline), _values(candidate)
    diffs: list[MetricDiff] = []
    for key in sorted(set(base) | set(cand)):
        trial, metric = key
        better = ways.get(key, "")
        a, unit = base.get(key, ([], ""))
        b, unit_b = cand.get(key, ([], ""))
        unit = unit_b or unit
        if not a or not b:
            gone = not b
            diffs.append(MetricDiff(trial, metric, unit, tuple(a), tuple(b),
                                    better if gone else "", None, None,
                                    "gone" if gone else "new",
                                    reason="no value in the candidate" if gone else ""))
            continue
        limit = per_trial.get(trial)
        diffs.append(_judge(key, a, b, unit, better,
                            threshold if limit is None else float(limit), alpha))
    return Comparison(str(baseline.get("run_id", "")), str(candidate.get("run_id", "")),
                      threshold, alpha, diffs)


def scenario_differences(baseline: Mapping[str, Any], candidate: Mapping[str, Any]
                         ) -> tuple[bool, list[str]]:
    """How the two runs' scenarios differ: (different scenario names, what differs, one
    line each). Same name but another file (sha256) is said too: criteria may have changed."""
    a, b = baseline.get("scenario") or {}, candidate.get("scenario") or {}
    lines: list[str] = []
    other_name = a.get("name") != b.get("name")
    if other_name:
        lines.append(f"the runs are of different scenarios: baseline '{a.get('name')}', "
                     f"candidate '{b.get('name')}'")
    elif a.get("sha256") and b.get("sha256") and a.get("sha256") != b.get("sha256"):
        lines.append(f"scenario '{a.get('name')}' changed between the runs (sha256 "
                     f"{str(a['sha256'])[:12]} vs {str(b['sha256'])[:12]}): its criteria or "
                     "parameters may differ")
    ids_a = {str(t.get("id")) for t in baseline.get("trials") or ()}
    ids_b = {str(t.get("id")) for t in candidate.get("trials") or ()}
    if ids_a != ids_b:
        lines.append(f"trials in both: {', '.join(sorted(ids_a & ids_b)) or 'none'}; only in "
                     f"the baseline: {', '.join(sorted(ids_a - ids_b)) or 'none'}; only in the "
                     f"candidate: {', '.join(sorted(ids_b - ids_a)) or 'none'}")
    return other_name, lines


def format_table(comparison: Comparison, *, all_metrics: bool = False) -> list[str]:
    """Aligned text lines: judged metrics (or all with `all_metrics`), verdicts marked."""
    rows = [("trial", "metric", "baseline", "candidate", "change", "tolerance", "p", "")]
    for d in comparison.diffs:
        if not all_metrics and not d.judged:
            continue
        mark = {"regression": "REGRESSION", "improvement": "better",
                "inconclusive": "INCONCLUSIVE", "new": "new", "gone": "gone",
                "info": "(not judged)"}.get(d.status, "")
        if d.status == "inconclusive" and d.p_value is None:
            mark += " (1 repetition)"
        tolerance = "" if d.tolerance is None else "±" + _num(d.tolerance, d.unit)
        rows.append((d.trial, d.metric, _num(d.baseline_mean, d.unit, len(d.baseline)),
                     _num(d.candidate_mean, d.unit, len(d.candidate)),
                     "" if d.change is None else f"{d.change * 100:+.1f}%", tolerance,
                     "" if d.p_value is None else f"{d.p_value:.3f}", mark))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.4g}"


def _num(value: float | None, unit: str, n: int | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:,.4g} {unit}".rstrip()
    return text + (f" (n={n})" if n is not None else "")
