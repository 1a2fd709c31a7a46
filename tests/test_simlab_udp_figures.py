"""Issue 10's figures: iperf3 UDP, RFC 2544 and Y.1564 through a 100 MHz simulated cell.

The simulated cell, not the simulator, must be the bottleneck: zero loss below the capacity,
the configured share lost above it, RFC 2544 finding the capacity, Y.1564 passing at 90 %, one
flooded cell of a 3-cell site leaving the other two untouched, and the idle RTT of the slot
model. Each figure first checks that iperf3 alone carries its rate on the machine right now
(other suites share the two cores) and skips, saying what iperf3 carried, when it does not
(with UDP_FIGURES_MEASURE=1 it runs anyway and prints that anchor: for taking figures). The
full cell's figures run only with UDP_FIGURES_MEASURE=1 (see FULL_CELL).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.hosts.host import TrafficHost
from drivers.hosts.iperf3 import Iperf3Options, Iperf3Result
from drivers.hosts.irtt import IrttResult
from harness.base.verdict import Verdict
from harness.kinds.iperf3_probe import Iperf3UdpProbe, iperf3_udp_probe
from harness.measure.probe import FrameSpec
from harness.measure.rfc2544_search import SearchOptions, SearchResult, zero_loss_search
from harness.measure.y1564 import (
    Acceptance,
    ConfigurationResult,
    Service,
    service_configuration_test,
)
from harness.simlab.gnb import CellRuntime
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
MEASURE_ANYWAY = "UDP_FIGURES_MEASURE"  # set: never skip, print iperf3's own figure (stderr)


def _options(port: int, rate_bps: float, *, payload: int = UDP_DATAGRAM,
             window: int | None = RECEIVE_BUFFER, duration_s: float = 3) -> Iperf3Options:
    return Iperf3Options(host=LOCAL, port=port, direction="dl", protocol="udp",
                         duration_s=duration_s, bitrate_bps=rate_bps, length_bytes=payload,
                         window_bytes=window)


def _rcvbuf_errors() -> int:
    """UDP datagrams this machine's sockets dropped so far, their receive queue full (the
    kernel's Udp RcvbufErrors): the relay's own sockets' and iperf3's receiver's."""
    lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines()
             if ln.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


_ERRORS_AT_START = [0]


def _simulator(runtime: CellRuntime) -> str:
    """What the relay itself lost and sent late (the machine's shortfall, not the cell's), and
    what every receiving socket of the machine dropped since the figure started."""
    d = runtime.downlink
    return (f"the relay itself lost {d.relay_lost} and sent {d.relay_late} datagrams > 2 ms "
            f"late (cell drops {d.drops}, relayed {d.packets}); receive-buffer drops on this "
            f"machine meanwhile: {_rcvbuf_errors() - _ERRORS_AT_START[0]}")


@pytest.fixture(autouse=True)
def _errors_at_start() -> None:
    _ERRORS_AT_START[0] = _rcvbuf_errors()


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
    anchor = (f"iperf3 alone: {received / 1e6:.0f} of {rate_bps / 1e6:.0f} Mbit/s, "
              f"{result.lost_percent:.2f} % lost")
    if os.environ.get(MEASURE_ANYWAY):  # to take the figures on a busy machine, with the anchor
        print(f"\n{anchor}", file=sys.stderr)
        return
    if (result.lost_percent or 0) > 0.1 or received < 0.98 * rate_bps:
        pytest.skip(f"iperf3 alone carries {received / 1e6:.0f} of {rate_bps / 1e6:.0f} Mbit/s "
                    f"({result.lost_percent:.2f} % lost) on this machine right now: too busy "
                    "to tell the cell from the machine")


