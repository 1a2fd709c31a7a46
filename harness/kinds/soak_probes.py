"""Real probes for a soak: a short iperf3 run and a short irtt run between two traffic hosts.

Each probe starts its server on the DN host, runs the client on the UE host towards `target`
(the address `Bench.endpoint(dn, via, ue=..., kind=...)` gives: the gNodeB's relay in the
simulated lab), and stops the server: nothing stays up between probes, so a soak survives a
traffic host restarting.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.capabilities import TrafficEndpoint
from drivers.hosts.iperf3 import Iperf3Options
from drivers.hosts.irtt import IrttOptions
from harness.measure.soak import LatencyProbe, LatencySample, ThroughputProbe, ThroughputSample

RawSink = Callable[[str, str], None]
"""Called with (tool, raw output) after each probe, to keep the tool's output as evidence."""


def iperf3_probe(ue: TrafficEndpoint, dn: TrafficEndpoint, *, target: tuple[str, int],
                 server_port: int, direction: str = "dl", protocol: str = "tcp",
                 streams: int = 1, duration_s: float = 5.0, bitrate_bps: float | None = None,
                 timeout_s: float | None = None, keep_raw: RawSink | None = None
                 ) -> ThroughputProbe:
    """A throughput probe: iperf3 server on `dn` at `server_port`, client on `ue` to `target`."""
    opts = Iperf3Options(host=target[0], port=target[1], direction=direction,
                         protocol=protocol, streams=streams, duration_s=duration_s,
                         bitrate_bps=bitrate_bps)
    limit = timeout_s if timeout_s is not None else opts.whole_seconds * 2 + 15

    async def probe() -> ThroughputSample:
        async with await dn.start_iperf3_server(server_port):
            result, raw = await ue.run_iperf3_client(opts, timeout_s=limit)
        if keep_raw is not None:
            keep_raw("iperf3", raw)
        return ThroughputSample(mbps=result.bits_per_second_received / 1e6,
                                retransmits=result.retransmits,
                                lost_percent=result.lost_percent)

    return probe


def irtt_probe(ue: TrafficEndpoint, dn: TrafficEndpoint, *, target: tuple[str, int],
               server_port: int, duration_s: float = 5.0, interval_s: float = 0.02,
               timeout_s: float | None = None, keep_raw: RawSink | None = None
               ) -> LatencyProbe:
    """A latency probe: irtt server on `dn` at `server_port`, client on `ue` to `target`.

    Both hosts must run irtt (the `TrafficEndpoint` capability; ToolMissing when one lacks it).
    """
    server_host, client_host = dn, ue
    opts = IrttOptions(host=target[0], port=target[1], interval_s=interval_s,
                       duration_s=duration_s)
    limit = timeout_s if timeout_s is not None else duration_s * 2 + 15

    async def probe() -> LatencySample:
        async with await server_host.start_irtt_server(server_port):
            result, raw = await client_host.run_irtt_client(opts, timeout_s=limit)
        if keep_raw is not None:
            keep_raw("irtt", raw)
        return LatencySample(rtts_ms=tuple(result.rtts_ms), sent=result.packets_sent,
                             lost=max(0, result.packets_sent - result.packets_received))

    return probe


__all__ = ["RawSink", "iperf3_probe", "irtt_probe"]
