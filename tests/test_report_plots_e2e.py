"""A plot per trial kind from one real short run on the simulated (MOCN) lab, re-drawn from the
stored run alone (summary.json + samples.sqlite, read-only)."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.report.plots import PlotSet, StoreSource, write_plots

pytestmark = pytest.mark.e2e

KIND_FIGURE = {"throughput": "throughput", "latency": "latency", "rfc2544": "rfc2544",
               "y1564": "y1564", "soak": "soak", "sharing": "sharing",
               "firmware_upgrade": "firmware"}


@pytest.fixture(scope="module")
def stored_run(every_kind_run: tuple[Path, dict[str, Any], Path]) -> tuple[Path, dict[str, Any]]:
    """(run directory, summary) of the shared run with every trial kind (tests/every_kind.py)."""
    return every_kind_run[0], every_kind_run[1]


@pytest.fixture(scope="module")
def replotted(stored_run: tuple[Path, dict[str, Any]],
              tmp_path_factory: pytest.TempPathFactory) -> PlotSet:
    run_dir, summary = stored_run
    store = run_dir / "samples.sqlite"
    digest = hashlib.sha256(store.read_bytes()).hexdigest()
    with StoreSource(store) as source:
        plots = write_plots(tmp_path_factory.mktemp("replot"), summary, source)
    assert hashlib.sha256(store.read_bytes()).hexdigest() == digest  # evidence untouched
    return plots


def test_every_kind_has_its_figure(stored_run: tuple[Path, dict[str, Any]],
                                   replotted: PlotSet) -> None:
    _, summary = stored_run
    for trial in summary["trials"]:
        key = (trial["id"], str(trial["repetition"]))
        kinds = {p.kind for p in replotted.trials.get(key, [])}
        assert trial["error"] is None, trial
        assert KIND_FIGURE[trial["kind"]] in kinds, (key, kinds)
    assert {p.kind for p in replotted.trials[("tput-dl", "2")]} >= {"repetitions", "boxes",
                                                                  "kpi"}
    assert {p.kind for p in replotted.run} == {"summary", "latency-comparison"}


def test_kinds_store_what_their_plots_need(stored_run: tuple[Path, dict[str, Any]]) -> None:
    _, summary = stored_run
    by_id = {t["id"]: t for t in summary["trials"]}
    history = by_id["rfc2544-dl"]["rfc2544"]["f1518"]["history"]
    assert history and {h["phase"] for h in history} <= {"search", "confirmation"}
    timeline = by_id["upgrade-2.0.0"]["firmware"]["timeline"]
    steps = [s["step"] for s in timeline]
    assert "upload" in steps and "install" in steps and steps.index("upload") < \
        steps.index("install")
    assert all(s["end_s"] >= s["start_s"] >= 0 for s in timeline)
    assert timeline[-1]["firmware"] == "2.0.0"


def test_figures_are_bilingual_vector_text(replotted: PlotSet) -> None:
    for plot in replotted.all():
        assert plot.svg is not None and plot.svg.stat().st_size > 1000
        root = ET.parse(plot.svg).getroot()
        text = " ".join(t for el in root.iter() if el.tag.endswith("text")
                        for t in el.itertext())
        assert plot.title_vi in text and plot.title_en in text, plot
        assert any(ord(c) > 0x2ff for c in plot.title_vi), plot  # Vietnamese diacritics


def test_the_run_report_links_its_figures(stored_run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, _ = stored_run
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    for name in ("rfc2544-dl-r1-rfc2544.png", "y1564-dl-r1-y1564.png", "soak-dl-r1-soak.png",
                 "sharing-dl-r1-sharing.png", "upgrade-2.0.0-r1-firmware.png",
                 "latency-idle-r1-latency.png"):
        assert f"plots/{name}" in html, name
        assert (run_dir / "plots" / name).with_suffix(".svg").is_file(), name
    summary_file = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary_file["run_id"]
    # the run-level figures are in the report too (they were written but never shown)
    run_level = sorted(p.name for p in (run_dir / "plots").glob("*.png")
                       if not any(p.name.startswith(f"{t['id']}-") for t in
                                  summary_file["trials"]))
    assert run_level, sorted(p.name for p in (run_dir / "plots").iterdir())
    for name in run_level:
        assert f"plots/{name}" in html, name
