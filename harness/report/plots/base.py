"""What every plot shares: the `Plot` record, bilingual wording, figure style, PNG + SVG output.

Matplotlib's object API with the Agg canvas only: no pyplot, no global figure state, no display.
Each figure is written twice: a PNG for report.html and an SVG (vector, text kept as text so the
PDF stays searchable and a test can read its labels) beside it for the PDF.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

DPI = 150
Lang = Literal["both", "vi", "en"]
FloatArray = npt.NDArray[np.float64]
TrialKey = tuple[str, str]
"""(trial id, repetition as text): how samples' tags name a trial run."""

#: Line colours (colour-blind-safe order) and threshold colours.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22", "#d62728")
THRESHOLD_COLOURS = ("#b3261e", "#8a6d00", "#5b3cc4", "#00695c")
VERDICT_COLOURS: Mapping[str, str] = {"PASS": "#2e7d32", "FAIL": "#c62828", "ERROR": "#6a1b9a",
                                      "INCONCLUSIVE": "#ef6c00", "SKIPPED": "#757575"}


@dataclass(frozen=True)
class Plot:
    """One written figure: its PNG, its SVG twin (for the PDF), kind, and bilingual wording."""

    path: Path
    kind: str
    caption: str
    svg: Path | None = None
    title_vi: str = ""
    title_en: str = ""


def bi(vi: str, en: str, lang: Lang = "both") -> str:
    """`vi / en`, or one language alone."""
    if lang == "vi":
        return vi
    if lang == "en" or vi == en:
        return en
    return f"{vi} / {en}"


def lines(vi: str, en: str, lang: Lang = "both") -> str:
    """A long bilingual label on two lines (Vietnamese first), or one language alone."""
    return f"{vi}\n{en}" if lang == "both" and vi != en else bi(vi, en, lang)


def axis_label(vi: str, en: str, unit: str = "", lang: Lang = "both") -> str:
    """An axis label with its unit: `Thông lượng / Throughput (Mbit/s)`."""
    text = bi(vi, en, lang)
    return f"{text} ({unit})" if unit else text


def slugify(value: str) -> str:
    """A file-name-safe form of `value`: ASCII letters, digits, `-`, `_` and `.`; never empty."""
    ascii_only = unicodedata.normalize("NFKD", value.replace("đ", "d").replace("Đ", "D"))
    ascii_only = ascii_only.encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_only).strip("-.")
    return slug[:80] or "trial"


def number(value: object) -> float | None:
    """A plottable float, or None for bools, strings and non-finite values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if np.isfinite(result) else None


def metric(trial: Mapping[str, Any], name: str) -> float | None:
    """A trial's metric value from summary.json, or None when absent or not a number."""
    entry = (trial.get("metrics") or {}).get(name)
    return number(entry.get("value")) if isinstance(entry, Mapping) else None


def new_figure(width_in: float, height_in: float, *, constrained: bool = True) -> Figure:
    """A figure on its own Agg canvas, laid out by matplotlib's constrained layout (or, for
    tall many-panel figures where that layout is the slowest part, by fixed margins)."""
    figure = Figure(figsize=(width_in, height_in), dpi=DPI,
                    layout="constrained" if constrained else None)
    FigureCanvasAgg(figure)
    return figure


def style(ax: Axes) -> None:
    """Grid, small ticks, plain numbers on the y axis."""
    ax.grid(True, linewidth=0.4, alpha=0.6)
    ax.tick_params(labelsize=8)
    if isinstance(ax.yaxis.get_major_formatter(), ScalarFormatter):
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-4, 9), useOffset=False)


def time_axis(seconds: float) -> tuple[float, str, str]:
    """(divisor, Vietnamese, English unit) for a time axis `seconds` long: s, min or h."""
    if seconds > 3 * 3600:
        return 3600.0, "giờ", "h"
    if seconds > 600:
        return 60.0, "phút", "min"
    return 1.0, "s", "s"


def time_label(divisor: float, lang: Lang) -> str:
    """`Thời gian (s) / Time (s)` for the unit `divisor` selects."""
    unit = {3600.0: ("h", "h"), 60.0: ("phút", "min")}.get(divisor, ("s", "s"))
    return bi(f"Thời gian ({unit[0]})", f"Time ({unit[1]})", lang)


@dataclass
class PlotWriter:
    """Writes figures into one folder under unique, file-name-safe stems."""

    folder: Path
    lang: Lang = "both"
    used: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)

    def stem(self, base: str) -> str:
        """`base`, or `base-2`, `base-3`… when two names slugify alike; records the choice."""
        stem = slugify(base)
        candidate, n = stem, 1
        while candidate.lower() in self.used:
            n += 1
            candidate = f"{stem}-{n}"
        self.used.add(candidate.lower())
        return candidate

    def title(self, figure: Figure, vi: str, en: str, subject: str = "") -> None:
        """The figure's title in both languages (one line each), with its subject (trial id)."""
        lines = [vi, en] if self.lang == "both" and vi != en else [bi(vi, en, self.lang)]
        if subject:
            lines = [f"{line} — {subject}" for line in lines]
        height = figure.get_figheight()
        figure.suptitle("\n".join(lines), fontsize=10, y=1 - 0.08 / height, va="top")

    def save(self, figure: Figure, base: str, kind: str, vi: str, en: str) -> Plot:
        """Write `figure` as `<stem>.png` and `<stem>.svg`; the Plot carries both."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = candidate = slugify(base)
        n = 1
        while candidate.lower() in self.files:  # a figure name already written: number it
            n += 1
            candidate = f"{stem}-{n}"
        stem = candidate
        self.files.add(stem.lower())
        png, svg = self.folder / f"{stem}.png", self.folder / f"{stem}.svg"
        figure.savefig(png, format="png", dpi=DPI)
        figure.set_layout_engine("none")  # laid out once, for the PNG: the SVG keeps it
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": stem}):
            figure.savefig(svg, format="svg")
        figure.clear()
        return Plot(png, kind, bi(vi, en, self.lang), svg, vi, en)


def legend(ax: Axes, loc: str = "best") -> None:
    """A small legend, only when something is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    if any(not label.startswith("_") for label in labels) and handles:
        ax.legend(fontsize=7, loc=loc, framealpha=0.85)  # type: ignore[call-overload]


def colour(i: int) -> str:
    """The i-th line colour."""
    return COLOURS[i % len(COLOURS)]


def nonempty(items: Iterable[Any]) -> bool:
    """True when `items` yields anything."""
    return any(True for _ in items)
