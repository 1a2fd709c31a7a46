"""Report plots for every trial kind, PNG for report.html and SVG beside it for the PDF.

`write_plots` writes everything a run's report shows: per trial run (throughput with thresholds,
KPI panels on the traffic's time axis, latency CDF and percentiles, RFC 2544, Y.1564, soak,
MOCN sharing, firmware upgrade), per trial with several repetitions (repetition overlay, box
plot per repetition, attached to its last repetition), and per run (observed vs threshold,
latency idle vs loaded). `write_trial_plots` is the per-trial-run part, by (trial, repetition),
as report.html lays it out. Samples come from a list or, streamed, from samples.sqlite
(`StoreSource`). Long series are drawn as their min/max envelope (envelope.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.base.sample import Sample
from harness.report.plots.base import Lang, Plot, PlotWriter, TrialKey, slugify
from harness.report.plots.envelope import BUCKETS, MAX_POINTS, decimate, envelope
from harness.report.plots.latency import plot_idle_vs_loaded, plot_latency
from harness.report.plots.longrun import plot_firmware, plot_sharing, plot_soak
from harness.report.plots.methods import plot_rfc2544, plot_y1564
from harness.report.plots.source import MemorySource, SampleSource, StoreSource, as_source
from harness.report.plots.summary import plot_summary
from harness.report.plots.traffic import (
    plot_boxes,
    plot_repetitions,
    plot_throughput,
    plot_traffic_kpis,
    throughput_thresholds,
)

__all__ = [
    "BUCKETS", "MAX_POINTS", "MemorySource", "Plot", "PlotSet", "SampleSource", "StoreSource",
    "TrialKey", "decimate", "envelope", "slugify", "throughput_thresholds", "write_plots",
    "write_trial_plots",
]


@dataclass(frozen=True)
class PlotSet:
    """Every figure of a run: per trial run (by (trial, repetition)) and for the whole run."""

    trials: dict[TrialKey, list[Plot]] = field(default_factory=dict)
    run: list[Plot] = field(default_factory=list)

    def all(self) -> list[Plot]:
        """Every plot, trial plots first."""
        return [p for plots in self.trials.values() for p in plots] + list(self.run)


KindPlotter = Callable[[PlotWriter, SampleSource, TrialKey, Mapping[str, Any], int, str],
                       Plot | None]
"""Draws a kind's own figure of one trial run (writer, source, key, trial, t0, stem)."""

KIND_PLOTS: Mapping[str, KindPlotter] = {
    "latency": lambda w, s, k, t, t0, stem: plot_latency(w, s, k, t, stem),
    "rfc2544": lambda w, s, k, t, t0, stem: plot_rfc2544(w, s, k, t, stem),
    "y1564": lambda w, s, k, t, t0, stem: plot_y1564(w, s, k, t, stem),
    "soak": lambda w, s, k, t, t0, stem: plot_soak(w, s, k, t0, stem),
    "sharing": lambda w, s, k, t, t0, stem: plot_sharing(w, s, k, t, t0, stem),
}


def _key(trial: Mapping[str, Any]) -> TrialKey:
    return (str(trial.get("id", "")), str(trial.get("repetition", "")))


def _trial_run_plots(writer: PlotWriter, source: SampleSource, trial: Mapping[str, Any],
                     keys: set[TrialKey]) -> list[Plot]:
    key = _key(trial)
    stem = writer.stem(f"{slugify(key[0])}-r{slugify(key[1]) or '0'}")
    kind = str(trial.get("kind") or "")
    plots: list[Plot | None] = []
    if kind == "firmware_upgrade":
        plots.append(plot_firmware(writer, trial, key, stem))
    if key in keys:
        t0 = source.start_ns(key) or 0
        plots.append(plot_throughput(writer, source, key, trial.get("criteria") or (), t0,
                                     stem))
        plotter = KIND_PLOTS.get(kind)
        if plotter is not None:
            plots.append(plotter(writer, source, key, trial, t0, stem))
        plots.append(plot_traffic_kpis(writer, source, key, t0, stem))
    return [p for p in plots if p is not None]


def _group_plots(writer: PlotWriter, source: SampleSource,
                 group: Sequence[Mapping[str, Any]]) -> list[Plot]:
    """Figures across the repetitions of one trial id (two or more)."""
    keys = [_key(t) for t in group]
    trial_id, kind = keys[0][0], str(group[0].get("kind") or "")
    stem = writer.stem(trial_id)
    plots = [plot_repetitions(writer, source, trial_id,
                              [(_key(t), t.get("criteria") or ()) for t in group], stem),
             plot_boxes(writer, source, trial_id, kind, keys, stem)]
    return [p for p in plots if p is not None]


def _write_trials(writer: PlotWriter, source: SampleSource,
                  trials: Sequence[Mapping[str, Any]]) -> dict[TrialKey, list[Plot]]:
    keys = source.keys()
    result: dict[TrialKey, list[Plot]] = {}
    by_id: dict[str, list[Mapping[str, Any]]] = {}
    for trial in trials:
        by_id.setdefault(str(trial.get("id", "")), []).append(trial)
    last = {_key(group[-1]): group for group in by_id.values() if len(group) > 1}
    for trial in trials:
        key = _key(trial)
        plots = _trial_run_plots(writer, source, trial, keys)
        if key in last:
            plots += _group_plots(writer, source, last[key])
        if plots:
            result.setdefault(key, []).extend(plots)
    return result


def write_plots(plots_dir: Path, summary: Mapping[str, Any],
                samples: Sequence[Sample] | SampleSource, *, lang: Lang = "both") -> PlotSet:
    """Write every figure of a run into `plots_dir` (created only when a figure is written).

    `summary` is the summary.json content; `samples` a list of the run's samples or a source
    (`StoreSource(run_dir / "samples.sqlite")` streams them from the store).
    """
    source = as_source(samples)
    writer = PlotWriter(plots_dir, lang)
    trials = list(summary.get("trials") or ())
    result = _write_trials(writer, source, trials)
    run = [p for p in (plot_summary(writer, summary),
                       plot_idle_vs_loaded(writer, source, trials)) if p is not None]
    return PlotSet(result, run)


def write_trial_plots(plots_dir: Path, trials: Sequence[Mapping[str, Any]],
                      samples: Sequence[Sample] | SampleSource, *,
                      lang: Lang = "both") -> dict[TrialKey, list[Plot]]:
    """Write the plots of every trial run; returns them by (trial, repetition). The run-level
    figures (observed vs threshold, idle vs loaded) are written by `write_plots` only."""
    return _write_trials(PlotWriter(plots_dir, lang), as_source(samples), list(trials))
