"""RFC 2544: frame arithmetic, the zero-loss search, the loss curve, and the search through the
simulated cell with real iperf3.

The algorithm tests run against `ModelLink`, a model of a link (a line rate, a frame-rate limit,
a buffer), not a stand-in for a real server: it answers each trial with what such a link would
deliver, so the expected throughput is computed by hand from its parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drivers.hosts.host import TrafficHost
from drivers.hosts.iperf3 import parse_result
from harness.base.errors import ConfigError, MeasurementError
from harness.kinds.iperf3_probe import iperf3_udp_probe, probe_result, udp_counts
from harness.measure.probe import FrameSpec, ProbeResult, loss_percent, with_latency
from harness.measure.rfc2544 import (
    Rfc2544Options,
    Rfc2544Result,
    SearchOptions,
    SearchResult,
    frame_loss_curve,
    run_rfc2544,
    zero_loss_search,
)
from harness.simlab.relay import TcpRelay
from harness.simlab.shaper import Direction, RateLimiter
from harness.simlab.udp_relay import UdpRelay
from tests.conftest import free_port, require_tool
from tests.test_simlab_userplane import dual_port

LOCAL = "127.0.0.1"
FIXTURES = Path(__file__).parent / "fixtures" / "iperf3"


@dataclass
class ModelLink:
    """A model of a link: an L1 line rate, a forwarding limit in frames/s, a buffer that absorbs
    a short excess, a random-loss floor, and a generator that tops out at `generator_bps`.

    Zero-loss L2 rate for frame size F (wire bytes W) = min(line × W/(W+20), fps_limit × W × 8).
    """

    line_bps: float = 100e6
    fps_limit: float = math.inf
    buffer_bytes: float = 0.0
    loss_floor_percent: float = 0.0
    generator_bps: float = math.inf
    latency_ms: float | None = None
    calls: list[tuple[float, int, float]] = field(default_factory=list)

    def capacity(self, frame_size: int) -> float:
        frame = FrameSpec(frame_size)
        return min(frame.l2_from_l1(self.line_bps), self.fps_limit * frame.wire_bytes * 8)

    async def __call__(self, rate_bps: float, frame_size: int, duration_s: float) -> ProbeResult:
        self.calls.append((rate_bps, frame_size, duration_s))
        frame = FrameSpec(frame_size)
        offered = min(rate_bps, self.generator_bps)
        sent = round(frame.frames_per_s(offered) * duration_s)
        excess_bits = max(0.0, offered - self.capacity(frame_size)) * duration_s
        dropped_bits = max(0.0, excess_bits - self.buffer_bytes * 8)
        lost = math.ceil(dropped_bits / (frame.wire_bytes * 8) - 1e-9)
        lost += round(sent * self.loss_floor_percent / 100)
        lost = min(lost, sent)
        received = offered * (sent - lost) / sent if sent else 0.0
        return ProbeResult(offered, received, sent, lost, loss_percent(sent, lost),
                           jitter_ms=0.1, latency_ms=self.latency_ms)


# ---- frame arithmetic (hand-computed) --------------------------------------------------------

def test_frame_sizes_map_to_udp_payloads() -> None:
    assert [FrameSpec(s).payload_bytes for s in (64, 128, 256, 512, 1024, 1280, 1518)] == \
        [18, 82, 210, 466, 978, 1234, 1472]  # frame − 18 Ethernet − 20 IPv4 − 8 UDP
    v6 = FrameSpec(64, ip_version=6)  # 64 − 66 < 16: clamped to iperf3's minimum payload
    assert (v6.payload_bytes, v6.wire_bytes, v6.clamped) == (16, 82, True)
    assert FrameSpec(128, ip_version=6).payload_bytes == 62 and not FrameSpec(64).clamped
    for bad in (63, 9217):
        with pytest.raises(ConfigError, match="frame_size"):
            FrameSpec(bad)
    with pytest.raises(ConfigError, match="IP version"):
        FrameSpec(64, ip_version=5)


def test_rates_in_frames_l1_l2_l4() -> None:
    small, large = FrameSpec(64), FrameSpec(1518)
    # Gigabit Ethernet's famous maxima: 1e9 / (84 × 8) and 1e9 / (1538 × 8) frames/s.
    assert small.frames_per_s(small.l2_from_l1(1e9)) == pytest.approx(1_488_095.238)
    assert large.frames_per_s(large.l2_from_l1(1e9)) == pytest.approx(81_274.382)
    assert small.l2_from_l1(1e9) == pytest.approx(1e9 * 64 / 84)  # 761.9 Mbit/s of frames
    views = small.rates(100e6)
    assert views["frames_per_s"] == pytest.approx(100e6 / 512)  # 195,312.5
    assert views["l1_bps"] == pytest.approx(195_312.5 * 84 * 8)  # 131.25 Mbit/s
    assert views["l4_bps"] == pytest.approx(195_312.5 * 18 * 8)  # 28.125 Mbit/s
    assert large.l4_bps(100e6) == pytest.approx(100e6 * 1472 / 1518)
    assert large.l2_from_l4(large.l4_bps(42e6)) == pytest.approx(42e6)


# ---- the search against a model link ---------------------------------------------------------

@pytest.mark.parametrize("frame_size", [64, 512, 1518])
def test_search_converges_within_resolution(frame_size: int) -> None:
    """Line 100 Mbit/s, 50k frames/s: 64-byte frames hit the frame limit (25.6 Mbit/s of
    frames), larger ones the line (1518: 100 × 1518/1538 = 98.70 Mbit/s)."""
    link = ModelLink(line_bps=100e6, fps_limit=50_000)
    want = {64: 50_000 * 64 * 8, 512: 100e6 * 512 / 532, 1518: 100e6 * 1518 / 1538}[frame_size]
    assert link.capacity(frame_size) == pytest.approx(want)
    result = asyncio.run(zero_loss_search(link, frame_size, SearchOptions(
        max_rate_bps=100e6, resolution_percent=0.5, max_iterations=12, trial_s=2)))
    assert result.outcome == "found" and result.confirmed
    assert result.throughput_bps is not None
    assert want - 0.5e6 <= result.throughput_bps <= want
    assert result.upper_bps is not None and result.upper_bps - result.throughput_bps <= 0.5e6
    # Max first, then halving 100 Mbit/s down to 0.5: ceil(log2(200)) = 8 more at most.
    assert result.iterations <= 1 + math.ceil(math.log2(100 / 0.5))
    assert len(link.calls) == result.iterations + 1  # + the confirmation
    assert [t.rate_bps for t in result.trials] == [c[0] for c in link.calls[:-1]]
    assert all(c[1] == frame_size for c in link.calls)


def test_no_loss_at_max_rate_stops_at_once() -> None:
    link = ModelLink(line_bps=10e9)
    result = asyncio.run(zero_loss_search(link, 1518, SearchOptions(
        max_rate_bps=100e6, trial_s=1, confirm_s=5)))
    assert (result.outcome, result.throughput_bps, result.iterations) == ("max_rate", 100e6, 1)
    assert result.confirmed and [c[2] for c in link.calls] == [1, 5]  # confirmation: 5 s


def test_loss_even_at_min_rate() -> None:
    link = ModelLink(line_bps=1e6)  # far below the minimum of 10 Mbit/s
    result = asyncio.run(zero_loss_search(link, 1518, SearchOptions(
        max_rate_bps=100e6, min_rate_bps=10e6, resolution_percent=5, trial_s=1)))
    assert result.outcome == "loss_at_min" and result.throughput_bps is None
    assert not result.confirmed and not result.confirmations
    assert result.trials[-1].rate_bps == 10e6 and not result.trials[-1].passed
    assert result.converged


def test_iterations_run_out_before_resolution() -> None:
    link = ModelLink(line_bps=37e6)
    result = asyncio.run(zero_loss_search(link, 1518, SearchOptions(
        max_rate_bps=100e6, resolution_bps=1e5, max_iterations=4, trial_s=1, confirm=False)))
    assert result.outcome == "unconverged" and result.iterations == 4
    # 100 fails, 50 fails, 25 passes, 37.5 fails (capacity 36.5 Mbit/s of frames).
    assert [t.rate_bps for t in result.trials] == [100e6, 50e6, 25e6, 37.5e6]
    assert (result.lower_bps, result.upper_bps, result.throughput_bps) == (25e6, 37.5e6, 25e6)


def test_failed_confirmation_steps_down() -> None:
    """A 0.1 MB buffer hides an excess over 1 s trials but not over a 30 s confirmation."""
    link = ModelLink(line_bps=50e6 * 1538 / 1518, buffer_bytes=100_000)
    result = asyncio.run(zero_loss_search(link, 1518, SearchOptions(
        max_rate_bps=100e6, resolution_bps=1e6, trial_s=1, confirm_s=30, max_confirmations=5)))
    assert result.lower_bps is not None and result.lower_bps > 50e6  # the buffer fooled it
    # Over 30 s the buffer absorbs 0.8 Mbit/30 s = 26.7 kbit/s: only ≤ 50.027 Mbit/s passes.
    assert result.confirmed and result.throughput_bps is not None
    assert result.throughput_bps <= 50e6 + 26_667
    assert [t.passed for t in result.confirmations][-1] and len(result.confirmations) >= 2
    steps = [t.rate_bps for t in result.confirmations]
    assert steps == pytest.approx([result.lower_bps - i * 1e6 for i in range(len(steps))])


def test_generator_shortfall_is_not_a_pass() -> None:
    link = ModelLink(line_bps=1e9, generator_bps=40e6)
    result = asyncio.run(zero_loss_search(link, 1518, SearchOptions(
        max_rate_bps=100e6, resolution_percent=1, trial_s=1)))
    assert result.generator_limited and result.throughput_bps is not None
    # Passing needs offered ≥ 95 % of the rate asked: 40 / 0.95 = 42.1 Mbit/s at most.
    assert 40e6 <= result.throughput_bps <= 40e6 / 0.95


def test_loss_tolerance() -> None:
    lossy = ModelLink(line_bps=50e6 * 1538 / 1518, loss_floor_percent=0.05)
    strict = asyncio.run(zero_loss_search(lossy, 1518, SearchOptions(
        max_rate_bps=100e6, min_rate_bps=5e6, resolution_percent=1, trial_s=10)))
    assert strict.outcome == "loss_at_min"
    lenient = asyncio.run(zero_loss_search(lossy, 1518, SearchOptions(
        max_rate_bps=100e6, min_rate_bps=5e6, resolution_percent=1, trial_s=10,
        loss_tolerance_percent=0.1)))
    assert lenient.throughput_bps == pytest.approx(50e6, abs=1e6)


def test_probe_that_sends_nothing_is_an_error() -> None:
    async def silent(rate_bps: float, frame_size: int, duration_s: float) -> ProbeResult:
        return ProbeResult(0.0, 0.0, 0, 0, 0.0)

    with pytest.raises(MeasurementError, match="sent no packets"):
        asyncio.run(zero_loss_search(silent, 64, SearchOptions(max_rate_bps=1e6, trial_s=1)))


@pytest.mark.parametrize(("options", "field"), [
    ({"max_rate_bps": 0}, "max_rate"),
    ({"max_rate_bps": 1e6, "min_rate_bps": 2e6}, "min_rate"),
    ({"max_rate_bps": 1e6, "resolution_bps": 1e3, "resolution_percent": 1}, "resolution"),
    ({"max_rate_bps": 1e6, "resolution_percent": 0}, "resolution"),
    ({"max_rate_bps": 1e6, "max_iterations": 0}, "max_iterations"),
    ({"max_rate_bps": 1e6, "trial_s": float("nan")}, "trial_s"),
    ({"max_rate_bps": 1e6, "loss_tolerance_percent": -1}, "loss_tolerance_percent"),
])
def test_bad_search_options(options: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        SearchOptions(**options)  # type: ignore[arg-type]


# ---- loss curve, latency, whole run ----------------------------------------------------------

def test_loss_curve_steps_down_to_two_clean_trials() -> None:
    link = ModelLink(line_bps=70e6 * 1538 / 1518)  # 70 Mbit/s of frames
    curve = asyncio.run(frame_loss_curve(link, 1518, SearchOptions(
        max_rate_bps=100e6, trial_s=10), step_percent=10))
    assert [p.percent_of_max for p in curve.points] == [100, 90, 80, 70, 60]
    losses = [p.trial.result.loss_percent for p in curve.points]
    # Lost frames / sent frames = 1 − 70/offered (rounded to whole frames).
    assert losses[0] == pytest.approx(30.0, abs=0.01)
    assert losses[1] == pytest.approx(100 * (1 - 70 / 90), abs=0.01)
    assert losses[2] == pytest.approx(12.5, abs=0.01)
    assert losses[3:] == [0.0, 0.0] and curve.complete


def test_run_rfc2544_metrics_and_json() -> None:
    link = ModelLink(line_bps=100e6, fps_limit=50_000, latency_ms=2.5)
    result = asyncio.run(run_rfc2544(link, Rfc2544Options(
        search=SearchOptions(max_rate_bps=100e6, resolution_percent=1, trial_s=1),
        frame_sizes=(64, 1518), latency_trials=2, loss_step_percent=25)))
    m = result.metrics()
    assert m["rfc2544.throughput.f64"].unit == "Mbit/s"
    assert 25.6 - 1 <= m["rfc2544.throughput.f64"].value <= 25.6
    fps = m["rfc2544.frames_per_s.f64"].value
    assert fps == pytest.approx(m["rfc2544.throughput.f64"].value * 1e6 / 512)
    assert m["rfc2544.throughput_l1.f64"].value == pytest.approx(fps * 84 * 8 / 1e6)
    assert m["rfc2544.goodput.f64"].value == pytest.approx(fps * 18 * 8 / 1e6)
    assert m["rfc2544.latency.f1518"].value == 2.5 and m["rfc2544.latency.f64"].unit == "ms"
    assert m["rfc2544.iterations.f1518"].value == result.frames[1].search.iterations
    assert m["rfc2544.confirmed.f1518"].value == 1
    assert m["rfc2544.frame_loss.f64.at100"].unit == "%"
    assert m["rfc2544.frame_loss.f64.at100"].value > 50  # 100 Mbit/s offered, 25.6 carried
    assert result.frames[1].latency_ms == (2.5, 2.5, 2.5)  # confirmation + 2 latency trials
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["format_version"] == 1 and len(doc["frames"]) == 2
    assert doc["frames"][0]["search"]["throughput"]["frames_per_s"] == pytest.approx(fps)


def test_with_latency_adds_the_meter_reading() -> None:
    link = ModelLink(line_bps=1e9)
    seen: list[float] = []

    async def meter(duration_s: float) -> float | None:
        seen.append(duration_s)
        return 7.0

    async def trial() -> ProbeResult:
        return await with_latency(link, meter)(10e6, 512, 3.0)

    result = asyncio.run(trial())
    assert result.latency_ms == 7.0 and seen == [3.0] and result.lost_packets == 0


# ---- iperf3 output → probe result (captured through the simulated cell) ----------------------

@pytest.mark.parametrize(("name", "sent", "lost", "in_flight"), [
    ("udp-ul-1472B-overload-relay.json", 1069, 36, 0),
    ("udp-dl-1472B-overload-relay.json", 1071, 35, 18),
])
def test_iperf3_udp_counts(name: str, sent: int, lost: int, in_flight: int) -> None:
    """1518-byte frames at 1.05 × a 12 Mbit/s relay for 1 s: tail drop loses ~3.3 %. In DL the
    queue (15 ms ≈ 15 datagrams) was still full when iperf3's receiver stopped."""
    raw = (FIXTURES / name).read_text()
    counts = udp_counts(raw)
    assert (counts.sent_packets, counts.lost_packets, counts.in_flight) == (sent, lost, in_flight)
    direction = "ul" if "-ul-" in name else "dl"
    result = probe_result(FrameSpec(1518), parse_result(raw, direction=direction), counts)
    assert result.loss_percent == pytest.approx(100 * lost / sent)
    assert result.received_bps == pytest.approx(counts.received_bps * 1518 / 1472)
    assert result.offered_bps == pytest.approx(counts.sent_bps * 1518 / 1472)
    assert result.jitter_ms is not None and result.latency_ms is None
    with pytest.raises(MeasurementError):
        udp_counts('{"end": {}}')


