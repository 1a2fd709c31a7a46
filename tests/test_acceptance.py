"""Built-in acceptance of the kinds reaches the verdict: Y.1564 service acceptance (with FDV as
the standard defines it), and a Y.1564 trial with no criteria whose CIR exceeds the cell FAILs.
Each fails on the old code: the acceptance went to `run.extra` only, FDV was RFC 3550 jitter."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from harness.base.verdict import Verdict
from harness.measure.latency import frame_delay_variation, rfc3550_jitter
from harness.measure.y1564 import Acceptance, Service, run_y1564
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


# ---- RFC 2544: only a confirmed zero-loss rate is published ------------------------------


def test_rfc2544_unconfirmed_rate_is_not_published_and_is_inconclusive() -> None:
    """A link that carries 50 Mbit/s over 1 s search trials but loses frames in any longer
    trial: the search finds ~50 Mbit/s, both confirmations (30 s) lose frames. No throughput
    is published (the old code published the unconfirmed rate), the acceptance is
    INCONCLUSIVE with the search's history, and the raw JSON keeps that history."""
    from harness.measure.probe import FrameSpec, ProbeResult, loss_percent
    from harness.measure.rfc2544 import Rfc2544Options, SearchOptions, run_rfc2544

    async def probe(rate_bps: float, frame_size: int, duration_s: float) -> ProbeResult:
        sent = round(FrameSpec(frame_size).frames_per_s(rate_bps) * duration_s)
        lost = 0 if rate_bps <= 50e6 and duration_s <= 5 else max(1, sent // 100)
        return ProbeResult(rate_bps, rate_bps * (sent - lost) / sent, sent, lost,
                           loss_percent(sent, lost))

    opts = Rfc2544Options(SearchOptions(max_rate_bps=100e6, resolution_bps=1e6, trial_s=1,
                                        confirm_s=30, max_confirmations=2),
                          frame_sizes=(1518,), loss_curve=False)
    result = asyncio.run(run_rfc2544(probe, opts))
    search = result.frames[0].search
    assert search.outcome == "unconfirmed" and search.throughput_bps is None
    assert not search.confirmed and len(search.confirmations) == 2
    assert search.lower_bps is not None and 49e6 <= search.lower_bps <= 50e6
    metrics = result.metrics()
    assert "rfc2544.throughput.f1518" not in metrics
    assert "rfc2544.goodput.f1518" not in metrics
    assert metrics["rfc2544.confirmed.f1518"].value == 0
    [acc] = result.acceptance()
    assert acc.verdict is Verdict.INCONCLUSIVE and acc.observed is None
    assert acc.source is not None and acc.source.startswith("RFC 2544 §26.1")
    assert "every confirmation trial" in acc.detail and "confirmations: " in acc.detail
    assert "search: 100 Mbit/s → 0.996 % (loss)" in acc.detail  # first trial and its loss
    history = result.to_json()["frames"][0]["search"]["history"]
    assert [h["phase"] for h in history].count("confirmation") == 2
    assert all(not h["passed"] for h in history if h["phase"] == "confirmation")
    assert history[0]["rate_bps"] == 100e6 and history[0]["loss_percent"] > 0


def test_rfc2544_confirmed_rate_passes_its_acceptance() -> None:
    from harness.measure.rfc2544 import Rfc2544Options, SearchOptions, run_rfc2544
    from tests.test_rfc2544 import ModelLink

    link = ModelLink(line_bps=100e6)
    opts = Rfc2544Options(SearchOptions(max_rate_bps=200e6, resolution_percent=1, trial_s=1),
                          frame_sizes=(512,), loss_curve=False)
    result = asyncio.run(run_rfc2544(link, opts))
    [acc] = result.acceptance()
    assert acc.verdict is Verdict.PASS and acc.observed is not None
    assert acc.observed.value == pytest.approx(result.metrics()["rfc2544.throughput.f512"].value)


# ---- firmware upgrade: the regression sub-scenario's worst verdict reaches the trial -------

ROOT = Path(__file__).resolve().parent.parent

REGRESSION = """\
name: failing-regression
title: {vi: "Hồi quy", en: "Regression that fails"}
defaults: {duration: 1s, omit: 0s, min_samples: 1}
trials:
  - id: too-fast
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["throughput.max >= 100 Gbit/s"]
"""

UPGRADE = f"""\
name: upgrade-then-regression
title: {{vi: "Nâng cấp", en: "Upgrade"}}
defaults: {{duration: 1s, omit: 0s, timeout: 2m}}
trials:
  - id: upgrade
    kind: firmware_upgrade
    device: gnb1
    image: {ROOT / "scenarios/firmware/SimGNB-1-2.0.0.img"}
    version: 2.0.0
    come_back_timeout: 1m
    regression: failing-regression
    criteria: ["regression.trials >= 1"]
"""


@pytest.mark.e2e
def test_firmware_regression_failing_makes_the_upgrade_trial_fail(tmp_path: Path) -> None:
    """The upgrade works, the regression's one trial FAILs (its criterion reads an exact
    observation, the highest one-second rate, so one second of traffic judges it); the upgrade
    trial's own criterion reads a regression metric (so the old code added no
    `regression.failed == 0`) and PASSes: the trial FAILs anyway through its built-in
    acceptance (PASS on the old code)."""
    require_tool("iperf3")
    (tmp_path / "failing-regression.yaml").write_text(REGRESSION, encoding="utf-8")
    outcome, _ = run_in_process(inputs(tmp_path, UPGRADE), tmp_path / "out", timeout_s=180)
    trial = outcome.summary["trials"][0]
    assert trial["error"] is None, trial
    assert [c["verdict"] for c in trial["criteria"]] == ["PASS"]
    subs = trial["regression"]["trials"]
    assert [s["verdict"] for s in subs] == ["FAIL"]
    acceptance = {a["expr"]: a for a in trial["acceptance"]}
    regression = acceptance["firmware_upgrade regression failing-regression: worst verdict of "
                            "its trials"]
    assert regression["verdict"] == "FAIL" and "too-fast r1: FAIL" in regression["detail"]
    assert acceptance["firmware_upgrade gnb1: version check"]["verdict"] == "PASS"
    assert trial["verdict"] == "FAIL"
