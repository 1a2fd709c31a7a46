"""Built-in acceptance of the kinds reaches the verdict: Y.1564 service acceptance (with FDV as
the standard defines it), and a Y.1564 trial with no criteria whose CIR exceeds the cell FAILs.
Each fails on the old code: the acceptance went to `run.extra` only, FDV was RFC 3550 jitter."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from harness.measure.latency import frame_delay_variation, rfc3550_jitter
from harness.measure.y1564 import Acceptance, Service, run_y1564
from harness.verdict import Verdict
from tests.conftest import require_tool
from tests.runner_helpers import inputs, run_in_process
from tests.test_y1564 import SharedLink

MBIT = 1e6


def test_fdv_is_a_high_percentile_of_delay_minus_minimum_not_rfc3550_jitter() -> None:
    """A delay swinging slowly between 10 and 20 ms (1,000 packets, one period): consecutive
    differences are tiny, so RFC 3550 jitter reads ~0.06 ms; the FDV reads the 10 ms range."""
    delays = [15 + 5 * math.sin(2 * math.pi * i / 1000) for i in range(1000)]
    fdv = frame_delay_variation(delays)
    assert fdv is not None and 9.9 <= fdv <= 10.0
    jitter = rfc3550_jitter(delays)
    assert jitter is not None and jitter < 0.1
    # P99 by nearest rank: one outlier in 100 does not make the FDV, two do
    base = [10.0] * 98 + [11.0]
    assert frame_delay_variation([*base, 40.0]) == pytest.approx(1.0)
    assert frame_delay_variation([*base[:-1], 40.0, 40.0]) == pytest.approx(30.0)
    assert frame_delay_variation([5.0, None]) is None  # lost frames skipped


def test_y1564_acceptance_per_service_and_step_reaches_a_verdict() -> None:
    """gold (CIR 40) fits a 30 Mbit/s link up to its cir75 step only; acceptance says which
    step failed, with the standard it comes from, and the performance test too."""
    gold = Service("gold", cir_bps=40 * MBIT, frame_size=1024,
                   acceptance=Acceptance(max_flr_percent=0.1, max_ftd_ms=10))
    link = SharedLink(30 * MBIT)
    result = asyncio.run(run_y1564({"gold": link.probe(0)}, [gold], step_s=1,
                                   performance_s=2))
    acc = result.acceptance()
    by_expr = {a.expr: a for a in acc}
    assert list(by_expr) == [f"y1564 service gold: configuration {s}" for s in
                             ("cir25", "cir50", "cir75", "cir100", "policing")] + [
        "y1564 service gold: performance test"]
    assert by_expr["y1564 service gold: configuration cir75"].verdict is Verdict.PASS
    cir100 = by_expr["y1564 service gold: configuration cir100"]
    assert cir100.verdict is Verdict.FAIL
    assert cir100.source is not None and cir100.source.startswith("ITU-T Y.1564")
    assert "FLR" in cir100.detail and "IR" in cir100.detail
    assert by_expr["y1564 service gold: performance test"].verdict is Verdict.FAIL


SCENARIO = """\
name: y1564-over
title: {vi: "Y.1564 vượt dung lượng", en: "Y.1564 above the cell's capacity"}
defaults: {duration: 1s, omit: 0s}
trials:
  - id: over
    kind: y1564
    setup:
      - {device: gnb1, action: set_cell, cell: 1,
         params: {bandwidth_mhz: 10, layers_dl: 1, modulation_dl: qpsk}}
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    latency: false
    services:
      internet: {cir: 20 Mbit/s, frame_size: 1518, acceptance: {flr: 0.5 %}}
    configuration: {steps: [50, 100], step_duration: 1s}
"""


@pytest.mark.e2e
def test_y1564_trial_above_cell_capacity_without_criteria_fails(tmp_path: Path) -> None:
    """CIR 20 Mbit/s through a ≈ 9.5 Mbit/s cell, no criteria: the CIR steps lose frames, the
    service fails its acceptance, so the trial FAILs (it PASSed on the old code)."""
    require_tool("iperf3")
    outcome, _ = run_in_process(inputs(tmp_path, SCENARIO), tmp_path / "out")
    trial = outcome.summary["trials"][0]
    assert trial["criteria"] == []
    assert trial["verdict"] == "FAIL", trial
    failed = {a["expr"] for a in trial["acceptance"] if a["verdict"] == "FAIL"}
    assert "y1564 service internet: configuration cir100" in failed, trial["acceptance"]
    assert outcome.summary["verdict"] == "FAIL"
