"""Fixed-rate UDP probes and Ethernet frame arithmetic, shared by RFC 2544 and Y.1564 (pure).

A *probe* runs one fixed-rate trial and says what arrived. The test methods (`rfc2544`,
`y1564`) are orchestration over an injected probe, so they run against real iperf3
(`harness.kinds.iperf3_probe`) or against a model link in tests.

Rates: a probe's `rate_bps` is the **L2 frame bit rate**, frames/s × frame size (with FCS) × 8,
the rate MEF and Y.1564 call the information rate. From it `FrameSpec` derives the other
figures a tester reports: frames/s, the **L1 line rate** (each frame plus 20 bytes of preamble,
start delimiter and inter-frame gap, what fills a port) and the **L4 goodput** (UDP payload, what
iperf3 counts and sends at `-b`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from harness.base.errors import ConfigError

ETHERNET_OVERHEAD = 18  # bytes: 14 MAC header + 4 FCS (RFC 2544 frame sizes include the FCS)
PREAMBLE_IFG = 20       # bytes on the wire between frames: 7 preamble + 1 SFD + 12 IFG
IP_HEADER = {4: 20, 6: 40}
UDP_HEADER = 8
# iperf3 3.12 refuses a smaller UDP block: "block size invalid (minimum = 16 bytes, maximum =
# 65507 bytes)"; its datagram starts with a 16-byte header (seconds, microseconds, counter).
IPERF3_MIN_UDP_PAYLOAD = 16
IPERF3_MAX_UDP_PAYLOAD = 65507
MIN_FRAME = 64
MAX_FRAME = 9216  # jumbo frames are allowed; RFC 2544's sizes stop at 1518
RFC2544_FRAME_SIZES = (64, 128, 256, 512, 1024, 1280, 1518)


@dataclass(frozen=True)
class FrameSpec:
    """An Ethernet frame size mapped to the UDP payload a generator sends in it.

    payload = frame − 18 (Ethernet) − 20/40 (IPv4/IPv6) − 8 (UDP): 64-byte IPv4 frames carry
    18 bytes, which iperf3 accepts (≥ 16). Where the payload would be below iperf3's 16 bytes
    (64- and 72-byte frames over IPv6) it is clamped to 16 and the frame on the wire grows to
    `wire_bytes` (82 bytes for IPv6); `clamped` says so and every rate uses the real frame.
    """

    frame_bytes: int
    ip_version: int = 4

    def __post_init__(self) -> None:
        if self.ip_version not in IP_HEADER:
            raise ConfigError(f"expected IP version 4 or 6, got {self.ip_version}",
                              field="ip_version")
        if not MIN_FRAME <= self.frame_bytes <= MAX_FRAME:
            raise ConfigError(f"expected an Ethernet frame size from {MIN_FRAME} to "
                              f"{MAX_FRAME} bytes (with FCS), got {self.frame_bytes}",
                              field="frame_size")

    @property
    def header_bytes(self) -> int:
        """Ethernet + IP + UDP headers and FCS: 46 bytes over IPv4, 66 over IPv6."""
        return ETHERNET_OVERHEAD + IP_HEADER[self.ip_version] + UDP_HEADER

    @property
    def payload_bytes(self) -> int:
        """The UDP payload (iperf3 `-l`), at least iperf3's minimum of 16 bytes."""
        return max(self.frame_bytes - self.header_bytes, IPERF3_MIN_UDP_PAYLOAD)

    @property
    def wire_bytes(self) -> int:
        """The frame actually sent: `frame_bytes` unless the payload had to be clamped."""
        return self.payload_bytes + self.header_bytes

    @property
    def clamped(self) -> bool:
        """True when the payload was raised to iperf3's minimum and the frame grew."""
        return self.wire_bytes != self.frame_bytes

    def frames_per_s(self, l2_bps: float) -> float:
        """Frames per second at an L2 frame bit rate."""
        return l2_bps / (self.wire_bytes * 8)

    def l1_bps(self, l2_bps: float) -> float:
        """Line rate (frame + 20 bytes preamble/SFD/IFG per frame) at an L2 frame bit rate."""
        return l2_bps * (self.wire_bytes + PREAMBLE_IFG) / self.wire_bytes

    def l4_bps(self, l2_bps: float) -> float:
        """UDP payload goodput (iperf3's `-b`) at an L2 frame bit rate."""
        return l2_bps * self.payload_bytes / self.wire_bytes

    def l2_from_l1(self, l1_bps: float) -> float:
        """The L2 frame bit rate that fills a line rate, e.g. a port speed."""
        return l1_bps * self.wire_bytes / (self.wire_bytes + PREAMBLE_IFG)

    def l2_from_l4(self, l4_bps: float) -> float:
        """The L2 frame bit rate that carries a UDP payload rate."""
        return l4_bps * self.wire_bytes / self.payload_bytes

    def rates(self, l2_bps: float) -> dict[str, float]:
        """Every view of one rate, labelled: frames/s, L1 line, L2 frame, L4 payload bit/s."""
        return {"frames_per_s": self.frames_per_s(l2_bps), "l1_bps": self.l1_bps(l2_bps),
                "l2_bps": l2_bps, "l4_bps": self.l4_bps(l2_bps)}

    def to_json(self) -> dict[str, Any]:
        """The frame as stored with a result."""
        return {"frame_bytes": self.frame_bytes, "ip_version": self.ip_version,
                "wire_bytes": self.wire_bytes, "payload_bytes": self.payload_bytes,
                "clamped": self.clamped}


