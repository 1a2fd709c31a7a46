"""ITU-T Y.1564: step rates and pass bands (hand-computed), verdicts against a model link, and
the configuration and performance tests through the simulated cell with real iperf3.

`SharedLink` is a model of a link (one capacity shared by every service in flight), not a
stand-in for a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from drivers.hosts.host import TrafficHost
from harness.base.errors import ConfigError
from harness.base.verdict import Verdict
from harness.kinds.iperf3_probe import Iperf3UdpProbe, iperf3_udp_probe
from harness.measure.probe import FrameSpec, Probe, ProbeResult, loss_percent
from harness.measure.y1564 import (
    Acceptance,
    ConfigurationResult,
    PerformanceResult,
    Service,
    Step,
    configuration_steps,
    ir_band,
    judge_step,
    run_y1564,
    service_configuration_test,
    service_performance_test,
)
from harness.simlab.relay import TcpRelay
from harness.simlab.shaper import Direction, RateLimiter
from harness.simlab.udp_relay import UdpRelay
from tests.conftest import free_port, require_tool
from tests.test_rfc2544 import CELL_BPS, LOCAL, shaped_relay
from tests.test_simlab_userplane import dual_port

MBIT = 1e6


@dataclass
class SharedLink:
    """A model of a link of `capacity_bps` (L2) shared by the trials in flight, in proportion
    to what each offers; `latency_ms` is what a latency meter would read."""

    capacity_bps: float
    latency_ms: float | None = 1.0
    jitter_ms: float = 0.2
    active: dict[int, float] = field(default_factory=dict)

    def probe(self, key: int) -> Probe:
        async def run(rate_bps: float, frame_size: int, duration_s: float) -> ProbeResult:
            self.active[key] = rate_bps
            await asyncio.sleep(0.01)  # let concurrent trials register
            total = sum(self.active.values())
            share = min(1.0, self.capacity_bps / total)
            await asyncio.sleep(0.01)
            self.active.pop(key, None)
            sent = round(FrameSpec(frame_size).frames_per_s(rate_bps) * duration_s)
            lost = round(sent * (1 - share))
            return ProbeResult(rate_bps, rate_bps * share, sent, lost, loss_percent(sent, lost),
                               jitter_ms=self.jitter_ms, latency_ms=self.latency_ms,
                               fdv_ms=self.jitter_ms)
        return run


def result(received: float, loss: float = 0.0, fdv: float | None = 0.5,
           latency: float | None = 5.0, jitter: float | None = 0.1) -> ProbeResult:
    return ProbeResult(received, received, 1000, round(10 * loss), loss, jitter, latency, fdv)


GOLD = Service("gold", cir_bps=40 * MBIT, eir_bps=20 * MBIT, frame_size=1024,
               acceptance=Acceptance(max_flr_percent=0.1, max_ftd_ms=10, max_fdv_ms=2))


def test_configuration_steps_and_rates() -> None:
    steps = configuration_steps(GOLD)
    assert [(s.name, s.kind, s.offered_bps / MBIT) for s in steps] == [
        ("cir25", "cir", 10), ("cir50", "cir", 20), ("cir75", "cir", 30), ("cir100", "cir", 40),
        ("eir", "eir", 60), ("policing", "policing", 75)]  # 125 % of CIR + EIR
    no_eir = configuration_steps(Service("be", cir_bps=8 * MBIT), cir_steps=(50, 100))
    assert [(s.name, s.offered_bps / MBIT) for s in no_eir] == [
        ("cir50", 4), ("cir100", 8), ("policing", 10)]
    with pytest.raises(ConfigError, match="cir_steps"):
        configuration_steps(GOLD, cir_steps=(0,))


def test_pass_bands() -> None:
    """FLR allowance 0.1 %, IR tolerance 1 %: CIR steps need ≥ offered × 0.999 × 0.99; the EIR
    and policing steps need CIR × 0.999 × 0.99 = 39.5604 to (CIR + EIR) × 1.01 = 60.6 Mbit/s."""
    cir50, eir, policing = (configuration_steps(GOLD)[i] for i in (1, 4, 5))
    low, high = ir_band(GOLD, cir50)
    assert low == pytest.approx(20 * MBIT * 0.999 * 0.99) and high is None
    for step in (eir, policing):
        low, high = ir_band(GOLD, step)
        assert low == pytest.approx(39.5604 * MBIT) and high == pytest.approx(60.6 * MBIT)


@pytest.mark.parametrize(("step", "measured", "verdict", "failing"), [
    (1, result(20 * MBIT), Verdict.PASS, []),
    (1, result(19.5 * MBIT, loss=2.5), Verdict.FAIL, ["ir", "flr"]),
    (3, result(40 * MBIT, latency=12.0), Verdict.FAIL, ["ftd"]),
    (3, result(40 * MBIT, fdv=3.0), Verdict.FAIL, ["fdv"]),
    # RFC 3550 jitter is not FDV: a small jitter does not pass a large delay variation, and
    # FDV not measured (no per-packet delays) is not judged on the jitter instead
    (3, result(40 * MBIT, fdv=3.0, jitter=0.1), Verdict.FAIL, ["fdv"]),
    (3, result(40 * MBIT, fdv=None, jitter=0.1), Verdict.INCONCLUSIVE, []),
    (3, result(40 * MBIT, latency=None), Verdict.INCONCLUSIVE, []),  # FTD not measured
    (4, result(58 * MBIT, loss=3.0, latency=50.0), Verdict.PASS, []),  # above CIR: IR only
    (5, result(60 * MBIT, loss=20.0), Verdict.PASS, []),  # policed to CIR + EIR
    (5, result(70 * MBIT), Verdict.FAIL, ["ir"]),  # not policed: more than CIR + EIR through
    (5, result(30 * MBIT), Verdict.FAIL, ["ir"]),  # below CIR: the committed rate is not kept
])
def test_step_verdicts(step: int, measured: ProbeResult, verdict: Verdict,
                       failing: list[str]) -> None:
    judged = judge_step(GOLD, configuration_steps(GOLD)[step], measured)
    assert judged.verdict is verdict
    assert [c.name for c in judged.checks if c.verdict is Verdict.FAIL] == failing


def test_bad_services() -> None:
    for kwargs, fld in [({"name": "Gold-1", "cir_bps": 1e6}, "name"),
                        ({"name": "a", "cir_bps": 0}, "cir"),
                        ({"name": "a", "cir_bps": 1e6, "eir_bps": -1}, "eir"),
                        ({"name": "a", "cir_bps": 1e6, "frame_size": 40}, "frame_size")]:
        with pytest.raises(ConfigError, match=fld):
            Service(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="flr"):
        Acceptance(max_flr_percent=100)


def test_configuration_against_a_link_that_does_not_police() -> None:
    """A 100 Mbit/s link carries gold's 75 Mbit/s policing step whole: the policing step fails,
    everything else passes."""
    link = SharedLink(100 * MBIT)
    res = asyncio.run(service_configuration_test(link.probe(1), GOLD, step_s=1))
    assert [s.verdict for s in res.steps] == [Verdict.PASS] * 5 + [Verdict.FAIL]
    assert res.verdict is Verdict.FAIL
    m = res.metrics()
    assert m["y1564.gold.cir100.ir"].value == pytest.approx(40)
    assert m["y1564.gold.policing.ir"].unit == "Mbit/s" and m["y1564.gold.cir25.ftd"].unit == "ms"
    assert m["y1564.gold.steps_failed"].value == 1
    assert json.loads(json.dumps(res.to_json()))["steps"][5]["verdict"] == "FAIL"


def test_performance_runs_services_at_once() -> None:
    """gold (40) + silver (30) at CIR on a 60 Mbit/s link: each gets 6/7 and loses 14.3 %."""
    silver = Service("silver", cir_bps=30 * MBIT, frame_size=512)
    link = SharedLink(60 * MBIT)
    probes = {"gold": link.probe(1), "silver": link.probe(2)}
    res = asyncio.run(service_performance_test(probes, [GOLD, silver], duration_s=60))
    assert [r.verdict for r in res.results] == [Verdict.FAIL, Verdict.FAIL]
    m = res.metrics()
    assert m["y1564.gold.perf.flr"].value == pytest.approx(100 / 7, abs=0.01)
    assert m["y1564.services_failed"].value == 2
    roomy = SharedLink(100 * MBIT)
    ok = asyncio.run(service_performance_test(
        {"gold": roomy.probe(1), "silver": roomy.probe(2)}, [GOLD, silver], duration_s=60))
    assert ok.verdict is Verdict.PASS
    with pytest.raises(ConfigError, match="no probe"):
        asyncio.run(service_performance_test({"gold": roomy.probe(1)}, [GOLD, silver],
                                             duration_s=1))


def test_run_y1564_combines_phases() -> None:
    link = SharedLink(200 * MBIT)
    silver = Service("silver", cir_bps=30 * MBIT, eir_bps=10 * MBIT)
    res = asyncio.run(run_y1564({"gold": link.probe(1), "silver": link.probe(2)},
                                [GOLD, silver], step_s=1, performance_s=10))
    assert res.performance is not None and res.performance.verdict is Verdict.PASS
    assert res.verdict is Verdict.FAIL  # neither service is policed by a 200 Mbit/s link
    doc = json.loads(json.dumps(res.to_json()))
    assert doc["format_version"] == 1 and len(doc["configuration"]) == 2
    assert "y1564.silver.perf.ir" in res.metrics()


# ---- end to end through the simulated cell ---------------------------------------------------

# The cell carries 12 Mbit/s of UDP payload: 12.375 Mbit/s of 1518-byte frames.
CELL_L2 = FrameSpec(1518).l2_from_l4(CELL_BPS)
# no FDV criterion: the bare iperf3 probe gives no per-packet delays (FDV would be INCONCLUSIVE)
TOLERANT = Acceptance(max_flr_percent=0.0, ir_tolerance_percent=2)


@contextlib.asynccontextmanager
async def probe_through_cell(direction: str) -> AsyncIterator[Iperf3UdpProbe]:
    server_port = free_port()
    async with shaped_relay(CELL_BPS, server_port) as port, iperf3_udp_probe(
            TrafficHost("ue1"), TrafficHost("dn1"), (LOCAL, port), server_port,
            direction) as probe:
        yield probe


@pytest.mark.e2e
def test_configuration_test_through_the_cell() -> None:
    """CIR 8 + EIR 4.5 Mbit/s on a cell that carries 12.375: every CIR step passes loss-free;
    the EIR (12.5) and policing (15.6) steps are held to the cell's 12.375, inside the band
    [CIR × 0.98, (CIR + EIR) × 1.02]."""
    require_tool("iperf3")
    service = Service("gold", cir_bps=8 * MBIT, eir_bps=4.5 * MBIT, acceptance=TOLERANT)

    async def scenario() -> ConfigurationResult:
        async with probe_through_cell("dl") as probe:
            return await service_configuration_test(probe, service, step_s=1)

    res = asyncio.run(scenario())
    verdicts = {s.step.name: s.verdict for s in res.steps}
    assert verdicts == dict.fromkeys(("cir25", "cir50", "cir75", "cir100", "eir", "policing"),
                                     Verdict.PASS), res.to_json()
    policing = res.steps[-1].result
    assert policing.received_bps == pytest.approx(CELL_L2, rel=0.03)
    assert policing.loss_percent == pytest.approx(100 * (1 - CELL_L2 / (1.25 * 12.5e6)), abs=4)


@pytest.mark.e2e
def test_performance_test_two_services_through_one_cell() -> None:
    """Two services on one cell, each with its own iperf3 server: 5 + 4 Mbit/s fit 12.375 and
    both pass; 8 + 7 do not, and the loss shows in both."""
    require_tool("iperf3")
    a = Service("video", cir_bps=5 * MBIT, acceptance=TOLERANT)
    b = Service("voice", cir_bps=4 * MBIT, frame_size=512, acceptance=TOLERANT)

    async def scenario(services: list[Service]) -> PerformanceResult:
        async with shared_cell_probes(2) as probes:
            return await service_performance_test(
                dict(zip((s.name for s in services), probes, strict=True)), services,
                duration_s=2)

    fits = asyncio.run(scenario([a, b]))
    assert fits.verdict is Verdict.PASS, fits.to_json()
    total = sum(r.result.received_bps for r in fits.results)
    assert total == pytest.approx(9 * MBIT, rel=0.03)
    over = asyncio.run(scenario([Service("video", cir_bps=8 * MBIT, acceptance=TOLERANT),
                                 Service("voice", cir_bps=7 * MBIT, acceptance=TOLERANT)]))
    assert [r.verdict for r in over.results] == [Verdict.FAIL, Verdict.FAIL]
    carried = sum(r.result.received_bps for r in over.results)
    assert carried == pytest.approx(CELL_L2, rel=0.05)


@contextlib.asynccontextmanager
async def shared_cell_probes(count: int) -> AsyncIterator[list[Iperf3UdpProbe]]:
    """`count` probes, each with its own iperf3 server and relay port, through one cell (UL)."""
    up, down = Direction(RateLimiter(CELL_BPS)), Direction(RateLimiter(CELL_BPS))
    relays: list[TcpRelay | UdpRelay] = []
    probes: list[Iperf3UdpProbe] = []
    try:
        for _ in range(count):
            server_port, port = free_port(), dual_port()
            listen, target = (LOCAL, port), (LOCAL, server_port)
            relays += [TcpRelay(listen=listen, target=target, uplink=up, downlink=down),
                       UdpRelay(listen=listen, target=target, uplink=up, downlink=down)]
            await relays[-2].start()
            await relays[-1].start()
            probes.append(iperf3_udp_probe(TrafficHost("ue1"), TrafficHost("dn1"),
                                           (LOCAL, port), server_port, "ul"))
        yield probes
    finally:
        for probe in probes:
            await probe.close()
        for r in relays:
            await r.stop()


def test_step_type_is_plain_data() -> None:
    assert Step("cir25", "cir", 1.0) == Step("cir25", "cir", 1.0)
