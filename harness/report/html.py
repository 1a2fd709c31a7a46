"""report.html (and the HTML the PDF is printed from): view objects laid out by one Jinja2
template family (autoescaped). Everything that needs judgement happens in build.py and
dossier.py; the template only lays out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from harness.base.sample import Sample
from harness.report import i18n
from harness.report.build import build_view
from harness.report.formatting import (
    format_duration,
    format_number,
    format_quantity,
    format_time,
)
from harness.report.plots import Plot, TrialKey
from harness.report.view import (
    CriterionView,
    MetricView,
    PlotView,
    ReportView,
    RulesView,
    TrialView,
    VerdictView,
)

__all__ = [
    "TEMPLATE",
    "CriterionView",
    "MetricView",
    "PlotView",
    "ReportView",
    "RulesView",
    "TrialView",
    "VerdictView",
    "build_view",
    "code_spans",
    "format_duration",
    "format_number",
    "format_quantity",
    "format_time",
    "render_html",
    "write_html",
]

TEMPLATE = "report.html.j2"


def code_spans(text: str) -> markupsafe.Markup:
    """Markdown-style `code` spans of a rule's text as <code>, everything else escaped."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: show the text as it is
        return markupsafe.escape(text)
    return markupsafe.Markup("").join(
        markupsafe.Markup("<code>{}</code>").format(part) if i % 2 else markupsafe.escape(part)
        for i, part in enumerate(parts))


def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(Path(__file__).parent / "templates")
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code_spans"] = code_spans
    return env


def render_html(view: ReportView, *, for_pdf: bool = False) -> str:
    """The report as one HTML document (inline CSS, no script). For the browser, plots are
    linked relatively (PNG); for the PDF (`for_pdf`), by file URL to their vector twin."""
    tr = i18n.Translator(view.lang if view.lang in i18n.LANGS else "both")  # type: ignore[arg-type]
    template = _environment().get_template(TEMPLATE)
    return template.render(report=view, t=tr, tr=tr, for_pdf=for_pdf)


def write_html(
    path: Path,
    summary: Mapping[str, Any],
    plots: Mapping[TrialKey, Sequence[Plot]],
    *,
    lang: i18n.Lang = "both",
    samples: Iterable[Sample] = (),
    final: bool = True,
) -> Path:
    """Render the report for `summary` to `path` (UTF-8); plot links are relative to its folder."""
    html = render_html(build_view(summary, plots, path.parent, lang, samples, final))
    path.write_text(html, encoding="utf-8")
    return path
