"""UDP loss is counted against the sender's packets, with a bounded grace for residual packets:
a path that dies half-way reads ~50 % loss. Fails on the old code, which excluded every packet
sent after the last one received (the probe) or used iperf3's gaps-below-last-seen (the
throughput kind), and read 0 %."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from drivers.hosts.iperf3 import LOSS_GRACE_S, lost_packets, parse_result
from harness.kinds.iperf3_probe import probe_result, udp_counts
from harness.kinds.throughput import throughput_metrics
from harness.measure.probe import FrameSpec

FIXTURES = Path(__file__).parent / "fixtures" / "iperf3"


def _died_half_way(name: str) -> str:
    """A captured clean iperf3 UDP run, edited as if the path had died half-way: the receiver
    saw the first half of the packets, none lost below the last one, and nothing after."""
    doc = json.loads((FIXTURES / name).read_text())
    end = doc["end"]
    sent = end["sum_sent"]["packets"]
    for block in (end["sum_received"], *(s["udp"] for s in end["streams"] if "udp" in s)):
        if block.get("sender"):
            continue
        block["packets"] = sent // 2
        block["lost_packets"] = 0
        block["lost_percent"] = 0
        block["bytes"] //= 2
        block["bits_per_second"] /= 2
    for interval in doc["intervals"][len(doc["intervals"]) // 2:]:
        for part in (*interval["streams"], interval["sum"]):
            if not part.get("sender", False):
                part.update(bytes=0, bits_per_second=0, packets=0, lost_packets=0,
                            lost_percent=0)
    return json.dumps(doc)


@pytest.mark.parametrize(("name", "direction"), [("udp-ul-100M.json", "ul"),
                                                 ("udp-dl-reverse-100M.json", "dl")])
def test_probe_and_throughput_report_the_loss_of_a_path_that_died_half_way(
        name: str, direction: str) -> None:
    """A 2 s run: the second half is lost but for the last 100 ms (the grace), ≈ 45 %."""
    raw = _died_half_way(name)
    counts = udp_counts(raw)
    sent = counts.sent_packets
    excused = math.ceil(sent / counts.sent_seconds * LOSS_GRACE_S)
    want = 100 * (sent - sent // 2 - excused) / sent
    assert 44 <= want <= 46
    assert 100 * counts.lost_packets / sent == pytest.approx(want)
    result = probe_result(FrameSpec(1518), parse_result(raw, direction=direction), counts)
    assert result.loss_percent == pytest.approx(want)
    metrics = throughput_metrics(parse_result(raw, direction=direction), "")
    assert metrics["throughput.loss"].value == pytest.approx(want)
    assert metrics["throughput.packets"].value == counts.sent_packets


def test_clean_runs_still_read_zero_loss() -> None:
    for name, direction in (("udp-ul-100M.json", "ul"), ("udp-dl-reverse-100M.json", "dl")):
        raw = (FIXTURES / name).read_text()
        assert udp_counts(raw).lost_packets == 0
        metrics = throughput_metrics(parse_result(raw, direction=direction), "")
        assert metrics["throughput.loss"].value == 0


def test_grace_is_bounded() -> None:
    """1,000 packets/s for 10 s: up to 100 ms of unreceived tail (100 packets) is in flight;
    the rest of a longer tail is lost; gaps below the last packet seen are always lost."""
    assert LOSS_GRACE_S == 0.1
    assert lost_packets(10_000, 9_950, 0, 10.0) == (0, 50)
    assert lost_packets(10_000, 9_000, 0, 10.0) == (900, 100)
    assert lost_packets(10_000, 10_000, 30, 10.0) == (30, 0)
    assert lost_packets(10_000, 0, 0, 10.0) == (9_900, 100)
    assert lost_packets(10_000, 5_000, 0, 0.0) == (5_000, 0)  # no duration: no grace


CELL_DIES = """\
name: cell-dies
title: {vi: "Mất sóng giữa chừng", en: "Cell dies half-way"}
defaults: {duration: 4s, omit: 0s, min_samples: 1}  # the loss's N is its packets, not 4 s
trials:
  - id: udp-dl
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    protocol: udp
    bitrate: 20 Mbit/s
    criteria: ["throughput.loss <= 1 %"]
"""


@pytest.mark.e2e
def test_udp_trial_whose_cell_goes_down_half_way_reports_the_loss(tmp_path: Path) -> None:
    """The simulated cell drops every packet from ~2.5 s after the trial started (a 100 % loss
    fault: a `cell-outage` also stalls iperf3's TCP control connection, and the trial is ERROR
    when iperf3 never finishes): the trial reads the loss (≈ 36 % here) and FAILs its loss
    criterion. It read 0 % and PASSed on the old code."""
    from harness.base.events import Event, TrialFinished, TrialStarted
    from harness.engine.runner import Runner
    from tests.conftest import require_tool
    from tests.runner_helpers import inputs, later, run_in_process

    require_tool("iperf3")
    tasks = []

    def on_event(runner: Runner, event: Event) -> None:
        sim = runner.bench.sim if runner.bench is not None else None
        if sim is None:
            return
        if isinstance(event, TrialStarted):
            tasks.append(later(2.5, lambda: sim.fault("gnb1", "loss", ratio=1.0)))
        elif isinstance(event, TrialFinished):
            tasks.append(later(0, lambda: sim.clear("gnb1")))

    outcome, _ = run_in_process(inputs(tmp_path, CELL_DIES), tmp_path / "out",
                                on_event=on_event)
    trial = outcome.summary["trials"][0]
    assert trial["error"] is None, trial
    loss = trial["metrics"]["throughput.loss"]["value"]
    assert 20 <= loss <= 80, trial["metrics"]
    lost, sent = trial["proportions"]["throughput.loss"]
    assert lost > 0 and 100 * lost / sent == pytest.approx(loss)  # Wilson interval of these
    low, _ = trial["ci"]["throughput.loss"]
    assert low > 1, trial["ci"]  # the whole interval is on the failing side
    assert trial["verdict"] == "FAIL", trial


def test_udp_loss_rests_on_the_packets_sent_not_on_the_seconds(tmp_path: Path) -> None:
    """min_samples counts what a figure rests on: a 2 s UDP run's loss rests on its packets
    (thousands), not on 2 one-second intervals (old: N=2 → INCONCLUSIVE under min_samples)."""
    from types import SimpleNamespace
    from typing import Any, cast

    from harness.kinds.base import KindRun
    from harness.kinds.throughput import record

    raw = (FIXTURES / "udp-ul-100M.json").read_text()
    result = parse_result(raw, direction="ul")
    run = KindRun(trial=cast(Any, SimpleNamespace(id="t", repetition=1)), bench=cast(Any, None),
                  tags={}, raw_dir=tmp_path, emit=lambda samples: None)
    record(run, result, raw, "ul", "")
    assert run.count_of("throughput.loss") == udp_counts(raw).sent_packets > 500
    assert run.count_of("throughput.mean") == len(result.measured_intervals)
