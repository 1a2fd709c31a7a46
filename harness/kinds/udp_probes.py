"""What the `rfc2544` and `y1564` kinds share: the iperf3 UDP probe on the trial's hosts, an
irtt latency meter alongside it, and a per-trial record of every probe trial.

Through a simulated gNodeB the relay forwards one iperf3 port and one irtt port per DN host, so
every probe of a trial goes to the DN host's one iperf3 server; `SharedProbe` serialises the
trials that would otherwise reach that server at once (iperf3 serves one test at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from drivers.capabilities import TrafficEndpoint
from drivers.hosts.irtt import IrttOptions
from harness.base import jsonio
from harness.base.errors import HarnessError, MeasurementError, ToolMissing
from harness.base.sample import Sample
from harness.kinds.base import KindRun
from harness.kinds.iperf3_probe import iperf3_udp_probe
from harness.measure.latency import frame_delay_variation
from harness.measure.probe import DelayReading, LatencyMeter, Probe, ProbeResult, with_latency

IRTT_INTERVAL_S = 0.01  # one irtt packet every 10 ms alongside a trial (≈ 100 packets/s)
IRTT_MARGIN_S = 15.0


def host_names(run: KindRun) -> tuple[str, str]:
    """The trial's UE-side and DN host names; HarnessError when one is missing."""
    t = run.trial
    if t.ue is None or t.dn is None:
        raise HarnessError(f"trial {t.id}: needs ue and dn")
    return t.ue, t.dn


def hosts(run: KindRun) -> tuple[TrafficEndpoint, TrafficEndpoint]:
    """The trial's UE-side and DN hosts (the probe needs iperf3 client and server on them)."""
    ue, dn = host_names(run)
    return run.bench.hosts[ue], run.bench.hosts[dn]


class SharedProbe:
    """One probe used by several callers (services) that run one trial at a time."""

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._lock = asyncio.Lock()
        self.waited = False  # True once a caller had to wait for another's trial

    async def __call__(self, rate_bps: float, frame_size: int,
                       duration_s: float) -> ProbeResult:
        """One trial, after any trial already running has finished."""
        if self._lock.locked():
            self.waited = True
        async with self._lock:
            return await self._probe(rate_bps, frame_size, duration_s)


def recorded(probe: Probe, run: KindRun, measurement: str,
             tags: dict[str, str] | None = None) -> Probe:
    """`probe`, storing each trial as a `measurement` sample (rate asked, offered, received,
    loss, jitter, latency) tagged with the run's tags plus `tags`."""

    async def record(rate_bps: float, frame_size: int, duration_s: float) -> ProbeResult:
        started = time.time()
        result = await probe(rate_bps, frame_size, duration_s)
        fields: dict[str, float | int | bool] = {
            "rate_bps": rate_bps, "frame_bytes": frame_size, "duration_s": duration_s,
            "offered_bps": result.offered_bps, "received_bps": result.received_bps,
            "sent_packets": result.sent_packets, "lost_packets": result.lost_packets,
            "loss_percent": result.loss_percent}
        if result.jitter_ms is not None:
            fields["jitter_ms"] = result.jitter_ms
        if result.latency_ms is not None:
            fields["latency_ms"] = result.latency_ms
        if result.fdv_ms is not None:
            fields["fdv_ms"] = result.fdv_ms
        run.emit([Sample(int(started * 1e9), measurement, {**run.tags, **(tags or {})},
                         fields)])
        return result

    return record


async def irtt_available(run: KindRun) -> bool:
    """True when irtt runs on both hosts (else the latency figures are left out, with a note)."""
    ue, dn = hosts(run)
    try:
        await ue.tool_version("irtt")
        await dn.tool_version("irtt")
    except ToolMissing as exc:
        run.notes.append(f"irtt absent ({exc}): no latency measured")
        return False
    return True