# ---- end to end: the search through the simulated cell ---------------------------------------

CELL_BPS = 12e6  # the relay's capacity, counted on UDP payload bytes as the cell counts them


@contextlib.asynccontextmanager
async def shaped_relay(capacity_bps: float, server_port: int) -> AsyncIterator[int]:
    """TCP (iperf3 control) and UDP relays on one port through a cell shaped to `capacity_bps`
    each way: a 15 ms queue, tail drop beyond it (`harness.simlab.shaper`)."""
    up, down = Direction(RateLimiter(capacity_bps)), Direction(RateLimiter(capacity_bps))
    port = dual_port()
    listen, target = (LOCAL, port), (LOCAL, server_port)
    relays: list[TcpRelay | UdpRelay] = [
        TcpRelay(listen=listen, target=target, uplink=up, downlink=down),
        UdpRelay(listen=listen, target=target, uplink=up, downlink=down)]
    try:
        for r in relays:
            await r.start()
        yield port
    finally:
        for r in relays:
            await r.stop()


@pytest.mark.e2e
def test_search_finds_the_relays_zero_loss_rate() -> None:
    """iperf3 UDP through a 12 Mbit/s cell (UL), 1518-byte frames, 1 s trials: the zero-loss
    rate is 12 × 1518/1472 = 12.375 Mbit/s of frames; found within the 3 % resolution (the
    15 ms queue lets up to 1.5 % over capacity pass a 1 s trial)."""
    require_tool("iperf3")
    want = FrameSpec(1518).l2_from_l4(CELL_BPS)
    opts = SearchOptions(max_rate_bps=1.6 * want, min_rate_bps=0.4 * want,
                         resolution_percent=3, max_iterations=8, trial_s=1)

    async def scenario() -> SearchResult:
        server_port = free_port()
        async with shaped_relay(CELL_BPS, server_port) as port, iperf3_udp_probe(
                TrafficHost("ue1"), TrafficHost("dn1"), (LOCAL, port), server_port,
                "ul") as probe:
            result = await zero_loss_search(probe, 1518, opts)
            assert len(probe.runs) == result.iterations + len(result.confirmations)
            return result

    result = asyncio.run(scenario())
    assert result.outcome == "found", result.to_json()
    found = result.throughput_bps
    assert found is not None and want - opts.resolution <= found <= want + opts.resolution
    assert result.confirmed and not result.generator_limited
    assert result.iterations <= 8


