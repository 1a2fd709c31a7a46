"""The executive summary's lines: one per trial, pooled over its repetitions (the aggregate's
verdict and deciding figure with its 95 % interval); the repetitions stay in the trial
details (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.base.verdict import Verdict
from harness.report import i18n
from harness.report.formatting import format_quantity
from harness.report.i18n import Translator
from harness.report.sources import criterion_interval, criterion_metric, format_interval
from harness.report.view import SummaryLineView, TrialView, VerdictView


def _verdict(view: VerdictView) -> Verdict:
    return i18n.parse_verdict(view.code)


def _worst_rep(reps: Sequence[TrialView]) -> TrialView:
    """The worst repetition (the first of equals)."""
    return max(reps, key=lambda t: _verdict(t.verdict).severity)


def _rep_figure(rep: TrialView, count: int, tr: Translator) -> str:
    return f"{tr('repetition')} #{rep.repetition}: {rep.deciding}" if count > 1 else rep.deciding


def _pooled_figure(aggregate: Mapping[str, Any], exact: Sequence[str],
                   tr: Translator) -> str | None:
    """The aggregate's worst criterion: `expr: observed, 95 % CI [lo, hi] (threshold …)`."""
    criteria = [c for c in aggregate.get("criteria") or () if isinstance(c, Mapping)
                and c.get("verdict") is not None]
    if not criteria:
        return None
    worst = max(criteria, key=lambda c: i18n.parse_verdict(c.get("verdict")).severity)
    expr = str(worst.get("expr", ""))
    metric = criterion_metric(expr)
    metrics = aggregate.get("metrics") or {}
    pooled = {"ci": {n: m.get("ci") for n, m in metrics.items() if isinstance(m, Mapping)}}
    observed = worst.get("observed")
    unit = str(observed.get("unit") or "") if isinstance(observed, Mapping) else ""
    interval = criterion_interval(worst, pooled, metric) if metric else None
    is_exact = any(metric == p or (p.endswith(".") and metric.startswith(p)) for p in exact)
    return (f"{expr}: {format_quantity(observed)}, {tr('ci95')} "
            f"{format_interval(interval, unit, is_exact, tr)} "
            f"({tr('threshold')} {format_quantity(worst.get('threshold'))})")


def summary_lines(summary: Mapping[str, Any], trials: Sequence[TrialView],
                  tr: Translator) -> list[SummaryLineView]:
    """One line per trial id, in run order. With an aggregate: its verdict, made worse by any
    repetition that FAILed or could not be measured (as the run's verdict counts them), and
    its deciding figure with the pooled 95 % interval; without one (an older summary): the
    worst repetition's."""
    aggregates = {str(a.get("id")): a for a in summary.get("aggregates") or ()
                  if isinstance(a, Mapping) and a.get("verdict") is not None}
    by_id: dict[str, list[TrialView]] = {}
    for trial in trials:
        by_id.setdefault(trial.id, []).append(trial)
    lines = []
    for tid, reps in by_id.items():
        worst_rep = _worst_rep(reps)
        aggregate = aggregates.get(tid)
        count = len(reps)
        if aggregate is None:
            verdict, figure = worst_rep.verdict, _rep_figure(worst_rep, count, tr)
        else:
            pooled = i18n.parse_verdict(aggregate.get("verdict"))
            counted = [r for r in reps if _verdict(r.verdict) in (Verdict.FAIL, Verdict.ERROR)]
            worst_counted = _worst_rep(counted) if counted else None
            exact = sorted({str(x) for t in summary.get("trials") or ()
                            if isinstance(t, Mapping) and str(t.get("id")) == tid
                            for x in t.get("exact") or ()})
            if (worst_counted is not None
                    and _verdict(worst_counted.verdict).severity > pooled.severity):
                verdict = worst_counted.verdict
                figure = _rep_figure(worst_counted, count, tr)
            else:
                verdict = VerdictView(pooled.value.lower(), tr.verdict(pooled))
                figure = (_pooled_figure(aggregate, exact, tr)
                          or _rep_figure(worst_rep, count, tr))
            reps_total = aggregate.get("repetitions")
            count = reps_total if isinstance(reps_total, int) and reps_total > 0 else count
            errors = aggregate.get("errors")
            if isinstance(errors, int) and errors and verdict.code != "error":
                figure += f"; {tr('summary.rep_errors').format(errors=errors, n=count)}"
        lines.append(SummaryLineView(tid, reps[0].anchor, reps[0].kind, verdict, count,
                                     figure, reps[0].rules))
    return lines
