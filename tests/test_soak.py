"""Soak: schedule, availability, percentiles, checkpoint/resume (injected probes, virtual clock),
and a short real probe pair (iperf3 + irtt between local traffic hosts)."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from drivers.hosts.host import TrafficHost
from harness.base.errors import ConfigError, MeasurementError
from harness.kinds.soak_probes import iperf3_probe, irtt_probe
from harness.measure.soak import (
    LatencySample,
    ProbeRecord,
    SoakCriteria,
    SoakResult,
    ThroughputSample,
    probe_count,
    run_soak,
)
from tests.conftest import free_port, require_tool


class FakeClock:
    """Virtual time: sleep advances it at once; probes may advance it too."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1.7e9 + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Probes:
    """Throughput per call from a list (None: the probe fails), fixed RTTs, 1 s each."""

    def __init__(self, clock: FakeClock, rates: list[float | None],
                 stop_after: int | None = None) -> None:
        self.clock, self.rates, self.calls = clock, rates, 0
        self.stop_after = stop_after

    async def throughput(self) -> ThroughputSample:
        index = self.calls
        self.calls += 1
        if self.stop_after is not None and index >= self.stop_after:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C mid-soak
        self.clock.now += 1.0
        rate = self.rates[index]
        if rate is None:
            raise MeasurementError("iperf3 client: connection refused (gNodeB rebooting)")
        return ThroughputSample(mbps=rate)

    async def latency(self) -> LatencySample:
        self.clock.now += 0.5
        base = float(self.calls)
        return LatencySample(rtts_ms=(base, base + 1, base + 2), sent=4, lost=1)


def test_probe_count() -> None:
    assert probe_count(3600 * 24, 300) == 288
    assert probe_count(10, 3) == 3
    assert probe_count(1, 1) == 1
    with pytest.raises(ConfigError, match="longer than its duration"):
        probe_count(10, 20)
    with pytest.raises(ConfigError, match="duration"):
        probe_count(0, 1)


def test_schedule_availability_and_statistics(tmp_path: Path) -> None:
    clock = FakeClock()
    rates: list[float | None] = [100.0, 20.0, None, 80.0, 60.0]
    probes = Probes(clock, rates)
    seen: list[int] = []
    result = asyncio.run(run_soak(
        probes.throughput, probes.latency, duration_s=50, period_s=10,
        checkpoint=tmp_path / "soak.jsonl", criteria=SoakCriteria(throughput_floor_mbps=30),
        clock=clock, on_probe=lambda r: seen.append(r.index)))
    assert seen == [0, 1, 2, 3, 4] and result.planned == 5 and result.resumed == 0
    # Each probe takes 1.5 s of virtual time, so each wait is the rest of its 10 s slot.
    assert clock.sleeps == pytest.approx([8.5, 8.5, 8.5, 8.5])
    assert [p.available for p in result.probes] == [True, False, False, True, True]
    assert "gNodeB rebooting" in (result.probes[2].error or "")
    m = result.metrics
    assert m["soak.availability"].value == pytest.approx(60.0)
    assert m["soak.availability"].unit == "%"
    assert m["soak.availability.ci_low"].value < 60 < m["soak.availability.ci_high"].value
    assert m["soak.errors"].value == 1
    measured = [100.0, 20.0, 80.0, 60.0]
    assert m["soak.throughput.min"].value == 20.0
    assert m["soak.throughput.mean"].value == pytest.approx(65.0)
    assert m["soak.throughput.p5"].value == pytest.approx(_empirical(measured, 5))
    rtts = [r for i in range(1, 6) for r in (i, i + 1, i + 2)]
    assert m["soak.rtt.p95"].value == pytest.approx(_empirical(rtts, 95))
    assert m["soak.rtt.median"].value == pytest.approx(_empirical(rtts, 50))
    assert m["soak.loss"].value == pytest.approx(25.0)


def test_rtt_ceiling_counts_against_availability(tmp_path: Path) -> None:
    clock = FakeClock()
    probes = Probes(clock, [100.0, 100.0, 100.0])
    result = asyncio.run(run_soak(
        probes.throughput, probes.latency, duration_s=3, period_s=1,
        checkpoint=tmp_path / "c.jsonl",
        criteria=SoakCriteria(throughput_floor_mbps=1, rtt_ceiling_ms=2.5), clock=clock))
    # Medians 2, 3, 4 ms: only the first probe is under the 2.5 ms ceiling.
    assert [p.available for p in result.probes] == [True, False, False]


