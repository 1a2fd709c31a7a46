"""Report plots: throughput time series with thresholds, and the polled KPI series.

Matplotlib's object API with the Agg canvas only: no pyplot, no global figure state, no display.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.base.sample import Sample
from harness.report.i18n import text

DPI = 150
#: Series longer than this are decimated (min/max per bucket, so peaks and dips survive).
MAX_POINTS = 5000

#: Rate units a threshold may carry, in Mbit/s.
_TO_MBITS: Mapping[str, float] = {
    "bit/s": 1e-6,
    "bps": 1e-6,
    "kbit/s": 1e-3,
    "kbps": 1e-3,
    "Mbit/s": 1.0,
    "Mbps": 1.0,
    "Gbit/s": 1e3,
    "Gbps": 1e3,
}

FloatArray = npt.NDArray[np.float64]
TrialKey = tuple[str, str]
"""(trial id, repetition as text): how samples' tags name a trial run."""


@dataclass(frozen=True)
class Plot:
    """One written figure: its file and a bilingual caption for the report."""

    path: Path
    kind: str
    caption: str


def slugify(value: str) -> str:
    """A file-name-safe form of `value`: ASCII letters, digits, `-`, `_` and `.`; never empty."""
    ascii_only = unicodedata.normalize("NFKD", value.replace("đ", "d").replace("Đ", "D"))
    ascii_only = ascii_only.encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_only).strip("-.")
    return slug[:80] or "trial"


