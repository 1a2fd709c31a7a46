"""Latency figures: the RTT CDF and percentile bars of a trial run, and idle vs loaded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.report.plots.base import (
    FloatArray,
    Plot,
    PlotWriter,
    TrialKey,
    axis_label,
    bi,
    colour,
    legend,
    new_figure,
    style,
)
from harness.report.plots.source import SampleSource

PERCENTILES = (50, 95, 99)
_CDF_POINTS = 2000


def loaded(trial: Mapping[str, Any]) -> bool:
    """True for a latency trial that ran under load (its summary has `load.*` metrics)."""
    params = trial.get("params") or {}
    return bool(params.get("load")) or any(
        str(name).startswith("load.") for name in trial.get("metrics") or {})


def rtts(source: SampleSource, key: TrialKey) -> FloatArray:
    """Every received packet's RTT (ms) of a trial run."""
    found = source.series(key, "latency", "rtt_ms")
    return np.concatenate([v for _, v in found.values()]) if found else np.zeros(0)


def percentiles(values: FloatArray) -> list[float]:
    """P50/P95/P99, empirical (inverted CDF, no interpolation: DOMAIN.md §6)."""
    return [float(np.percentile(values, p, method="inverted_cdf")) for p in PERCENTILES]


def _cdf(ax: Any, values: FloatArray, label: str, i: int, dashed: bool) -> None:
    ordered = np.sort(values)
    share = np.arange(1, len(ordered) + 1) / len(ordered) * 100
    if len(ordered) > _CDF_POINTS:  # an even pick keeps the curve; min and max kept
        pick = np.unique(np.linspace(0, len(ordered) - 1, _CDF_POINTS).astype(np.int64))
        ordered, share = ordered[pick], share[pick]
    ax.step(ordered, share, where="post", linewidth=1.2, color=colour(i),
            linestyle="--" if dashed else "-", label=label)


def _bars(ax: Any, groups: Sequence[tuple[str, FloatArray]], lang: str) -> None:
    width = 0.8 / max(1, len(groups))
    x = np.arange(len(PERCENTILES))
    for i, (label, values) in enumerate(groups):
        heights = percentiles(values)
        bars = ax.bar(x + (i - (len(groups) - 1) / 2) * width, heights, width,
                      color=colour(i), label=label)
        ax.bar_label(bars, fmt="%.3g", fontsize=6)
    ax.set_xticks(x, [f"P{p}" for p in PERCENTILES])
    ax.set_ylabel(axis_label("Thời gian trễ khứ hồi", "Round-trip time", "ms", lang),  # type: ignore[arg-type]
                  fontsize=8)


def _draw(writer: PlotWriter, groups: Sequence[tuple[str, FloatArray, bool]],
          vi: str, en: str, subject: str, stem: str, kind: str) -> Plot:
    lang = writer.lang
    figure = new_figure(8.0, 3.6)
    left, right = figure.subplots(1, 2, width_ratios=(3, 2))
    for i, (label, values, dashed) in enumerate(groups):
        _cdf(left, values, f"{label} (N={len(values)})", i, dashed)
    left.set_xlabel(axis_label("Thời gian trễ khứ hồi (RTT)", "Round-trip time (RTT)", "ms",
                               lang), fontsize=8)
    left.set_ylabel(axis_label("Tỷ lệ gói có RTT ≤ x", "Share of packets with RTT ≤ x", "%",
                               lang), fontsize=8)
    left.set_ylim(0, 100.5)
    legend(left, "lower right")
    style(left)
    _bars(right, [(label, values) for label, values, _ in groups], lang)
    right.set_xlabel(bi("Phân vị", "Percentile", lang), fontsize=8)
    legend(right, "upper left")
    style(right)
    writer.title(figure, vi, en, subject)
    return writer.save(figure, stem, kind, vi, en)


def plot_latency(writer: PlotWriter, source: SampleSource, key: TrialKey,
                 trial: Mapping[str, Any], stem: str) -> Plot | None:
    """One trial run's RTT distribution (CDF) and its P50/P95/P99."""
    values = rtts(source, key)
    if not len(values):
        return None
    state = (bi("khi có tải", "under load", writer.lang) if loaded(trial)
             else bi("khi không tải", "idle", writer.lang))
    return _draw(writer, [(state, values, loaded(trial))],
                 "Phân bố thời gian trễ khứ hồi", "Round-trip time distribution",
                 f"{key[0]} #{key[1]}", f"{stem}-latency", "latency")


def plot_idle_vs_loaded(writer: PlotWriter, source: SampleSource,
                        trials: Sequence[Mapping[str, Any]]) -> Plot | None:
    """Every latency trial of the run (repetitions pooled) on one CDF: idle solid, loaded
    dashed; only when the run has both an idle and a loaded one."""
    pooled: dict[str, tuple[list[FloatArray], bool]] = {}
    for trial in trials:
        if trial.get("kind") != "latency":
            continue
        key = (str(trial.get("id", "")), str(trial.get("repetition", "")))
        values = rtts(source, key)
        if len(values):
            entry = pooled.setdefault(key[0], ([], loaded(trial)))
            entry[0].append(values)
    if len({is_loaded for _, is_loaded in pooled.values()}) < 2:
        return None
    lang = writer.lang
    groups = [(f"{name} — " + (bi("có tải", "loaded", lang) if is_loaded
                               else bi("không tải", "idle", lang)),
               np.concatenate(parts), is_loaded)
              for name, (parts, is_loaded) in pooled.items()][:10]
    return _draw(writer, groups, "Thời gian trễ khứ hồi: không tải và có tải",
                 "Round-trip time: idle vs under load", "", "latency-idle-vs-loaded",
                 "latency-comparison")
