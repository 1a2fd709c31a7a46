"""`harness show RUN`: a run's summary.json as readable text."""

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


def summary_lines(summary: Mapping[str, Any], run_dir: Path) -> list[str]:
    """Header, devices, each trial with metrics and criteria, then results and baseline."""
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
    for trial in summary.get("trials") or ():
        lines.append(f"trial {trial.get('id')} #{trial.get('repetition')}: "
                     f"{trial.get('verdict')}")
        if trial.get("error"):
            lines.append(f"  error: {trial['error']}")
        for name, metric in sorted((trial.get("metrics") or {}).items()):
            lines.append(f"  {name:<40} {_value(metric)}")
        for criterion in trial.get("criteria") or ():
            lines.append(f"  [{criterion.get('verdict')}] {criterion.get('expr')}: observed "
                         f"{_value(criterion.get('observed'))}, threshold "
                         f"{_value(criterion.get('threshold'))}")
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
    return lines
