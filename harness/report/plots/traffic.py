"""Traffic figures: throughput with thresholds, repetition overlays, KPI panels aligned with the
traffic on one time axis, and per-repetition box plots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from harness.report.plots.base import (
    THRESHOLD_COLOURS,
    FloatArray,
    Plot,
    PlotWriter,
    TrialKey,
    axis_label,
    bi,
    colour,
    legend,
    lines,
    new_figure,
    number,
    style,
    time_axis,
    time_label,
)
from harness.report.plots.envelope import decimate
from harness.report.plots.source import SampleSource, Series

#: Rate units a threshold may carry, in Mbit/s.
_TO_MBITS: Mapping[str, float] = {
    "bit/s": 1e-6, "bps": 1e-6, "kbit/s": 1e-3, "kbps": 1e-3, "Mbit/s": 1.0, "Mbps": 1.0,
    "Gbit/s": 1e3, "Gbps": 1e3,
}
THROUGHPUT = ("Thông lượng", "Throughput", "Mbit/s")
RTT = ("Thời gian trễ khứ hồi (RTT)", "Round-trip time (RTT)", "ms")
_FIXED_LAYOUT_PANELS = 6  # more panels than this: fixed margins (constrained layout is slow)
#: Where a trial's traffic is, for the top panel of its KPI figure: (measurement, field,
#: scale to Mbit/s, tags that split it into lines).
TRAFFIC: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("throughput", "bits_per_second", 1e-6, ("direction", "protocol")),
    ("sharing", "bits_per_second", 1e-6, ("phase", "plmn")),
    ("soak", "throughput_mbps", 1.0, ()),
)


def throughput_thresholds(criteria: Iterable[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """(expr, threshold in Mbit/s) for each throughput criterion with a rate threshold."""
    lines: list[tuple[str, float]] = []
    for criterion in criteria:
        expr = str(criterion.get("expr", ""))
        threshold = criterion.get("threshold")
        if "throughput." not in expr or not isinstance(threshold, Mapping):
            continue
        value = number(threshold.get("value"))
        factor = _TO_MBITS.get(str(threshold.get("unit", "")))
        if value is not None and factor is not None:
            lines.append((expr, value * factor))
    return lines


def relative(series: Series, t0_ns: int, scale: float = 1.0) -> tuple[FloatArray, FloatArray]:
    """(seconds since t0, value × scale), decimated to the min/max envelope."""
    times, values = series
    return decimate((times - t0_ns).astype(np.float64) / 1e9, values * scale)


def _label(tag: tuple[str, ...], default: str) -> str:
    return "/".join(part for part in tag if part) or default


def _thresholds(ax: Any, criteria: Iterable[Mapping[str, Any]]) -> None:
    for i, (expr, mbits) in enumerate(throughput_thresholds(criteria)):
        ax.axhline(mbits, linestyle="--", linewidth=1.0,
                   color=THRESHOLD_COLOURS[i % len(THRESHOLD_COLOURS)],
                   label=f"{expr} ({mbits:.6g} Mbit/s)")


def _span(lines: Iterable[tuple[FloatArray, FloatArray]]) -> float:
    ends = [float(t[-1]) for t, _ in lines if len(t)]
    return max(ends, default=0.0)


def plot_throughput(writer: PlotWriter, source: SampleSource, key: TrialKey,
                    criteria: Sequence[Mapping[str, Any]], t0_ns: int, stem: str) -> Plot | None:
    """One trial run's throughput (Mbit/s) per direction/protocol with its thresholds."""
    found = source.series(key, "throughput", "bits_per_second", ("direction", "protocol"))
    curves = [(_label(tag, "throughput"), *relative(s, t0_ns, 1e-6)) for tag, s in found.items()]
    if not curves:
        return None
    lang = writer.lang
    div, _, _ = time_axis(_span((t, v) for _, t, v in curves))
    figure = new_figure(8.0, 3.8)
    ax = figure.add_subplot()
    for i, (label, times, values) in enumerate(curves):
        ax.plot(times / div, values, linewidth=1.1, color=colour(i),
                marker="." if len(times) < 60 else None, label=label)
    _thresholds(ax, criteria)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(time_label(div, lang), fontsize=9)
    ax.set_ylabel(axis_label(*THROUGHPUT[:2], THROUGHPUT[2], lang), fontsize=9)
    legend(ax, "lower right")
    style(ax)
    vi, en = "Thông lượng theo thời gian", "Throughput over time"
    writer.title(figure, vi, en, f"{key[0]} #{key[1]}")
    return writer.save(figure, f"{stem}-throughput", "throughput", vi, en)


