"""Compare two runs trial by trial and metric by metric; mark regressions.

A metric's values are its per-repetition values in each run's summary.json. A difference
is a regression when the candidate is worse than the baseline by more than the threshold
(relative to the baseline mean) and Welch's t-test over the repetitions says it is not chance
(p < alpha). With fewer than two repetitions on either side there is no test: the threshold
alone decides, and the comparison says so. Which way is "worse" comes from the trial's
criteria (`throughput.mean >= ...` means higher is better), else from the metric's name
(throughput up, latency/loss/retransmits down); other metrics are shown, never judged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.store.stats import welch

_CRITERION = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|>|<)")
_HIGHER = re.compile(r"^throughput\.(mean|median|p\d+|min|max|bytes)$")
_LOWER = re.compile(r"(^|\.)(rtt|latency|jitter|ipdv|loss|lost|retransmits|delay)(\.|$)")


@dataclass(frozen=True)
class MetricDiff:
    """One metric of one trial in both runs."""

    trial: str
    metric: str
    unit: str
    baseline: tuple[float, ...]
    candidate: tuple[float, ...]
    better: str  # "higher", "lower" or "" (not judged)
    change: float | None  # (candidate mean - baseline mean) / |baseline mean|
    p_value: float | None
    status: str  # regression, improvement, worse-not-significant, same, info, new, gone

    @property
    def baseline_mean(self) -> float | None:
        """Mean over the baseline's repetitions."""
        return math.fsum(self.baseline) / len(self.baseline) if self.baseline else None

    @property
    def candidate_mean(self) -> float | None:
        """Mean over the candidate's repetitions."""
        return math.fsum(self.candidate) / len(self.candidate) if self.candidate else None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready entry (summary.json `baseline.metrics`, `harness compare --json`)."""
        return {"trial": self.trial, "metric": self.metric, "unit": self.unit,
                "baseline": list(self.baseline), "candidate": list(self.candidate),
                "baseline_mean": self.baseline_mean, "candidate_mean": self.candidate_mean,
                "better": self.better, "change": self.change, "p_value": self.p_value,
                "status": self.status}


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
        """The differences marked as regressions."""
        return [d for d in self.diffs if d.status == "regression"]

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record of the comparison."""
        return {"baseline_run": self.baseline_run, "candidate_run": self.candidate_run,
                "threshold": self.threshold, "alpha": self.alpha,
                "regressions": len(self.regressions),
                "metrics": [d.as_json() for d in self.diffs]}


def parse_threshold(text: str) -> float:
    """'5%' → 0.05; '0.05' → 0.05. Raises ValueError for anything else."""
    text = text.strip()
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0 <= value < 10 or math.isnan(value):
        raise ValueError(f"threshold {text!r} must be a fraction like 0.05 or a percentage "
                         "like 5%")
    return value


def directions(trials: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(trial id, metric) → "higher"/"lower", from the trials' criteria."""
    found: dict[tuple[str, str], str] = {}
    for trial in trials:
        for criterion in trial.get("criteria") or ():
            match = _CRITERION.match(str(criterion.get("expr", "")))
            if match:
                found[(str(trial["id"]), match.group(1))] = (
                    "higher" if match.group(2).startswith(">") else "lower")
    return found


def direction_by_name(metric: str) -> str:
    """"higher", "lower" or "" for a metric the criteria say nothing about."""
    if metric.endswith((".samples", ".std", ".count")):
        return ""
    if _LOWER.search(metric):
        return "lower"
    if _HIGHER.match(metric):
        return "higher"
    return ""


def _values(summary: Mapping[str, Any]) -> dict[tuple[str, str], tuple[list[float], str]]:
    found: dict[tuple[str, str], tuple[list[float], str]] = {}
    for trial in summary.get("trials") or ():
        for name, metric in (trial.get("metrics") or {}).items():
            value = metric.get("value") if isinstance(metric, Mapping) else None
            if isinstance(value, int | float) and math.isfinite(value):
                entry = found.setdefault((str(trial["id"]), name), ([], str(metric.get("unit"))))
                entry[0].append(float(value))
    return found


def _judge(a: list[float], b: list[float], better: str, threshold: float,
           alpha: float) -> tuple[float | None, float | None, str]:
    mean_a, mean_b = math.fsum(a) / len(a), math.fsum(b) / len(b)
    change = (mean_b - mean_a) / abs(mean_a) if mean_a != 0 else (
        0.0 if mean_b == 0 else math.copysign(math.inf, mean_b))
    test = welch(a, b)
    p_value = test.p_value if test is not None else None
    if not better:
        return change, p_value, "info"
    worse = change < -threshold if better == "higher" else change > threshold
    improved = change > threshold if better == "higher" else change < -threshold
    significant = p_value is None or p_value < alpha
    if worse:
        return change, p_value, "regression" if significant else "worse-not-significant"
    if improved and significant:
        return change, p_value, "improvement"
    return change, p_value, "same"


def compare(baseline: Mapping[str, Any], candidate: Mapping[str, Any], *,
            threshold: float = 0.05, alpha: float = 0.05) -> Comparison:
    """Compare two summary.json documents (baseline first)."""
    ways = directions(baseline.get("trials") or ())
    ways.update(directions(candidate.get("trials") or ()))
    base, cand = _values(baseline), _values(candidate)
    diffs: list[MetricDiff] = []
    for key in sorted(set(base) | set(cand)):
        trial, metric = key
        better = ways.get(key) or direction_by_name(metric)
        a, unit = base.get(key, ([], ""))
        b, unit_b = cand.get(key, ([], ""))
        unit = unit_b or unit
        if not a or not b:
            diffs.append(MetricDiff(trial, metric, unit, tuple(a), tuple(b), better, None, None,
                                    "new" if b else "gone"))
            continue
        change, p_value, status = _judge(a, b, better, threshold, alpha)
        diffs.append(MetricDiff(trial, metric, unit, tuple(a), tuple(b), better, change,
                                p_value, status))
    return Comparison(str(baseline.get("run_id", "")), str(candidate.get("run_id", "")),
                      threshold, alpha, diffs)


def format_table(comparison: Comparison, *, all_metrics: bool = False) -> list[str]:
    """Aligned text lines: judged metrics (or all with `all_metrics`), regressions marked."""
    rows = [("trial", "metric", "baseline", "candidate", "change", "p", "")]
    for d in comparison.diffs:
        if not all_metrics and not d.better:
            continue
        mark = {"regression": "REGRESSION", "improvement": "better",
                "worse-not-significant": "worse (not significant)",
                "new": "new", "gone": "gone"}.get(d.status, "")
        if d.status in ("regression", "improvement") and d.p_value is None:
            mark += " (no test: <2 repetitions)"
        rows.append((d.trial, d.metric, _num(d.baseline_mean, d.unit, len(d.baseline)),
                     _num(d.candidate_mean, d.unit, len(d.candidate)),
                     "" if d.change is None else f"{d.change * 100:+.1f}%",
                     "" if d.p_value is None else f"{d.p_value:.3f}", mark))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def _num(value: float | None, unit: str, n: int) -> str:
    if value is None:
        return "-"
    return f"{value:,.4g} {unit}".rstrip() + f" (n={n})"
