"""The iperf3 UDP probe: one fixed-rate trial per call, through the lab's user plane.

`iperf3_udp_probe(ue, dn, endpoint, server_port, direction)` gives a `Probe` for RFC 2544 and
Y.1564. The iperf3 server runs on the data-network host `dn` at `server_port` and is started on
the first trial and kept running until `close()` (use `async with`); the client runs on the UE
host and connects to `endpoint`, the address the UE reaches the server at (the gNodeB's relay
in the simulated lab). Direction "dl" sends from the server to the UE (`iperf3 -R`).

Frame size → iperf3: `-l` is the frame's UDP payload and `-b` its payload rate (see
`harness.measure.probe.FrameSpec`).

Loss is counted against the SENDER's packet count (RFC 2544 §26.3: frames sent − frames
received): received = the receiver's highest sequence number − the gaps below it; every
other packet is lost, except those still in flight when iperf3 stopped its receiver at the
end of the test (iperf3 does not wait for residual frames as RFC 2544 §23 asks). A packet
counts as in flight only if it was sent within the last `LOSS_GRACE_S` seconds of the test
(at the sender's mean rate); every other packet not received is lost. So a path that dies
half-way reads ~50 % loss (iperf3's own figure, gaps below the last packet seen, reads 0 %),
while a path with a few milliseconds of queue does not lose its last packets.
iperf3 UDP measures no delay: `latency_ms` stays None (wrap with `probe.with_latency`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from drivers.hosts.iperf3 import (
    DIRECTIONS,
    LOSS_GRACE_S,
    Iperf3Options,
    Iperf3Result,
    lost_packets,
)
from harness.base.errors import ConfigError, MeasurementError
from harness.measure.probe import FrameSpec, ProbeResult, loss_percent

if TYPE_CHECKING:
    from drivers.capabilities import TrafficEndpoint, TrafficServer

# Time allowed beyond the trial itself: iperf3's connect, end-of-test exchange, and retries.
TIMEOUT_MARGIN_S = 15.0


@dataclass(frozen=True)
class UdpCounts:
    """Packet counts of one iperf3 UDP run from its end-of-test sums."""

    sent_packets: int  # the sender's count
    highest_seen: int  # the receiver's highest sequence number
    gap_packets: int  # gaps below `highest_seen` (iperf3's own "lost_packets")
    sent_bps: float  # the sender's payload bit rate
    received_bps: float  # the receiver's payload bit rate
    sent_seconds: float = 0.0  # how long the sender sent
    grace_s: float = LOSS_GRACE_S

    @property
    def in_flight(self) -> int:
        """Sent after the last packet received and within the grace: on the way when the
        receiver stopped, not counted as lost."""
        return lost_packets(self.sent_packets, self.highest_seen, self.gap_packets,
                            self.sent_seconds, self.grace_s)[1]

    @property
    def lost_packets(self) -> int:
        """Sent, never received, and not excused as in flight (see the module docstring)."""
        return lost_packets(self.sent_packets, self.highest_seen, self.gap_packets,
                            self.sent_seconds, self.grace_s)[0]


def udp_counts(raw: str) -> UdpCounts:
    """Counts from an iperf3 client's `-J` output of a UDP run (either direction).

    `end.sum_sent.packets` is what the sender sent (over `seconds`); `end.sum_received` has the
    receiver's highest sequence number (`packets`) and the gaps below it (`lost_packets`;
    negative transiently with reordering, so floored at 0).
    """
    try:
        doc = json.loads(raw[raw.index("{"):])
    except (ValueError, json.JSONDecodeError) as exc:
        raise MeasurementError(f"iperf3 output is not JSON: {raw[:200]!r}") from exc
    end = doc.get("end") if isinstance(doc, dict) else None
    sent = end.get("sum_sent") if isinstance(end, dict) else None
    received = end.get("sum_received") if isinstance(end, dict) else None
    if not isinstance(sent, dict) or not isinstance(received, dict):
        raise MeasurementError("iperf3 UDP output lacks 'end.sum_sent' or 'end.sum_received' "
                               "(iperf3 older than 3.10?): cannot count sent and lost packets")
    seconds = sent.get("seconds")
    return UdpCounts(sent_packets=int(_number(sent, "packets")),
                     highest_seen=int(_number(received, "packets")),
                     gap_packets=max(0, int(_number(received, "lost_packets"))),
                     sent_bps=_number(sent, "bits_per_second"),
                     received_bps=_number(received, "bits_per_second"),
                     sent_seconds=float(seconds) if isinstance(seconds, int | float) else 0.0)


def _number(block: Mapping[str, Any], key: str) -> float:
    value = block.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise MeasurementError(f"iperf3 UDP output lacks a number at 'end.*.{key}'")
    return float(value)


def probe_result(frame: FrameSpec, parsed: Iperf3Result, counts: UdpCounts) -> ProbeResult:
    """A `ProbeResult` (L2 rates) from one iperf3 UDP run of `frame`-sized datagrams."""
    lost = counts.lost_packets
    return ProbeResult(offered_bps=frame.l2_from_l4(counts.sent_bps),
                       received_bps=frame.l2_from_l4(counts.received_bps),
                       sent_packets=counts.sent_packets, lost_packets=lost,
                       loss_percent=loss_percent(counts.sent_packets, lost),
                       jitter_ms=parsed.jitter_ms, latency_ms=None)


@dataclass(frozen=True)
class ProbeRun:
    """Evidence of one probe trial: what was asked and iperf3's raw JSON."""

    rate_bps: float
    frame_bytes: int
    duration_s: float
    raw: str