def decimate(
    times: FloatArray, values: FloatArray, max_points: int = MAX_POINTS
) -> tuple[FloatArray, FloatArray]:
    """At most ~`max_points` points: the min and max of each bucket, kept in time order."""
    n = len(times)
    if n <= max_points:
        return times, values
    buckets = max(1, max_points // 2)
    edges: list[int] = np.linspace(0, n, buckets + 1).astype(np.int64).tolist()
    keep: list[int] = []
    for lo, hi in itertools.pairwise(edges):
        if hi <= lo:
            continue
        chunk = values[lo:hi]
        pair = sorted({lo + int(np.argmin(chunk)), lo + int(np.argmax(chunk))})
        keep.extend(pair)
    index = np.asarray(keep, dtype=np.int64)
    return times[index], values[index]


def group_samples(samples: Iterable[Sample]) -> dict[TrialKey, list[Sample]]:
    """Samples by (trial, repetition) tags, each list in time order; untagged samples dropped."""
    groups: dict[TrialKey, list[Sample]] = defaultdict(list)
    for sample in samples:
        trial = sample.tags.get("trial")
        if trial is None:
            continue
        groups[(trial, str(sample.tags.get("repetition", "")))].append(sample)
    for group in groups.values():
        group.sort(key=lambda s: s.time_ns)
    return dict(groups)


def _number(value: object) -> float | None:
    """A plottable float, or None for bools, strings and non-finite values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if np.isfinite(result) else None


def _series(
    samples: Sequence[Sample], field: str, t0_ns: int, scale: float = 1.0
) -> tuple[FloatArray, FloatArray]:
    """(seconds since t0, field value × scale) for the samples that carry a numeric `field`."""
    times: list[float] = []
    values: list[float] = []
    for sample in samples:
        value = _number(sample.fields.get(field))
        if value is not None:
            times.append((sample.time_ns - t0_ns) / 1e9)
            values.append(value * scale)
    return decimate(np.asarray(times, dtype=np.float64), np.asarray(values, dtype=np.float64))


def throughput_thresholds(criteria: Iterable[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """(expr, threshold in Mbit/s) for each `throughput.*` criterion with a rate threshold."""
    lines: list[tuple[str, float]] = []
    for criterion in criteria:
        expr = str(criterion.get("expr", ""))
        threshold = criterion.get("threshold")
        if not expr.startswith("throughput.") or not isinstance(threshold, Mapping):
            continue
        value = _number(threshold.get("value"))
        factor = _TO_MBITS.get(str(threshold.get("unit", "")))
        if value is not None and factor is not None:
            lines.append((expr, value * factor))
    return lines


def _new_figure(width_in: float, height_in: float) -> Figure:
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _style(ax: Axes) -> None:
    ax.grid(True, linewidth=0.4, alpha=0.6)
    ax.tick_params(labelsize=8)
    # whole numbers on the axis (no "1e7" offset above it) unless they are very large or small
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-4, 9), useOffset=False)


def plot_throughput(
    path: Path,
    title: str,
    samples: Sequence[Sample],
    criteria: Iterable[Mapping[str, Any]],
    t0_ns: int,
) -> bool:
    """Write one trial run's throughput (Mbit/s) with its thresholds; False if no data."""
    series: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.measurement == "throughput":
            key = (sample.tags.get("direction", ""), sample.tags.get("protocol", ""))
            series[key].append(sample)
    curves = []
    for (direction, protocol), points in sorted(series.items()):
        times, values = _series(points, "bits_per_second", t0_ns, scale=1e-6)
        if len(times):
            label = "/".join(part for part in (direction, protocol) if part) or "throughput"
            curves.append((label, times, values))
    if not curves:
        return False
    figure = _new_figure(8.0, 3.6)
    ax = figure.add_subplot()
    for label, times, values in curves:
        ax.plot(times, values, linewidth=1.2, marker="." if len(times) < 60 else None, label=label)
    colours = ("#b3261e", "#8a6d00", "#5b3cc4", "#00695c")
    for i, (expr, mbits) in enumerate(throughput_thresholds(criteria)):
        ax.axhline(
            mbits,
            linestyle="--",
            linewidth=1.0,
            color=colours[i % len(colours)],
            label=f"{expr} ({mbits:.6g} Mbit/s)",
        )
    ax.set_ylim(bottom=0)
    ax.set_xlabel(text("axis.time"), fontsize=9)
    ax.set_ylabel(text("axis.throughput"), fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right", framealpha=0.85)
    _style(ax)
    figure.savefig(path, format="png", dpi=DPI)
    return True


def plot_kpis(path: Path, title: str, samples: Sequence[Sample], t0_ns: int) -> bool:
    """Write one subplot per polled KPI (a line per device) of one trial run; False if no data."""
    by_kpi: dict[tuple[str, str], dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        if sample.measurement == "kpi":
            key = (sample.tags.get("kpi", "?"), sample.tags.get("unit", ""))
            by_kpi[key][sample.tags.get("device", "")].append(sample)
    panels = []
    for (kpi, unit), devices in sorted(by_kpi.items()):
        lines = []
        for device, points in sorted(devices.items()):
            times, values = _series(points, "value", t0_ns)
            if len(times):
                lines.append((device, times, values))
        if lines:
            panels.append((kpi, unit, lines))
    if not panels:
        return False
    figure = _new_figure(8.0, 0.6 + 1.9 * len(panels))
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (kpi, unit, lines) in zip(axes, panels, strict=True):
        for device, times, values in lines:
            ax.plot(times, values, linewidth=1.1, marker="." if len(times) < 60 else None,
                    label=device or kpi)
        ax.set_title(f"{kpi} ({unit})" if unit else kpi, fontsize=9, loc="left")
        ax.set_ylabel(unit or text("axis.value"), fontsize=8)
        ax.legend(fontsize=7, loc="best", framealpha=0.85)
        _style(ax)
    axes[-1].set_xlabel(text("axis.time"), fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.savefig(path, format="png", dpi=DPI)
    return True


def write_trial_plots(
    plots_dir: Path,
    trials: Sequence[Mapping[str, Any]],
    samples: Sequence[Sample],
) -> dict[TrialKey, list[Plot]]:
    """Write the plots of every trial run that has samples; returns them by (trial, repetition)."""
    groups = group_samples(samples)
    used: set[str] = set()
    result: dict[TrialKey, list[Plot]] = {}
    for trial in trials:
        key: TrialKey = (str(trial.get("id", "")), str(trial.get("repetition", "")))
        group = groups.get(key)
        if not group:
            continue
        plots_dir.mkdir(parents=True, exist_ok=True)
        stem = _unique(f"{slugify(key[0])}-r{slugify(key[1]) or '0'}", used)
        title = f"{key[0]} #{key[1]}"
        t0_ns = group[0].time_ns
        plots: list[Plot] = []
        path = plots_dir / f"{stem}-throughput.png"
        if plot_throughput(path, title, group, trial.get("criteria") or (), t0_ns):
            plots.append(Plot(path, "throughput", text("plot.throughput")))
        path = plots_dir / f"{stem}-kpi.png"
        if plot_kpis(path, title, group, t0_ns):
            plots.append(Plot(path, "kpi", text("plot.kpi")))
        if plots:
            result[key] = plots
    return result


def _unique(stem: str, used: set[str]) -> str:
    """`stem`, or `stem-2`, `stem-3`… when two trial ids slugify alike; records the choice."""
    candidate, n = stem, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem}-{n}"
    used.add(candidate.lower())
    return candidate
