"""`latency`: round-trip time with irtt (or, when the scenario asks, ping), idle or under load.

Under load (`load: {kind: throughput, direction: dl, protocol: tcp}`) an iperf3 flow runs
alongside: it starts first, irtt starts after the warm-up (`omit`, at least 1 s, so the flow
has filled the queues), and the flow lasts until irtt is done. Metrics: `rtt.min/mean/median/
p5/p95/p99/max/std/samples` (ms), `ipdv.mean/p95/max` (ms, RFC 5481), `jitter.rfc3550` (ms),
`loss.percent`; with a load also the load's `load.throughput.*`. Every packet is stored as a
`latency` sample.

The tool is irtt (`tool: irtt`, the default), through the trial's user-plane endpoint (on the
simulated lab, the gNodeB's relay). irtt missing on a host is ERROR with the install hint; it
never falls back to ping silently. `tool: auto` is kept for old scenarios as an alias of irtt.
`tool: ping` measures ICMP echo to the DN host's own address: it does not go through the
trial's relay endpoint, so on the simulated lab it bypasses the gNodeB's user plane altogether;
the trial's notes and its summary entry (`latency.tool`, `latency.path`) say which path it
measured.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from typing import Annotated, Literal, cast

from pydantic import Field, model_validator

from drivers.capabilities import TrafficEndpoint
from drivers.hosts.irtt import IrttOptions
from drivers.hosts.ping import MIN_INTERVAL_S, PingOptions
from harness.base.errors import HarnessError, ToolMissing
from harness.base.sample import Sample
from harness.base.schema import Duration, FieldError, Identifier, StrictModel
from harness.kinds import TrialKind
from harness.kinds.base import Bitrate, ByteSize, KindRun, TrialBase
from harness.kinds.throughput import Direction, ThroughputSpec, run_iperf3, throughput_units
from harness.kinds.throughput import Protocol as IpProtocol
from harness.measure.latency import LATENCY_UNITS, latency_metrics

_LOAD_LEAD_S = 1.0  # the load runs at least this long before irtt starts


IRTT_MIN_INTERVAL_S = 0.01
"""irtt's server refuses a client interval under its -i minimum (10 ms by default)."""


class LoadSpec(StrictModel):
    """The traffic that runs alongside a latency measurement."""

    kind: Literal["throughput"] = "throughput"
    direction: Direction = "dl"
    protocol: IpProtocol = "tcp"
    streams: Annotated[int, Field(ge=1, le=128)] = 1
    bitrate: Bitrate | None = None
    window: ByteSize | None = None


class LatencySpec(TrialBase):
    """An irtt (or ping) round-trip measurement between the UE-side and the DN host."""

    kind: Literal["latency"]
    ue: Identifier
    dn: Identifier
    tool: Literal["irtt", "ping", "auto"] = "irtt"  # auto: an alias of irtt (never ping)
    interval: Duration = IRTT_MIN_INTERVAL_S  # between packets; with tool: ping, 0.2 s
    length: Annotated[int, Field(ge=16, le=65000)] | None = None  # irtt packet length, bytes
    load: LoadSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _ping_interval(cls, data: object) -> object:
        """ping's default interval is its shortest, 0.2 s (irtt's is 10 ms)."""
        if isinstance(data, dict) and data.get("tool") == "ping" and "interval" not in data:
            return {**data, "interval": MIN_INTERVAL_S}
        return data

    @model_validator(mode="after")
    def _interval_honoured(self) -> LatencySpec:
        """An interval the tool cannot keep is refused, never rounded up in silence."""
        least, why = ((MIN_INTERVAL_S, "ping sends at most one packet per 0.2 s") if
                      self.tool == "ping" else
                      (IRTT_MIN_INTERVAL_S, "irtt's server refuses shorter send intervals "
                       "(its -i minimum, 10 ms)"))
        if self.interval < least:
            raise FieldError(f"must be at least {least:g} s: {why}; got {self.interval:g} s",
                             at=("interval",))
        return self

    def shape_direction(self) -> str | None:
        """Latency has no direction for presets."""
        return None


def latency_units(spec: TrialBase) -> Mapping[str, str]:
    """Metrics of a latency trial (and of its load, under `load.`)."""
    s = cast(LatencySpec, spec)
    units = dict(LATENCY_UNITS)
    if s.load is not None:
        units.update({f"load.{k}": v for k, v in throughput_units(_load_spec(s)).items()})
    return units


def _load_spec(spec: LatencySpec) -> ThroughputSpec:
    load = cast(LoadSpec, spec.load)
    return ThroughputSpec(id=spec.id, kind="throughput", ue=spec.ue, dn=spec.dn, via=spec.via,
                          direction=load.direction, protocol=load.protocol,
                          streams=load.streams, bitrate=load.bitrate, window=load.window)


def _host(run: KindRun, name: str) -> TrafficEndpoint:
    return run.bench.hosts[name]


async def _tool(spec: LatencySpec, ue: TrafficEndpoint, dn: TrafficEndpoint) -> str:
    """"ping" only when the scenario says so; else irtt, which must run on both hosts."""
    if spec.tool == "ping":
        return "ping"
    for host in (ue, dn):
        try:
            await host.tool_version("irtt")
        except ToolMissing as exc:
            raise ToolMissing(f"{exc}; the latency trial needs irtt on both hosts (apt-get "
                              "install irtt). It does not fall back to ping: write tool: ping "
                              "to measure ICMP to the DN host instead, which bypasses the "
                              "simulated gNodeB's user plane") from exc
    return "irtt"