# Full channel quality (1,736 Mbit/s DL, ~155k datagrams/s of 1,400 bytes): issue 10's target,
# carried by the relay's C core (harness/simlab/_udpcore.c). Quality 0.25 (434 Mbit/s): the same
# cell at a rate a loaded 2-core machine carries, which the Python relay also sustains.
# The full cell's figures need iperf3 itself to generate 1.6-2.9 Gbit/s, which this 2-core
# machine does only while nothing else runs (in the suite, a 2 s check that it can is no
# guarantee for the 10-60 s that follow: seen failing at 0.83 × the capacity when a neighbour
# started): they are figures, taken on a quiet machine with UDP_FIGURES_MEASURE=1 (and
# benchmarks/relay.py), not pass/fail tests of `make test`.
FULL_CELL = pytest.mark.skipif(
    not os.environ.get(MEASURE_ANYWAY),
    reason=f"full-cell figure: set {MEASURE_ANYWAY}=1 on a quiet machine to take it")
QUALITIES = [pytest.param(1.0, id="full", marks=FULL_CELL),
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
    assert runtime.downlink.relay_lost == 0, _simulator(runtime)
    assert runtime.downlink.drops == 0, _simulator(runtime)
    assert result.lost_percent == 0.0, _simulator(runtime)
    assert result.bits_per_second_received == pytest.approx(rate, rel=0.02)


@pytest.mark.e2e
@pytest.mark.parametrize("quality", QUALITIES)
def test_udp_at_1_2x_a_100mhz_cells_capacity_loses_a_sixth(quality: float) -> None:
    iperf3 = require_tool("iperf3")
    capacity = CAPACITY_100_DL * quality
    _machine_carries(1.2 * capacity)
    runtime = cell(100, quality=quality)
    result = asyncio.run(_udp(iperf3, runtime, 1.2 * capacity))
    assert runtime.downlink.relay_lost == 0, _simulator(runtime)
    assert result.lost_percent == pytest.approx(100 / 6, abs=1), _simulator(runtime)
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
    assert runtime.downlink.relay_lost == 0, _simulator(runtime)
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
    assert runtime.downlink.relay_lost == 0, _simulator(runtime)
    assert [s.step.name for s in res.steps] == ["cir25", "cir50", "cir75", "cir100", "eir",
                                                "policing"]
    assert [s.verdict for s in res.steps] == [Verdict.PASS] * 6, res.to_json()
    assert all(s.result.loss_percent == 0 for s in res.steps[:4])


# What the two other cells of the site carry: 108 Mbit/s, a quarter of a quality-0.25 cell and
# more than the 100 Mbit/s DL of the ministry's 5G criteria. (A quarter of a full cell each,
# 2.95 Gbit/s in all with the flooded cell, is more than this 2-core machine generates and
# relays at once: the flooded cell's relay then loses datagrams of its own.)
NEIGHBOUR_BPS = CAPACITY_100_DL / 16


@pytest.mark.e2e
@pytest.mark.parametrize("quality", QUALITIES)
def test_a_flooded_cell_does_not_starve_its_neighbours(quality: float) -> None:
    """A 3-cell site at 100 MHz each: cell 1 offered 1.2 × its capacity while cells 2 and 3
    carry NEIGHBOUR_BPS each; cells 2 and 3 lose nothing and carry their rate, cell 1 carries
    its capacity at most and its cell drops the rest."""
    iperf3 = require_tool("iperf3")
    capacity = CAPACITY_100_DL * quality
    rates = [1.2 * capacity, NEIGHBOUR_BPS, NEIGHBOUR_BPS]
    _machine_carries(sum(rates))
    site = [cell(100, quality=quality) for _ in range(3)]

    async def scenario() -> list[Iperf3Result]:
        return list(await asyncio.gather(*(_udp(iperf3, c, r) for c, r in zip(site, rates,
                                                                               strict=True))))

    flooded, *others = asyncio.run(scenario())
    for result, runtime, rate in zip(others, site[1:], rates[1:], strict=True):
        assert runtime.downlink.relay_lost == 0, _simulator(runtime)
        assert result.lost_percent == 0.0 and runtime.downlink.drops == 0, _simulator(runtime)
        assert result.bits_per_second_received == pytest.approx(rate, rel=0.02)
    # the flooded cell: its relay (this machine) must keep up for the cell to be what drops
    assert site[0].downlink.relay_lost == 0, _simulator(site[0])
    assert flooded.bits_per_second_received <= capacity * 1.02
    assert site[0].downlink.drops > 0, _simulator(site[0])


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
