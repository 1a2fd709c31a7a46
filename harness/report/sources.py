"""What each criterion row of the report cites and rests on: its metric, its standard and clause
(or the scenario author and the scenario file's hash), its 95 % interval and its N (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harness.report.formatting import format_number
from harness.report.i18n import Translator

QCVN_126 = "QCVN 126:2021/BTTTT"

#: QCVN 126:2021/BTTTT §2.1 indicators (the regulation's table of contents, §2.1.1–2.1.5; the
#: speed thresholds are in §2.1.5.2), matched on the wording the presets cite them by.
QCVN_126_CLAUSES: tuple[tuple[str, str], ...] = (
    ("radio-network availability", "§2.1.1"),
    ("unsuccessful access", "§2.1.2"),
    ("access latency", "§2.1.3"),
    ("dropped-transfer", "§2.1.4"),
    ("download speed", "§2.1.5.2"),
    ("upload speed", "§2.1.5.2"),
    ("download samples", "§2.1.5.2"),
)

_METRIC = re.compile(r"[A-Za-z_][\w.\-]*")
_CI_IN_DETAIL = re.compile(r"95 % CI \[([-\d.e+]+), ([-\d.e+]+)\]")


def cite_clause(source: str) -> str:
    """`QCVN 126:2021/BTTTT, average download speed…` → `QCVN 126:2021/BTTTT §2.1.5.2, …`;
    any other source unchanged (and a QCVN citation that already names a clause too)."""
    if not source.startswith(QCVN_126) or source[len(QCVN_126):].lstrip().startswith("§"):
        return source
    lowered = source.lower()
    for words, clause in QCVN_126_CLAUSES:
        if words in lowered:
            return f"{QCVN_126} {clause}{source[len(QCVN_126):]}"
    return source


def criterion_source(criterion: Mapping[str, Any], scenario_sha256: str, tr: Translator,
                     builtin: bool = False) -> str:
    """The criterion's standard and clause; a scenario criterion without one cites the
    scenario's author and the scenario file's SHA-256 (never a dash)."""
    source = str(criterion.get("source") or "").strip()
    if source:
        return cite_clause(source)
    if builtin:
        return tr("source.builtin")
    return f"{tr('source.scenario_author')} ({tr('source.scenario_sha')} {scenario_sha256})"


def criterion_metric(expr: str) -> str:
    """The metric a criterion reads first: `|crosscheck.deviation| <= 5 %` → `crosscheck.
    deviation`, `share(throughput >= 30 Mbit/s) >= 95 %` → `throughput`; "" when none."""
    for match in _METRIC.finditer(expr):
        end = match.end()
        if end < len(expr) and expr[end] == "(":
            continue  # a function name: share(, peak(, rate(
        return match.group(0)
    return ""


def criterion_interval(criterion: Mapping[str, Any], trial: Mapping[str, Any],
                       metric: str) -> tuple[float, float] | None:
    """The 95 % interval the verdict rested on: the trial's for the metric, else the one the
    criterion's detail states (a share's Wilson interval, an arithmetic's carried interval)."""
    ci = (trial.get("ci") or {}).get(metric)
    expr = str(criterion.get("expr", ""))
    if (isinstance(ci, list | tuple) and len(ci) == 2 and not expr.startswith("share(")
            and all(isinstance(v, int | float) for v in ci)):
        return float(ci[0]), float(ci[1])
    found = _CI_IN_DETAIL.search(str(criterion.get("detail") or ""))
    if found:
        try:
            return float(found.group(1)), float(found.group(2))
        except ValueError:
            return None
    return None


def criterion_n(criterion: Mapping[str, Any], trial: Mapping[str, Any], metric: str) -> str:
    """How many samples the criterion's metric rests on (a share: its N), or a dash."""
    shares = criterion.get("shares")
    if isinstance(shares, Mapping) and shares:
        counts = [v for v in shares.values() if isinstance(v, list | tuple) and len(v) == 2]
        if counts:
            return ", ".join(f"{format_number(n)}" for _, n in counts)
    n = (trial.get("n") or {}).get(metric)
    return format_number(n) if n is not None else "—"


def format_interval(interval: tuple[float, float] | None, unit: str, exact: bool,
                    tr: Translator) -> str:
    """`[1732.13, 1737.96] Mbit/s`; "exact" for an exact observation; "none" otherwise."""
    if interval is None:
        return tr("ci.exact") if exact else tr("ci.none")
    low, high = (format_number(v) for v in interval)
    return f"[{low}, {high}] {unit}".rstrip()


def is_exact(metric: str, trial: Mapping[str, Any]) -> bool:
    """Whether the trial marks the metric as an exact observation (no interval needed)."""
    prefixes = [str(p) for p in trial.get("exact") or ()]
    return any(metric == p or (p.endswith(".") and metric.startswith(p)) for p in prefixes)