def plot_traffic_kpis(writer: PlotWriter, source: SampleSource, key: TrialKey,
                      t0_ns: int, stem: str) -> Plot | None:
    """The traffic on top and one panel per polled KPI below it, on one shared time axis."""
    kpis = source.series(key, "kpi", "value", ("kpi", "unit", "device"))
    if not kpis:
        return None
    lang = writer.lang
    top: list[tuple[str, FloatArray, FloatArray]] = []
    for measurement, field, scale, by in TRAFFIC:  # the first measurement the trial has
        traffic = source.series(key, measurement, field, by)
        top = [(_label(tag, bi("mỗi lần đo", "each probe", lang)),
                *relative(s, t0_ns, scale))
               for tag, s in traffic.items()]
        if top:
            break
    panels: dict[tuple[str, str], list[tuple[str, FloatArray, FloatArray]]] = {}
    for (kpi, unit, device), series in kpis.items():
        panels.setdefault((kpi, unit), []).append((device or kpi, *relative(series, t0_ns)))
    span = _span([(t, v) for curves in panels.values() for _, t, v in curves]
                 + [(t, v) for _, t, v in top])
    div, _, _ = time_axis(span)
    rows = len(panels) + (1 if top else 0)
    many = rows > _FIXED_LAYOUT_PANELS
    panel = 1.15 if many else 1.6
    height = 0.9 + panel * rows
    figure = new_figure(8.0, height, constrained=not many)
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    if many:  # fixed margins in inches: a panel title above each, two title lines on top
        figure.subplots_adjust(left=0.1, right=0.98, top=1 - 0.7 / height,
                               bottom=0.5 / height, hspace=0.32 / (panel - 0.32))
    index = 0
    if top:
        ax = axes[0]
        for i, (label, times, values) in enumerate(top):
            ax.plot(times / div, values, linewidth=1.0, color=colour(i), label=label,
                    marker="." if len(times) < 60 else None)
        ax.set_ylabel(lines(f"{THROUGHPUT[0]} ({THROUGHPUT[2]})",
                            f"{THROUGHPUT[1]} ({THROUGHPUT[2]})", lang), fontsize=7)
        ax.set_ylim(bottom=0)
        legend(ax)
        style(ax)
        index = 1
    for ax, ((kpi, unit), curves) in zip(axes[index:], sorted(panels.items()), strict=True):
        for i, (device, times, values) in enumerate(curves):
            ax.plot(times / div, values, linewidth=1.0, color=colour(i + 3),
                    marker="." if len(times) < 60 else None, label=device)
        ax.set_title(f"{kpi} ({unit})" if unit else kpi, fontsize=8, loc="left")
        ax.set_ylabel(axis_label("Giá trị", "Value", unit, lang), fontsize=7)
        legend(ax)
        style(ax)
    axes[-1].set_xlabel(time_label(div, lang), fontsize=9)
    vi, en = "Các KPI thu thập từ thiết bị, cùng trục thời gian với lưu lượng", \
        "KPIs polled from the devices, on the traffic's time axis"
    writer.title(figure, vi, en, f"{key[0]} #{key[1]}")
    return writer.save(figure, f"{stem}-kpi", "kpi", vi, en)