def irtt_meter(run: KindRun, direction: str) -> LatencyMeter:
    """irtt alongside a trial, through the same path as the probe: the mean round-trip time
    (ms) and the Y.1564 frame delay variation of the one-way delays in the trial's `direction`
    (the receive delay for "dl", the send delay for "ul"; a constant clock offset between the
    hosts cancels as the minimum is subtracted), of the round trips where irtt gave no one-way
    delay. None when irtt received no reply.
    """
    ue_name, dn_name = host_names(run)
    ue = hosts(run)[0]
    host, port = run.bench.endpoint(dn_name, run.trial.via, ue=ue_name, kind="irtt")

    async def meter(duration_s: float) -> DelayReading | None:
        opts = IrttOptions(host=host, port=port, interval_s=IRTT_INTERVAL_S,
                           duration_s=max(duration_s, 2 * IRTT_INTERVAL_S))
        try:
            result, _raw = await ue.run_irtt_client(
                opts, timeout_s=duration_s + IRTT_MARGIN_S)
        except MeasurementError as exc:
            run.notes.append(f"irtt alongside a trial failed: {exc}")
            return None
        rtts = [p.rtt_ms for p in result.packets if p.rtt_ms is not None]
        if not rtts:
            return None
        arrived = [p for p in result.packets if p.rtt_ms is not None]
        one_way = [p.receive_delay_ms if direction == "dl" else p.send_delay_ms
                   for p in arrived]
        delays = one_way if all(d is not None for d in one_way) else rtts
        return DelayReading(sum(rtts) / len(rtts), frame_delay_variation(delays))

    return meter


PROBE_WINDOW_BYTES = 4 * 1024 * 1024
"""iperf3 -w of the RFC 2544 / Y.1564 probes: with iperf3's default 208 KiB receive buffer the
tool itself drops datagrams above ~1 Gbit/s of UDP, which would be read as the device's loss."""


@contextlib.asynccontextmanager
async def trial_probe(run: KindRun, direction: str, *,
                      latency: bool) -> AsyncIterator[tuple[Probe, list[Any]]]:
    """The trial's iperf3 UDP probe (iperf3 server on the DN host's traffic port, client on the
    UE host through `via`), with irtt alongside when `latency`; also the probe's raw runs."""
    bench = run.bench
    ue_name, dn_name = host_names(run)
    ue, dn = hosts(run)
    endpoint = bench.endpoint(dn_name, run.trial.via, ue=ue_name)
    async with contextlib.AsyncExitStack() as stack:
        base = await stack.enter_async_context(
            iperf3_udp_probe(ue, dn, endpoint, bench.traffic_ports[dn_name], direction,
                             window_bytes=PROBE_WINDOW_BYTES))
        probe: Probe = base
        pair = hosts(run) if latency and await irtt_available(run) else None
        if pair is not None:
            await stack.enter_async_context(
                await pair[1].start_irtt_server(bench.irtt_ports[dn_name]))
            probe = with_latency(base, irtt_meter(run, direction))
            run.notes.append("latency (RFC 2544 latency, Y.1564 FTD) is irtt's mean round-trip "
                             "time alongside each trial: a round trip, not the one-way delay "
                             "the methods define; FDV is the P99 of the one-way delay minus "
                             "its minimum over the step (irtt, ~100 packets/s)")
        yield probe, base.runs


def save_runs(run: KindRun, runs: list[Any], suffix: str) -> None:
    """Keep every probe trial's raw iperf3 JSON as evidence, one JSON array."""
    docs = []
    for r in runs:
        try:
            doc: Any = json.loads(r.raw[r.raw.index("{"):])
        except ValueError:
            doc = r.raw
        docs.append({"rate_bps": r.rate_bps, "frame_bytes": r.frame_bytes,
                     "duration_s": r.duration_s, "iperf3": doc})
    run.raw_path(suffix).write_text(jsonio.dumps(docs), encoding="utf-8")