async def measure(run: KindRun) -> None:
    """Measure RTTs, with the load flow (if any) running alongside."""
    spec, t = cast(LatencySpec, run.spec), run.trial
    ue, dn = _host(run, spec.ue), _host(run, spec.dn)
    tool = await _tool(spec, ue, dn)
    warmup = max(t.omit_s, _LOAD_LEAD_S) if spec.load is not None else t.omit_s
    load_task: asyncio.Task[None] | None = None
    if spec.load is not None:
        load_s = warmup + t.duration_s + 1.0
        load_task = asyncio.create_task(
            run_iperf3(run, _load_spec(spec), load_s, 0.0, prefix="load.",
                       suffix="load.iperf3.json"))
    try:
        if warmup:
            await asyncio.sleep(warmup)
        if tool == "irtt":
            await _irtt(run, spec, ue, dn)
        else:
            await _ping(run, spec, ue)
    finally:
        if load_task is not None:
            await _finish_load(load_task, run)


async def _finish_load(task: asyncio.Task[None], run: KindRun) -> None:
    if not task.done():
        try:
            await asyncio.wait_for(asyncio.shield(task), run.trial.timeout_s)
        except TimeoutError:
            task.cancel()
            raise HarnessError("the load flow did not finish in time") from None
    exc = task.exception()
    if exc is not None:
        raise HarnessError(f"load flow: {exc}") from exc


async def _irtt(run: KindRun, spec: LatencySpec, ue: TrafficEndpoint, dn: TrafficEndpoint) -> None:
    t, bench = run.trial, run.bench
    host, port = bench.endpoint(spec.dn, spec.via, ue=spec.ue, kind="irtt")
    opts = IrttOptions(host=host, port=port, interval_s=spec.interval,
                       duration_s=t.duration_s, length_bytes=spec.length)
    async with await dn.start_irtt_server(bench.irtt_ports[spec.dn]):
        result, raw = await ue.run_irtt_client(opts, timeout_s=t.timeout_s)
    run.raw_path("irtt.json").write_text(raw, encoding="utf-8")
    run.extra["latency"] = {"tool": "irtt", "path": f"UDP to {host}:{port}, the trial's "
                            "user-plane endpoint" + (f" through {spec.via}" if spec.via else "")}
    rtts = [p.rtt_ms for p in result.packets]
    ipdvs = [abs(p.ipdv_ms) for p in result.packets if p.ipdv_ms is not None]
    run.metrics.update(latency_metrics(rtts, result.loss_percent, ipdvs))
    _bookkeep(run, rtts, result.packets_sent, result.packets_sent - result.packets_received)
    start = result.start_unix_s or 0.0
    interval = result.interval_s or spec.interval
    run.emit([Sample(int((start + p.seqno * interval) * 1e9), "latency",
                     {**run.tags, "tool": "irtt"}, _fields(p.rtt_ms, p.ipdv_ms, p.seqno))
              for p in result.packets])


async def _ping(run: KindRun, spec: LatencySpec, ue: TrafficEndpoint) -> None:
    t = run.trial
    interval = spec.interval  # at least MIN_INTERVAL_S: LatencySpec refuses less
    count = max(1, math.floor(t.duration_s / interval))
    target = run.bench.hosts[spec.dn].address
    started = time.time()
    result, raw = await ue.run_ping(PingOptions(host=target, count=count, interval_s=interval),
                                    timeout_s=t.timeout_s)
    run.raw_path("ping.txt").write_text(raw, encoding="utf-8")
    path = (f"ICMP echo to the DN host's address {target}, not through the trial's "
            "user-plane endpoint: the hosts' own route"
            + (f"; on the simulated lab it bypasses {spec.via}'s user plane altogether"
               if spec.via else ""))
    run.notes.append(f"tool: ping: measured {path} (every {interval:g} s)")
    run.extra["latency"] = {"tool": "ping", "path": path}
    run.metrics.update(latency_metrics(result.rtts_ms, result.loss_percent))
    _bookkeep(run, result.rtts_ms, result.transmitted, result.transmitted - result.received)
    run.emit([Sample(int((started + (seq - 1) * interval) * 1e9), "latency",
                     {**run.tags, "tool": "ping"}, _fields(rtt, None, seq))
              for seq, rtt in enumerate(result.rtts_ms, start=1)])


def _fields(rtt: float | None, ipdv: float | None, seq: int) -> dict[str, float | int | bool]:
    fields: dict[str, float | int | bool] = {"seqno": seq, "lost": rtt is None}
    if rtt is not None:
        fields["rtt_ms"] = rtt
    if ipdv is not None:
        fields["ipdv_ms"] = ipdv
    return fields


def _bookkeep(run: KindRun, rtts: list[float | None], sent: int, lost: int) -> None:
    received = [r for r in rtts if r is not None]
    run.series["rtt.mean"] = received
    run.counts["rtt."] = len(received)
    run.counts["ipdv."] = run.counts["jitter."] = max(0, len(received) - 1)
    run.counts["loss."] = sent
    if sent:
        run.proportions["loss.percent"] = (max(0, lost), sent)


KIND = TrialKind(
    name="latency", spec=LatencySpec, measure=measure, metrics=latency_units,
    summary="irtt round-trip time (ping when asked), idle or under a throughput load",
    series=lambda spec: ["rtt"])