def plot_repetitions(writer: PlotWriter, source: SampleSource, trial_id: str,
                     runs: Sequence[tuple[TrialKey, Sequence[Mapping[str, Any]]]],
                     stem: str) -> Plot | None:
    """Every repetition's throughput overlaid, each from its own start, with the thresholds."""
    curves = []
    for key, _ in runs:
        found = source.series(key, "throughput", "bits_per_second", ("direction",))
        firsts = [int(s[0][0]) for s in found.values() if len(s[0])]
        start = min(firsts) if firsts else None  # each repetition from its first interval
        for tag, series in found.items():
            if start is not None and len(series[0]):
                label = f"#{key[1]}" + (f" {tag[0]}" if tag[0] else "")
                curves.append((label, *relative(series, start, 1e-6)))
    if len(runs) < 2 or not curves:
        return None
    lang = writer.lang
    div, _, _ = time_axis(_span((t, v) for _, t, v in curves))
    figure = new_figure(8.0, 3.8)
    ax = figure.add_subplot()
    for i, (label, times, values) in enumerate(curves):
        ax.plot(times / div, values, linewidth=1.0, alpha=0.85, color=colour(i), label=label,
                marker="." if len(times) < 60 else None)
    _thresholds(ax, runs[-1][1])
    ax.set_ylim(bottom=0)
    ax.set_xlabel(bi("Thời gian từ khoảng đo đầu tiên của lần lặp",
                     "Time since the repetition's first interval", lang)
                  + f" ({'s' if div == 1 else 'min' if div == 60 else 'h'})", fontsize=9)
    ax.set_ylabel(axis_label(*THROUGHPUT[:2], THROUGHPUT[2], lang), fontsize=9)
    legend(ax, "lower right")
    style(ax)
    vi, en = "Thông lượng của các lần lặp, chồng lên nhau", "Throughput of every repetition"
    writer.title(figure, vi, en, trial_id)
    return writer.save(figure, f"{stem}-repetitions", "repetitions", vi, en)


#: What a box plot shows per kind: (measurement, field, scale, (vi, en, unit)).
BOX_FIGURES: Mapping[str, tuple[str, str, float, tuple[str, str, str]]] = {
    "throughput": ("throughput", "bits_per_second", 1e-6, THROUGHPUT),
    "latency": ("latency", "rtt_ms", 1.0, RTT),
    "soak": ("soak", "throughput_mbps", 1.0, THROUGHPUT),
}


def plot_boxes(writer: PlotWriter, source: SampleSource, trial_id: str, kind: str,
               keys: Sequence[TrialKey], stem: str) -> Plot | None:
    """A box per repetition of the trial's per-interval values (throughput, RTT)."""
    what = BOX_FIGURES.get(kind)
    if what is None or len(keys) < 2:
        return None
    measurement, field, scale, (q_vi, q_en, unit) = what
    data, labels = [], []
    for key in keys:
        found = source.series(key, measurement, field)
        values = np.concatenate([v for _, v in found.values()]) if found else np.zeros(0)
        if len(values):
            data.append(values * scale)
            labels.append(f"#{key[1]}\nN={len(values)}")
    if len(data) < 2:
        return None
    lang = writer.lang
    figure = new_figure(8.0, 3.6)
    ax = figure.add_subplot()
    ax.boxplot(data, tick_labels=labels, showfliers=True, whis=(5, 95),
               flierprops={"markersize": 2})
    ax.set_xlabel(bi("Lần lặp (râu: P5–P95)", "Repetition (whiskers: P5–P95)", lang),
                  fontsize=9)
    ax.set_ylabel(axis_label(q_vi, q_en, unit, lang), fontsize=9)
    style(ax)
    vi, en = f"{q_vi} theo từng lần lặp", f"{q_en} per repetition"
    writer.title(figure, vi, en, trial_id)
    return writer.save(figure, f"{stem}-boxes", "boxes", vi, en)