class Iperf3UdpProbe:
    """A `Probe` that runs real iperf3 UDP trials; close it (or `async with`) to stop the server.

    `runs` keeps every trial's raw iperf3 JSON as evidence, in order.
    """

    def __init__(self, ue: TrafficEndpoint, dn: TrafficEndpoint, endpoint: tuple[str, int],
                 server_port: int, direction: str, *, ip_version: int | None = None,
                 window_bytes: int | None = None) -> None:
        if direction not in DIRECTIONS:
            raise ConfigError(f"expected 'dl' or 'ul', got {direction!r}", field="direction")
        self.ue = ue
        self.dn = dn
        self.endpoint = endpoint
        self.server_port = server_port
        self.direction = direction
        self.ip_version = ip_version if ip_version is not None else (
            6 if ":" in endpoint[0] else 4)
        self.window_bytes = window_bytes  # iperf3 -w: socket buffers (None: iperf3's 208 KiB)
        self.runs: list[ProbeRun] = []
        self._server: TrafficServer | None = None

    async def start(self) -> None:
        """Start the iperf3 server on the DN host (the first trial does it when not yet done)."""
        if self._server is None or not self._server.running:
            self._server = await self.dn.start_iperf3_server(self.server_port)

    async def close(self) -> None:
        """Stop the iperf3 server; safe to call more than once."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def __aenter__(self) -> Iperf3UdpProbe:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def __call__(self, rate_bps: float, frame_size: int,
                       duration_s: float) -> ProbeResult:
        """One iperf3 UDP trial at an L2 frame bit rate with `frame_size`-byte frames."""
        frame = FrameSpec(frame_size, self.ip_version)
        await self.start()
        opts = Iperf3Options(host=self.endpoint[0], port=self.endpoint[1],
                             direction=self.direction, protocol="udp", duration_s=duration_s,
                             bitrate_bps=frame.l4_bps(rate_bps),
                             length_bytes=frame.payload_bytes, window_bytes=self.window_bytes)
        parsed, raw = await self.ue.run_iperf3_client(
            opts, timeout_s=opts.whole_seconds + TIMEOUT_MARGIN_S)
        self.runs.append(ProbeRun(rate_bps, frame_size, duration_s, raw))
        return probe_result(frame, parsed, udp_counts(raw))


def iperf3_udp_probe(ue: TrafficEndpoint, dn: TrafficEndpoint, endpoint: tuple[str, int],
                     server_port: int, direction: str, *,
                     window_bytes: int | None = None) -> Iperf3UdpProbe:
    """The harness's probe: iperf3 UDP from `ue` to `endpoint` (→ `dn`:`server_port`).

    Use as `async with iperf3_udp_probe(...) as probe: await zero_loss_search(probe, ...)`.
    One probe serves one trial at a time (one iperf3 server); run concurrent services with
    one probe each, on different server ports. `window_bytes` (iperf3 -w) sizes the socket
    buffers: at high UDP rates iperf3's 208 KiB default loses datagrams at the receiver.
    """
    return Iperf3UdpProbe(ue, dn, endpoint, server_port, direction, window_bytes=window_bytes)
