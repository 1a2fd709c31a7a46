"""A MOCN sharing trial's phases run through the traffic hosts (arithmetic: measure/sharing.py).

One operator = one PLMN with its own UE-side host (its `plmn:` in lab.yaml) and DN host; its
traffic goes through the gNodeB's path for that PLMN (`Bench.endpoint(dn, via, ue=ue)`). Two
phases, all operators saturating their path (TCP, or UDP above their share):

1. **alone**: the victim operator (default: the first) runs by itself;
2. **together**: every operator runs at once (`asyncio.gather` of the iperf3 clients).

How shares, capacity and isolation are computed: harness/measure/sharing.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drivers.capabilities import TrafficEndpoint
from drivers.hosts.iperf3 import Iperf3Options, Iperf3Result
from harness.base.errors import ConfigError
from harness.base.units import Quantity
from harness.measure.sharing import capacity, sharing_metrics

if TYPE_CHECKING:
    from harness.kinds.bench_view import KindBench

RawSink = Callable[[str, str, str], None]
"""Called with (phase "alone"/"together", PLMN, iperf3 JSON) to keep the raw output."""


@dataclass(frozen=True)
class Operator:
    """One PLMN's traffic path: its UE host, DN host, where the UE sends, its configured share.

    `target` is the UE-side address of the PLMN's path (`Bench.endpoint(dn, via, ue=ue)`),
    `server_port` where the DN host's iperf3 server listens (`Bench.traffic_ports[dn]`).
    """

    plmn: str
    ue: TrafficEndpoint
    dn: TrafficEndpoint
    target: tuple[str, int]
    server_port: int
    share: float  # configured share of the cell capacity, (0, 1]


@dataclass(frozen=True)
class SharingOptions:
    """Traffic of both phases and the victim of the isolation check."""

    direction: str = "dl"
    protocol: str = "tcp"
    streams: int = 4
    duration_s: float = 3.0
    omit_s: float = 0.0
    bitrate_bps: float | None = None  # UDP: each operator's offered rate (above its share)
    victim: str | None = None  # PLMN run alone first; default the first operator's
    capacity_mbps: float | None = None  # the cell's capacity, if known; else estimated
    timeout_s: float | None = None  # per iperf3 run; default twice its length + 15 s


@dataclass
class SharingResult:
    """Throughput per phase and PLMN (Mbit/s), the raw iperf3 results, and the metrics."""

    victim: str
    alone: dict[str, float]
    together: dict[str, float]
    capacity_mbps: float
    capacity_estimated: bool
    results: dict[tuple[str, str], Iperf3Result] = field(default_factory=dict)  # (phase, PLMN)
    metrics: dict[str, Quantity] = field(default_factory=dict)


def operators_on_bench(bench: KindBench, via: str, legs: Sequence[tuple[str, str]],
                       shares: Mapping[str, float]) -> list[Operator]:
    """Operators from (UE host, DN host) pairs of the lab: each UE host's `plmn:` names its
    operator, `shares[plmn]` its configured share; ConfigError names what is missing."""
    operators: list[Operator] = []
    for ue, dn in legs:
        device = bench.lab.devices.get(ue)
        plmn = device.plmn if device is not None else None
        if plmn is None:
            raise ConfigError(f"UE host {ue} has no plmn: in the lab: a sharing trial needs "
                              "each UE host's PLMN", field="operators")
        if plmn not in shares:
            raise ConfigError(f"no share given for PLMN {plmn} (UE host {ue}): add it to "
                              f"shares ({', '.join(shares) or 'none given'})", field="shares")
        operators.append(Operator(plmn=plmn, ue=bench.hosts[ue], dn=bench.hosts[dn],
                                  target=bench.endpoint(dn, via, ue=ue),
                                  server_port=bench.traffic_ports[dn], share=shares[plmn]))
    return operators


def _check(operators: Sequence[Operator], opts: SharingOptions) -> str:
    if len(operators) < 2:
        raise ConfigError("a sharing trial needs at least two operators (PLMNs)",
                          field="operators")
    plmns = [o.plmn for o in operators]
    if len(set(plmns)) != len(plmns):
        raise ConfigError(f"each operator needs its own PLMN, got {', '.join(plmns)}",
                          field="operators")
    servers = [(o.dn.name, o.server_port) for o in operators]
    if len(set(servers)) != len(servers):
        raise ConfigError("two operators share one DN host's iperf3 server: give each PLMN "
                          "its own dn host (an iperf3 server serves one test at a time)",
                          field="operators")
    for o in operators:
        if not (math.isfinite(o.share) and 0 < o.share <= 1):
            raise ConfigError(f"share of PLMN {o.plmn} must be in (0, 1], got {o.share}",
                              field="shares")
    if sum(o.share for o in operators) > 1 + 1e-9:
        raise ConfigError("the operators' shares add up to more than 1", field="shares")
    victim = opts.victim or operators[0].plmn
    if victim not in plmns:
        raise ConfigError(f"victim PLMN {victim} is not among the operators "
                          f"({', '.join(plmns)})", field="victim")
    return victim


async def run_sharing(operators: Sequence[Operator], opts: SharingOptions, *,
                      keep_raw: RawSink | None = None) -> SharingResult:
    """Run the alone and together phases and judge-ready metrics; HarnessError when a run
    fails (the trial is then ERROR)."""
    victim = _check(operators, opts)
    iperf = {o.plmn: Iperf3Options(host=o.target[0], port=o.target[1],
                                   direction=opts.direction, protocol=opts.protocol,
                                   streams=opts.streams, duration_s=opts.duration_s,
                                   omit_s=opts.omit_s, bitrate_bps=opts.bitrate_bps)
             for o in operators}
    first = next(iter(iperf.values()))
    limit = opts.timeout_s or (first.whole_seconds + first.omit_whole_seconds) * 2 + 15
    by_plmn = {o.plmn: o for o in operators}
    results: dict[tuple[str, str], Iperf3Result] = {}

    async def one(phase: str, plmn: str) -> None:
        result, raw = await by_plmn[plmn].ue.run_iperf3_client(iperf[plmn], timeout_s=limit)
        results[(phase, plmn)] = result
        if keep_raw is not None:
            keep_raw(phase, plmn, raw)

    async with contextlib.AsyncExitStack() as stack:
        for o in operators:
            await stack.enter_async_context(await o.dn.start_iperf3_server(o.server_port))
        await one("alone", victim)
        await asyncio.gather(*(one("together", o.plmn) for o in operators))
    alone = {p: r.bits_per_second_received / 1e6 for (ph, p), r in results.items()
             if ph == "alone"}
    together = {o.plmn: results[("together", o.plmn)].bits_per_second_received / 1e6
                for o in operators}
    shares = {o.plmn: o.share for o in operators}
    cell_mbps, estimated = capacity(together, shares, opts.capacity_mbps)
    out = SharingResult(victim=victim, alone=alone, together=together, capacity_mbps=cell_mbps,
                        capacity_estimated=estimated, results=results)
    out.metrics = sharing_metrics(victim, alone[victim], together, shares, cell_mbps)
    return out


__all__ = [
    "Operator",
    "RawSink",
    "SharingOptions",
    "SharingResult",
    "operators_on_bench",
    "run_sharing",
]
