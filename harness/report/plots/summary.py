"""The run's observed-vs-threshold chart: every criterion with a number on both sides, as the
ratio observed ÷ threshold, coloured by its verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.report.plots.base import (
    VERDICT_COLOURS,
    Plot,
    PlotWriter,
    lines,
    new_figure,
    number,
    style,
)

_MAX_ROWS = 60
_CLIP = 3.0  # ratios beyond this are drawn at the edge, with their value written


def criterion_ratios(trials: Sequence[Mapping[str, Any]]) -> list[tuple[str, float, str]]:
    """(label, observed ÷ threshold, verdict) for each criterion whose observed value and
    threshold are numbers in the same unit and the threshold is not zero."""
    rows = []
    for trial in trials:
        name = f"{trial.get('id', '')} #{trial.get('repetition', '')}"
        for criterion in [*(trial.get("criteria") or ()), *(trial.get("acceptance") or ())]:
            observed, threshold = criterion.get("observed"), criterion.get("threshold")
            if not isinstance(observed, Mapping) or not isinstance(threshold, Mapping):
                continue
            o, t = number(observed.get("value")), number(threshold.get("value"))
            if o is None or t is None or t == 0 or \
                    str(observed.get("unit") or "") != str(threshold.get("unit") or ""):
                continue
            rows.append((f"{name}: {criterion.get('expr', '')}", o / t,
                         str(criterion.get("verdict", "")).upper()))
    return rows


def plot_summary(writer: PlotWriter, summary: Mapping[str, Any]) -> Plot | None:
    """One bar per criterion (observed ÷ threshold, 1 = at the threshold); None when the run
    has no criterion with numbers on both sides."""
    rows = criterion_ratios(summary.get("trials") or ())[:_MAX_ROWS]
    if not rows:
        return None
    lang = writer.lang
    # room for the two-line title and x label in both languages, however few the bars
    figure = new_figure(8.0, 2.6 + 0.28 * len(rows))
    ax = figure.add_subplot()
    y = np.arange(len(rows))
    ratios = np.array([min(r, _CLIP) for _, r, _ in rows])
    ax.barh(y, ratios, color=[VERDICT_COLOURS.get(v, "#757575") for _, _, v in rows])
    for i, (_, ratio, verdict) in enumerate(rows):
        ax.text(min(ratio, _CLIP), i, f" {ratio:.3g} {verdict}", va="center", fontsize=6)
    ax.axvline(1.0, color="black", linewidth=1.0, linestyle="--")
    ax.set_yticks(y, [label if len(label) <= 70 else label[:67] + "…" for label, _, _ in rows],
                  fontsize=6)
    ax.invert_yaxis()
    ax.set_xlim(0, _CLIP * 1.25)
    ax.set_xlabel(lines("Giá trị đo ÷ ngưỡng (1 = đúng ngưỡng; màu: kết quả đánh giá)",
                        "Measured value ÷ threshold (1 = at the threshold; colour: verdict)",
                        lang), fontsize=8)
    style(ax)
    vi, en = "Giá trị đo so với ngưỡng", "Observed value against threshold"
    writer.title(figure, vi, en)
    return writer.save(figure, "summary-observed-vs-threshold", "summary", vi, en)