def _lost_under(search: SearchResult, floor_bps: float) -> list[str]:
    """Search or confirmation trials at or under `floor_bps` that lost frames."""
    return [f"{t.rate_bps / 1e6:.4g} Mbit/s lost {t.result.lost_packets} of "
            f"{t.result.sent_packets}" for t in (*search.trials, *search.confirmations)
            if t.rate_bps <= floor_bps and t.result.lost_packets > 0]


@pytest.mark.e2e
def test_rfc2544_run_through_the_cell_downlink() -> None:
    """1024-byte frames DL (978-byte payloads, ~1.5k datagrams/s: more would measure the
    Python relay and iperf3 competing for 2 busy cores): throughput within the resolution of
    12 × 1024/978 = 12.56 Mbit/s, and a loss curve from 125 % of it.

    A run that lost frames more than one resolution under the capacity, where the shaped cell
    cannot lose any (a scheduling stall of iperf3 or the relay on a machine shared with other
    suites bursts into the 15 ms queue), is run once more; the test fails with the evidence
    when both runs did."""
    require_tool("iperf3")
    want = FrameSpec(1024).l2_from_l4(CELL_BPS)
    opts = Rfc2544Options(
        search=SearchOptions(max_rate_bps=1.25 * want, min_rate_bps=0.5 * want,
                             resolution_percent=4, max_iterations=6, trial_s=1),
        frame_sizes=(1024,), loss_step_percent=25)
    res = opts.search.resolution

    async def scenario() -> Rfc2544Result:
        server_port = free_port()
        async with shaped_relay(CELL_BPS, server_port) as port, iperf3_udp_probe(
                TrafficHost("ue1"), TrafficHost("dn1"), (LOCAL, port), server_port,
                "dl") as probe:
            return await run_rfc2544(probe, opts)

    disturbed: list[str] = []
    for attempt in (1, 2):
        result = asyncio.run(scenario())
        evidence = _lost_under(result.frames[0].search, want - res)
        if not evidence:
            break
        disturbed.append(f"run {attempt}: {'; '.join(evidence)}")
    else:
        pytest.fail("frames lost under the cell's capacity in both runs: "
                    + " | ".join(disturbed))
    frame = result.frames[0]
    found = frame.search.throughput_bps
    detail = result.to_json()
    assert found is not None, detail
    # Within the resolution above; below, one more: a confirmation at the edge of the capacity
    # can lose a frame and step down one resolution.
    assert want - 2 * res <= found <= want + res, detail
    curve = frame.loss_curve
    assert curve is not None
    # 125 % offered: 1 − 1/1.25 = 20 % lost (± 4 points); 75 % and 50 %: nothing lost (a
    # step at 25 % is allowed: a scheduling hiccup on a busy machine can drop a burst at 75 %).
    assert curve.points[0].trial.result.loss_percent == pytest.approx(20, abs=4), detail
    assert [p.percent_of_max for p in curve.points][:3] == [100, 75, 50], detail
    assert curve.complete, detail
    fps = result.metrics()["rfc2544.frames_per_s.f1024"].value
    assert fps == pytest.approx(found / (1024 * 8))