def test_interrupted_soak_resumes_without_repeating_probes(tmp_path: Path) -> None:
    checkpoint = tmp_path / "run" / "soak.jsonl"
    rates: list[float | None] = [50.0, 51.0, 52.0, 53.0, 54.0, 55.0]
    clock = FakeClock()
    first = Probes(clock, rates, stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(run_soak(first.throughput, None, duration_s=60, period_s=10,
                             checkpoint=checkpoint, clock=clock))
    lines = checkpoint.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + 3  # header + probes 0..2
    # The process died while writing probe 3's line: a torn tail is dropped, not fatal.
    with checkpoint.open("a", encoding="utf-8") as f:
        f.write('{"index": 3, "started_un')
    second = Probes(clock, rates[3:])
    result = asyncio.run(run_soak(second.throughput, None, duration_s=60, period_s=10,
                                  checkpoint=checkpoint, clock=clock))
    assert second.calls == 3 and result.resumed == 3
    assert [p.index for p in result.probes] == [0, 1, 2, 3, 4, 5]
    assert [p.throughput_mbps for p in result.probes] == rates
    assert result.metrics["soak.probes"].value == 6
    assert json.loads(checkpoint.read_text().splitlines()[-1])["index"] == 5
    # Everything done: a third run measures nothing and reports the same.
    third = Probes(clock, [])
    again = asyncio.run(run_soak(third.throughput, None, duration_s=60, period_s=10,
                                 checkpoint=checkpoint, clock=clock))
    assert third.calls == 0 and again.metrics == result.metrics


def test_checkpoint_of_another_soak_is_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    checkpoint = tmp_path / "soak.jsonl"
    asyncio.run(run_soak(Probes(clock, [1.0, 1.0]).throughput, None, duration_s=2,
                         period_s=1, checkpoint=checkpoint, clock=clock))
    with pytest.raises(ConfigError, match="another soak"):
        asyncio.run(run_soak(Probes(clock, [1.0]).throughput, None, duration_s=5,
                             period_s=1, checkpoint=checkpoint, clock=clock))
    (tmp_path / "junk.jsonl").write_text("hello\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a soak checkpoint"):
        asyncio.run(run_soak(Probes(clock, [1.0]).throughput, None, duration_s=1,
                             period_s=1, checkpoint=tmp_path / "junk.jsonl", clock=clock))


def test_monitors_run_for_the_whole_soak_and_are_stopped(tmp_path: Path) -> None:
    class Poller:
        def __init__(self) -> None:
            self.ticks = 0
            self.stopped = asyncio.Event()

        async def run(self) -> None:
            while not self.stopped.is_set():
                self.ticks += 1
                await asyncio.sleep(0.01)

        def stop(self) -> None:
            self.stopped.set()

    async def go() -> tuple[Poller, SoakResult]:
        poller = Poller()

        async def thr() -> ThroughputSample:
            await asyncio.sleep(0.05)
            return ThroughputSample(mbps=10.0)

        result = await run_soak(thr, None, duration_s=0.2, period_s=0.1,
                                checkpoint=tmp_path / "m.jsonl", monitors=[poller])
        return poller, result

    poller, result = asyncio.run(go())
    assert poller.stopped.is_set() and poller.ticks >= 5
    assert len(result.probes) == 2 and all(isinstance(p, ProbeRecord) for p in result.probes)


def test_short_real_probes_between_local_hosts(tmp_path: Path) -> None:
    require_tool("iperf3")
    require_tool("irtt")
    ue, dn = TrafficHost("ue1"), TrafficHost("dn1")
    iperf_port, irtt_port = free_port(), free_port(socket.SOCK_DGRAM)
    raws: list[str] = []
    thr = iperf3_probe(ue, dn, target=("127.0.0.1", iperf_port), server_port=iperf_port,
                       duration_s=1, keep_raw=lambda tool, raw: raws.append(tool))
    lat = irtt_probe(ue, dn, target=("127.0.0.1", irtt_port), server_port=irtt_port,
                     duration_s=1, interval_s=0.02, keep_raw=lambda tool, raw: raws.append(tool))
    result = asyncio.run(run_soak(thr, lat, duration_s=4, period_s=2,
                                  checkpoint=tmp_path / "real.jsonl",
                                  criteria=SoakCriteria(throughput_floor_mbps=100,
                                                        rtt_ceiling_ms=50)))
    assert raws == ["iperf3", "irtt", "iperf3", "irtt"]
    assert [p.error for p in result.probes] == [None, None]
    assert result.metrics["soak.availability"].value == 100.0
    assert result.metrics["soak.throughput.min"].value > 100  # unshaped loopback
    assert 0 < result.metrics["soak.rtt.p95"].value < 50
    assert all(p.sent >= 40 for p in result.probes)


def _empirical(values: list[float], q: float) -> float:
    """The empirical (inverted-CDF) percentile every summary uses."""
    return float(np.percentile(values, q, method="inverted_cdf"))
