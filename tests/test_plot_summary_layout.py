"""The observed-vs-threshold chart lays out with any number of criteria: with one to three bars
(a one-trial run) the bilingual title and x label left the axes no height, matplotlib warned
"constrained_layout not applied because axes sizes collapsed to zero" on the user's terminal
and drew a crushed chart. Fails on the old code (the warning, made an error here)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from harness.report.plots.base import PlotWriter
from harness.report.plots.summary import plot_summary


def _summary(criteria: int) -> dict[str, Any]:
    rows = [{"expr": f"throughput.mean >= {i + 1}00 Mbit/s", "verdict": "PASS",
             "observed": {"value": 900.0, "unit": "Mbit/s"},
             "threshold": {"value": (i + 1) * 100.0, "unit": "Mbit/s"}}
            for i in range(criteria)]
    return {"trials": [{"id": "throughput-dl-tcp", "repetition": 1, "criteria": rows}]}


@pytest.mark.parametrize("criteria", [1, 2, 3, 12])
@pytest.mark.parametrize("lang", ["both", "en"])
def test_the_chart_lays_out_without_collapsing(tmp_path: Path, criteria: int, lang: str
                                               ) -> None:
    writer = PlotWriter(tmp_path, lang=lang)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        plot = plot_summary(writer, _summary(criteria))
    assert plot is not None and (tmp_path / "summary-observed-vs-threshold.png").is_file()
