"""A plot per trial kind from one real short run on the simulated (MOCN) lab, re-drawn from the
stored run alone (summary.json + samples.sqlite, read-only)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.report.plots import PlotSet, StoreSource, write_plots
from tests.conftest import require_tool
from tests.test_e2e_smoke import ROOT, load_run, run_harness

pytestmark = pytest.mark.e2e

SCENARIO = f"""\
name: plots-every-kind
title: {{vi: "Đồ thị cho mọi loại phép đo", en: "Plots for every trial kind"}}
defaults: {{duration: 2s, repetitions: 1, kpi_interval: 1s}}
trials:
  - id: tput
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    repetitions: 2
    monitor: {{gnb1: [DRB.UEThpDl]}}
    criteria: ["throughput.mean >= 10 Mbit/s"]
  - id: rtt-idle
    kind: latency
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["rtt.median <= 100 ms"]
  - id: rtt-loaded
    kind: latency
    ue: ue1
    dn: dn1
    via: gnb1
    load: {{direction: dl, protocol: tcp}}
    criteria: ["rtt.median <= 200 ms"]
  - id: rfc
    kind: rfc2544
    ue: ue1
    dn: dn1
    via: gnb1
    frame_sizes: [1518]
    max_rate: 20 Mbit/s
    min_rate: 5 Mbit/s
    resolution: 10 %
    max_iterations: 3
    trial_duration: 1s
    confirm_duration: 1s
    latency: false
    loss_curve: true
    loss_step: 50
  - id: y1564
    kind: y1564
    ue: ue1
    dn: dn1
    via: gnb1
    latency: false
    services:
      web: {{cir: 4 Mbit/s, frame_size: 1518}}
    configuration: {{steps: [50, 100], step_duration: 1s}}
  - id: soak
    kind: soak
    ue: ue1
    dn: dn1
    via: gnb1
    duration: 4s
    period: 2s
    probe: {{throughput: {{direction: dl, protocol: tcp, duration: 1s}}}}
    availability: {{throughput_floor: 1 Mbit/s}}
    criteria: ["soak.throughput.min >= 1 Mbit/s"]
  - id: mocn
    kind: sharing
    via: gnb1
    operators: [{{ue: ue1, dn: dn1}}, {{ue: ue2, dn: dn2}}]
    shares: {{"452-02": 0.6, "452-04": 0.4}}
    direction: dl
  - id: upgrade
    kind: firmware_upgrade
    device: gnb1
    image: {ROOT}/scenarios/firmware/SimGNB-1-2.0.0.img
    version: 2.0.0
    come_back_timeout: 1m
"""

KIND_FIGURE = {"throughput": "throughput", "latency": "latency", "rfc2544": "rfc2544",
               "y1564": "y1564", "soak": "soak", "sharing": "sharing",
               "firmware_upgrade": "firmware"}


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    for tool in ("iperf3", "irtt"):
        require_tool(tool)
    tmp = tmp_path_factory.mktemp("plots")
    scenario = tmp / "every-kind.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    proc: subprocess.CompletedProcess[str] = run_harness(
        "run", str(scenario), "--lab", "scenarios/labs/mocn-lab.yaml", "--out",
        str(tmp / "out"), "--quiet", timeout=300)
    assert proc.stdout.strip(), proc.stderr
    return load_run(proc.stdout)


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
    assert {p.kind for p in replotted.trials[("tput", "2")]} >= {"repetitions", "boxes",
                                                                  "kpi"}
    assert {p.kind for p in replotted.run} == {"summary", "latency-comparison"}


def test_kinds_store_what_their_plots_need(stored_run: tuple[Path, dict[str, Any]]) -> None:
    _, summary = stored_run
    by_id = {t["id"]: t for t in summary["trials"]}
    history = by_id["rfc"]["rfc2544"]["f1518"]["history"]
    assert history and {h["phase"] for h in history} <= {"search", "confirmation"}
    timeline = by_id["upgrade"]["firmware"]["timeline"]
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
    for name in ("rfc-r1-rfc2544.png", "y1564-r1-y1564.png", "soak-r1-soak.png",
                 "mocn-r1-sharing.png", "upgrade-r1-firmware.png", "rtt-idle-r1-latency.png"):
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