@dataclass(frozen=True)
class ProbeResult:
    """One fixed-rate UDP trial, rates as L2 frame bit rates (see the module docstring).

    `offered_bps` is what the sender actually put out (it may fall short of the rate asked when
    the generator runs out of CPU), `received_bps` what arrived. `loss_percent` is
    lost / sent × 100 (RFC 2544 §26.3). `jitter_ms` is the receiver's RFC 3550 jitter;
    `latency_ms` a mean delay when the probe measured one (iperf3 UDP does not: see
    `with_latency`), else None. `fdv_ms` is Y.1564 frame delay variation (high percentile of
    delay − minimum delay, `harness.measure.latency.frame_delay_variation`) when a meter gave
    per-packet delays, else None: iperf3's jitter is RFC 3550's, not FDV.
    """

    offered_bps: float
    received_bps: float
    sent_packets: int
    lost_packets: int
    loss_percent: float
    jitter_ms: float | None = None
    latency_ms: float | None = None
    fdv_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The trial as stored with a result."""
        return dataclasses.asdict(self)


Probe = Callable[[float, int, float], Awaitable[ProbeResult]]
"""`await probe(rate_bps, frame_size_bytes, duration_s)`: one trial at an L2 frame bit rate."""

@dataclass(frozen=True)
class DelayReading:
    """What a latency meter measured over one trial: mean delay and frame delay variation."""

    mean_ms: float
    fdv_ms: float | None = None


LatencyMeter = Callable[[float], Awaitable["float | DelayReading | None"]]
"""`await meter(duration_s)`: mean latency in ms (or a DelayReading with FDV too) measured over
that long, or None."""


def with_latency(probe: Probe, meter: LatencyMeter) -> Probe:
    """A probe that also runs `meter` (e.g. irtt) alongside each trial and reports its latency.

    The latency is then measured under the trial's load, as RFC 2544 §26.2 and Y.1564's FTD
    ask; when the meter returns None the inner probe's latency (if any) is kept.
    """

    async def probe_with_latency(rate_bps: float, frame_size: int,
                                 duration_s: float) -> ProbeResult:
        result, latency = await asyncio.gather(probe(rate_bps, frame_size, duration_s),
                                               meter(duration_s))
        if latency is None:
            return result
        if isinstance(latency, DelayReading):
            return dataclasses.replace(result, latency_ms=latency.mean_ms,
                                       fdv_ms=latency.fdv_ms)
        return dataclasses.replace(result, latency_ms=latency)

    return probe_with_latency


def loss_percent(sent: int, lost: int) -> float:
    """(sent − received) × 100 / sent, RFC 2544 §26.3; 0 for no packets sent."""
    return 100.0 * lost / sent if sent > 0 else 0.0


def check_rate(value: float, field: str, *, allow_zero: bool = False) -> float:
    """A finite, positive (or zero when allowed) rate in bit/s, else ConfigError naming `field`."""
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"expected a rate {bound} bit/s, got {value!r}", field=field)
    return value
