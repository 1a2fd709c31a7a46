"""The run report: plots, bilingual report.html and junit.xml, written into the run directory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.base.sample import Sample
from harness.report.html import write_html
from harness.report.junit import write_junit
from harness.report.plots import write_trial_plots
from harness.report.plots.source import SampleSource

__all__ = ["ReportFiles", "write_junit", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """What `write_report` wrote: the HTML report, the JUnit XML and every plot PNG."""

    html: Path
    junit: Path
    plots: list[Path]


def write_report(
    run_dir: Path,
    summary: Mapping[str, Any],
    samples: Sequence[Sample] | SampleSource,
    *,
    junit_path: Path | None = None,
) -> ReportFiles:
    """Write `plots/*.png`, `report.html` and `junit.xml` (or `junit_path`) for one run.

    `summary` is the summary.json content; `samples` are the run's samples, matched to trials
    by their `trial` and `repetition` tags. A trial without samples simply has no plots.
    Raises ValueError when the summary carries an unknown verdict.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    plots = write_trial_plots(run_dir / "plots", summary.get("trials") or (), samples)
    html = write_html(run_dir / "report.html", summary, plots)
    junit = write_junit(junit_path if junit_path is not None else run_dir / "junit.xml", summary)
    return ReportFiles(
        html=html,
        junit=junit,
        plots=[plot.path for trial_plots in plots.values() for plot in trial_plots],
    )
