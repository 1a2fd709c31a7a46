"""Which metrics a regression is judged on, and which way is worse.

Only the metrics a trial's criteria read (`parse_criterion(expr).metric_names`) and those the
scenario names under `regression: {metrics: [...]}` are judged; every other metric is shown by
`harness compare`, never judged. The direction comes from the comparison and from the side
(and sign) the metric is on: in `throughput.mean >= 0.6 * peak(gnb1)` higher is better, in
`100 Mbit/s <= throughput.mean` too, in `rtt.p95 <= 30 ms` and `100 % - loss <= ...` lower is;
`==`/`!=` (and a metric on both sides) make any change beyond the tolerance count ("either").
The criteria package reads the direction off the parsed criterion (`Criterion.directions`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from harness.base.errors import ConfigError
from harness.judge.criteria import parse_criterion

HIGHER, LOWER, EITHER = "higher", "lower", "either"

def criterion_directions(expr: str) -> dict[str, str]:
    """metric → "higher"/"lower"/"either" for every metric a criterion compares by value.

    Raises ConfigError when the criterion does not parse."""
    return parse_criterion(expr).directions()


def _merge(old: str | None, new: str) -> str:
    return new if old in (None, new) else EITHER


def judged_metrics(trials: Iterable[Mapping[str, Any]],
                   rules: Mapping[str, Any] | None = None) -> dict[tuple[str, str], str]:
    """(trial id, metric) → direction for every judged metric of a summary's trials.

    `rules` is summary.json's `regression` entry: `{"trials": {id: {"metrics": [...]}}}`; a
    named metric that no criterion reads is judged by its name (`direction_by_name`), else
    either way."""
    found: dict[tuple[str, str], str] = {}
    for trial in trials:
        tid = str(trial.get("id", ""))
        for criterion in trial.get("criteria") or ():
            try:
                ways = criterion_directions(str(criterion.get("expr", "")))
            except (ConfigError, ValueError):
                continue
            for name, way in ways.items():
                found[(tid, name)] = _merge(found.get((tid, name)), way)
    for tid, rule in ((rules or {}).get("trials") or {}).items():
        for name in rule.get("metrics") or ():
            key = (str(tid), str(name))
            if key not in found:
                found[key] = direction_by_name(str(name)) or EITHER
    return found


_HIGHER = re.compile(r"(^|\.)(throughput|goodput|rate|efficiency|share)(\.|$)")
_LOWER = re.compile(r"(^|\.)(rtt|latency|jitter|ipdv|fdv|loss|lost|retransmits|delay|"
                    r"buffer_delay)(\.|$)")


def direction_by_name(metric: str) -> str:
    """"higher", "lower" or "" (unknown) from a metric's name alone."""
    if metric.endswith((".samples", ".std", ".count", ".packets")):
        return ""
    if _LOWER.search(metric):
        return LOWER
    if _HIGHER.search(metric):
        return HIGHER
    return ""
