"""The run report: plots, report.html and report.pdf (one template family, `--lang vi|en|both`)
and junit.xml, written into the run directory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.base.sample import Sample
from harness.report.build import build_view
from harness.report.html import render_html
from harness.report.i18n import LANGS, Lang
from harness.report.junit import write_junit
from harness.report.pdf import PdfUnavailable, write_pdf
from harness.report.plots import write_plots
from harness.report.plots.source import SampleSource, as_source

__all__ = ["LANGS", "Lang", "PdfUnavailable", "ReportFiles", "write_junit", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """What `write_report` wrote: the HTML report, the PDF (None when not asked or not
    possible, `pdf_error` says why), the JUnit XML and every plot."""

    html: Path
    junit: Path
    plots: list[Path]
    pdf: Path | None = None
    pdf_error: str | None = None


def write_report(
    run_dir: Path,
    summary: Mapping[str, Any],
    samples: Sequence[Sample] | SampleSource,
    *,
    junit_path: Path | None = None,
    lang: Lang = "both",
    pdf: bool = False,
    final: bool = True,
    evidence_dir: Path | None = None,
) -> ReportFiles:
    """Write `plots/*`, `report.html`, `report.pdf` (when `pdf`: the runner and `harness
    report` ask for it) and `junit.xml` (or `junit_path`) for one run.

    `summary` is the summary.json content; `samples` the run's samples (a list, or a source
    such as `StoreSource(run_dir / "samples.sqlite")` that reads them back read-only), matched
    to trials by their `trial` and `repetition` tags (a trial without samples has no plots).
    `final` is False while the run still writes its summary and log (the evidence appendix
    leaves them out);
    `evidence_dir` is the run directory whose files the appendix lists (default `run_dir`).
    A PDF that cannot be printed (WeasyPrint missing) is reported in `pdf_error`, not raised.
    Raises ValueError when the summary carries an unknown verdict or `lang` is unknown.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    source = as_source(samples)  # a list, or samples.sqlite read back (StoreSource)
    figures = write_plots(run_dir / "plots", summary, source, lang=lang)
    plots = figures.trials
    timeline = [*source.run_rows("event"), *source.run_rows("alarm")]
    view = build_view(summary, plots, run_dir, lang, timeline, final,
                      evidence_dir=evidence_dir, run_plots=figures.run)
    html = run_dir / "report.html"
    html.write_text(render_html(view), encoding="utf-8")
    pdf_path: Path | None = None
    pdf_error: str | None = None
    if pdf:
        try:
            pdf_path = write_pdf(render_html(view, for_pdf=True), run_dir / "report.pdf", run_dir)
        except PdfUnavailable as exc:
            pdf_error = str(exc)
        except OSError:
            raise  # the run directory cannot be written: a storage fault, the caller's
        except Exception as exc:  # a printing failure must not cost the run its summary
            pdf_error = f"report.pdf not written: WeasyPrint failed: {type(exc).__name__}: {exc}"
    junit = write_junit(junit_path if junit_path is not None else run_dir / "junit.xml", summary)
    return ReportFiles(
        html=html,
        junit=junit,
        plots=[plot.path for plot in figures.all()],
        pdf=pdf_path,
        pdf_error=pdf_error,
    )
