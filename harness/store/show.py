"""`harness show RUN`: a run's summary.json as readable text, one line per trial unless
asked for more."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _value(entry: object) -> str:
    if not isinstance(entry, Mapping) or entry.get("value") is None:
        return "-"
    value = entry["value"]
    text = f"{value:,.4g}" if isinstance(value, float) else str(value)
    return f"{text} {entry.get('unit') or ''}".rstrip()


def trial_label(trial: Mapping[str, Any]) -> str:
    """`throughput-dl-tcp #2`: how a trial (one repetition) is named on screen."""
    return f"{trial.get('id')} #{trial.get('repetition')}"


def select_trials(trials: list[Mapping[str, Any]], wanted: str) -> list[Mapping[str, Any]]:
    """The trials `--trial` names: every repetition of an id, or one as `ID#REP`; ValueError
    naming the run's trial ids when none matches."""
    trial_id, _, rep = wanted.partition("#")
    found = [t for t in trials if t.get("id") == trial_id.strip()
             and (not rep or str(t.get("repetition")) == rep.strip())]
    if not found:
        ids = ", ".join(dict.fromkeys(str(t.get("id")) for t in trials)) or "none"
        raise ValueError(f"no trial {wanted!r} in this run (trials: {ids}; one repetition: "
                         "ID#REP)")
    return found


def _headline(trial: Mapping[str, Any]) -> str:
    """One line: verdict, name, the figures the criteria judged, how many criteria passed."""
    criteria = trial.get("criteria") or ()
    figures: dict[str, str] = {}
    for criterion in criteria:
        name = str(criterion.get("expr") or "").split(" ", 1)[0]
        if name and name not in figures:
            figures[name] = _value(criterion.get("observed"))
    passed = sum(1 for c in criteria if c.get("verdict") == "PASS")
    parts = [f"{trial.get('verdict', '?'):<12} {trial_label(trial)}"]
    parts += [f"{name} {value}" for name, value in figures.items()]
    if criteria:
        parts.append(f"criteria {passed}/{len(criteria)} pass")
    attempts = trial.get("attempts") or 1
    if attempts > 1:
        parts.append(f"attempts {attempts}")
    return "  ".join(parts)


def _details(trial: Mapping[str, Any]) -> list[str]:
    lines = []
    if trial.get("error"):
        lines.append(f"  error: {trial['error']}")
    for name, metric in sorted((trial.get("metrics") or {}).items()):
        lines.append(f"  {name:<40} {_value(metric)}")
    for criterion in trial.get("criteria") or ():
        lines.append(f"  [{criterion.get('verdict')}] {criterion.get('expr')}: observed "
                     f"{_value(criterion.get('observed'))}, threshold "
                     f"{_value(criterion.get('threshold'))}")
    for note in trial.get("notes") or ():
        lines.append(f"  note: {note}")
    return lines


def _concise(trial: Mapping[str, Any]) -> list[str]:
    """The headline, then only what went wrong: the error and the criteria not passed."""
    lines = [_headline(trial)]
    if trial.get("error"):
        lines.append(f"  error: {trial['error']}")
    for criterion in trial.get("criteria") or ():
        if criterion.get("verdict") != "PASS":
            lines.append(f"  [{criterion.get('verdict')}] {criterion.get('expr')}: observed "
                         f"{_value(criterion.get('observed'))}")
    return lines


def summary_lines(summary: Mapping[str, Any], run_dir: Path, *, trial: str | None = None,
                  verbose: bool = False) -> list[str]:
    """Header, devices, one line per trial (what failed under it), then results and baseline.

    `verbose` or `trial` (an id, or ID#REP; ValueError if the run has none) give each shown
    trial's every metric and criterion.
    """
    scenario = summary.get("scenario") or {}
    lab = summary.get("lab") or {}
    lines = [f"run {summary.get('run_id')}: {summary.get('verdict')}",
             f"  scenario {scenario.get('name')}  lab {lab.get('name')}  "
             f"{summary.get('started')} → {summary.get('finished')}"
             + ("  (interrupted)" if summary.get("interrupted") else ""),
             f"  directory {run_dir}"]
    if summary.get("setup_error"):
        lines.append(f"  setup error: {summary['setup_error']}")
    for device in summary.get("devices") or ():
        facts = " ".join(str(device.get(k)) for k in ("vendor", "model") if device.get(k))
        lines.append(f"  device {device.get('name')} ({device.get('role')}): {facts} "
                     f"firmware {device.get('firmware') or '-'} serial "
                     f"{device.get('serial') or '-'}".replace("  ", " "))
    trials = list(summary.get("trials") or ())
    shown = select_trials(trials, trial) if trial is not None else trials
    if trial is None:
        counts: dict[str, int] = {}
        for t in trials:
            counts[str(t.get("verdict"))] = counts.get(str(t.get("verdict")), 0) + 1
        lines.append(f"{len(trials)} trial(s): "
                     + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    for t in shown:
        if verbose or trial is not None:
            lines.append(_headline(t))
            lines.extend(_details(t))
        else:
            lines.extend(_concise(t))
    results = summary.get("results") or {}
    if results:
        lines.append(f"samples stored: {results.get('samples')}"
                     + (f", rejected: {results['rejected_samples']}"
                        if results.get("rejected_samples") else ""))
        influx = results.get("influxdb")
        if isinstance(influx, Mapping):
            lines.append(f"InfluxDB {influx.get('destination')}: sent {influx.get('sent')}, "
                         f"pending {influx.get('pending')}"
                         + (f", refused: {influx['refused']}" if influx.get("refused") else ""))
    baseline = summary.get("baseline")
    if isinstance(baseline, Mapping):
        if baseline.get("run_id"):
            lines.append(f"baseline {baseline['run_id']}: {baseline.get('regressions', 0)} "
                         f"regression(s) beyond {float(baseline.get('threshold', 0)):.1%}")
            for metric in baseline.get("metrics") or ():
                if metric.get("status") == "regression":
                    lines.append(f"  REGRESSION {metric['trial']} {metric['metric']}: "
                                 f"{metric['baseline_mean']:.4g} → {metric['candidate_mean']:.4g}"
                                 f" {metric['unit']} ({(metric['change'] or 0) * 100:+.1f}%)")
        elif baseline.get("note"):
            lines.append(f"baseline: {baseline['note']}")
    if not verbose and trial is None and trials:
        lines.append("(every metric and criterion: --verbose, or --trial ID for one trial)")
    return lines
