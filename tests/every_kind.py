"""One short run with every trial kind on the simulated MOCN lab, shared by the report tests
(tests/test_report_pdf.py: report.pdf, `harness report`, the catalog; tests/
test_report_plots_e2e.py: a figure per kind re-drawn from the stored run): one run of ~45 s
instead of one per file. The fixture `every_kind_run` (tests/conftest.py) runs it once per
session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import require_tool
from tests.test_e2e_smoke import ROOT, load_run, run_harness

MOCN_LAB = "scenarios/labs/mocn-lab.yaml"
KINDS = ("throughput", "latency", "rfc2544", "y1564", "soak", "sharing", "firmware_upgrade")

SCENARIO = """\
name: all-kinds
title: {{vi: "Mọi loại phép đo", en: "Every trial kind"}}
description: "One short trial of every kind, for the report's tests."
references:
  - "QCVN 126:2021/BTTTT (average download speed)"
  - "IETF RFC 2544 §26.1"
defaults: {{duration: 2s, repetitions: 1, kpi_interval: 1s}}
trials:
  - {{id: tput-dl, kind: throughput, ue: ue1, dn: dn1, via: gnb1, direction: dl, streams: 2,
     repetitions: 2, min_samples: 1, monitor: {{gnb1: [DRB.UEThpDl]}},
     criteria: ["throughput.max >= 10 Mbit/s", {{preset: qcvn-126-2021}}]}}
  - {{id: latency-idle, kind: latency, ue: ue1, dn: dn1, via: gnb1,
     criteria: ["rtt.median <= 50 ms"]}}
  - {{id: latency-loaded, kind: latency, ue: ue1, dn: dn1, via: gnb1,
     load: {{direction: dl, protocol: tcp}}, criteria: ["rtt.median <= 200 ms"]}}
  - id: rfc2544-dl
    kind: rfc2544
    setup: [{{device: gnb1, action: set_cell, cell: 1,
              params: {{bandwidth_mhz: 10, layers_dl: 1, modulation_dl: qpsk}}}}]
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    frame_sizes: [1518]
    max_rate: 10 Mbit/s
    min_rate: 1 Mbit/s
    resolution: 20 %
    max_iterations: 3
    trial_duration: 1s
    confirm_duration: 1s
    latency: false
    loss_curve: true
    loss_step: 50
    criteria: ["rfc2544.throughput.f1518 >= 1 Mbit/s"]
  - id: y1564-dl
    kind: y1564
    setup: [{{device: gnb1, action: set_cell, cell: 1,
              params: {{bandwidth_mhz: 10, layers_dl: 1, modulation_dl: qpsk}}}}]
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    services:
      internet: {{cir: 4 Mbit/s, eir: 2 Mbit/s, frame_size: 1518,
                 acceptance: {{flr: 5 %, ftd: 200 ms}}}}
    configuration: {{steps: [50, 100], step_duration: 1s}}
    performance: {{duration: 1s}}
    criteria: ["y1564.internet.perf.flr <= 5 %"]
  - id: soak-dl
    kind: soak
    ue: ue1
    dn: dn1
    via: gnb1
    duration: 4s
    period: 2s
    probe:
      throughput: {{direction: dl, protocol: tcp, streams: 1, duration: 1s}}
      latency: {{duration: 1s, interval: 50ms}}
    availability: {{throughput_floor: 1 Mbit/s, rtt_ceiling: 100 ms}}
    criteria: ["soak.availability >= 50 %"]
  - id: sharing-dl
    kind: sharing
    via: gnb1
    operators: [{{ue: ue1, dn: dn1}}, {{ue: ue2, dn: dn2}}]
    shares: {{"452-02": 0.6, "452-04": 0.4}}
    direction: dl
    protocol: tcp
    streams: 2
    criteria: ["sharing.isolation >= 50 %"]
  - id: upgrade-2.0.0
    kind: firmware_upgrade
    device: gnb1
    image: {image}
    version: 2.0.0
    come_back_timeout: 1m
    criteria: ["firmware.version_ok == 1"]
"""


def run_every_kind(tmp: Path) -> tuple[Path, dict[str, Any], Path]:
    """(run directory, summary, reports directory) of the run, report.pdf included."""
    for tool in ("iperf3", "irtt"):
        require_tool(tool)
    scenario = tmp / "all-kinds.yaml"
    scenario.write_text(SCENARIO.format(image=ROOT / "scenarios/firmware/SimGNB-1-2.0.0.img"),
                        encoding="utf-8")
    proc = run_harness("run", str(scenario), "--lab", MOCN_LAB, "--out", str(tmp / "out"),
                       "--quiet", "--pdf", timeout=300)
    assert proc.stdout.strip(), proc.stderr
    run_dir, summary = load_run(proc.stdout)
    return run_dir, summary, tmp / "out"
