"""RFC 6349 (framework for TCP throughput testing) figures from an iperf3 run (pure).

- **TCP efficiency** (RFC 6349 §6.2): (transmitted bytes − retransmitted bytes) / transmitted
  bytes × 100. iperf3 counts retransmitted *segments*, not bytes, so retransmitted bytes are
  estimated as segments × MSS (the client's `tcp_mss_default`); the figure is therefore a
  slight under-estimate when retransmitted segments are shorter than one MSS.
- **Buffer delay percentage** (RFC 6349 §6.3): (average RTT during transfer − baseline RTT) /
  baseline RTT × 100. The RTTs are the TCP senders' own (the kernel's smoothed RTT that iperf3
  reports per stream): the average is the mean of the streams' `mean_rtt`, the baseline is the
  smallest `min_rtt` of any stream, i.e. the least-loaded RTT the connection ever saw. RFC 6349
  asks for a baseline measured before the transfer; a separate irtt/ping probe would measure a
  different path whenever a middlebox terminates TCP (the simulated gNodeB's relay does), so
  the harness takes the sender's minimum instead and says so in the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.base.errors import MeasurementError

_US_PER_MS = 1000.0


@dataclass(frozen=True)
class Rfc6349Figures:
    """TCP efficiency and buffer delay of one direction of one run."""

    transmitted_bytes: int
    retransmitted_segments: int
    mss_bytes: int
    mean_rtt_ms: float | None
    baseline_rtt_ms: float | None

    @property
    def efficiency_percent(self) -> float:
        """(transmitted − retransmitted) / transmitted × 100; 100 when nothing was sent."""
        if self.transmitted_bytes <= 0:
            return 100.0
        retransmitted = min(self.retransmitted_segments * self.mss_bytes, self.transmitted_bytes)
        return (self.transmitted_bytes - retransmitted) / self.transmitted_bytes * 100.0

    @property
    def buffer_delay_percent(self) -> float | None:
        """(mean RTT − baseline RTT) / baseline RTT × 100; None without both RTTs."""
        if self.mean_rtt_ms is None or not self.baseline_rtt_ms:
            return None
        return (self.mean_rtt_ms - self.baseline_rtt_ms) / self.baseline_rtt_ms * 100.0


def efficiency_percent(transmitted_bytes: int, retransmitted_bytes: int) -> float:
    """RFC 6349 TCP efficiency from byte counts."""
    if transmitted_bytes <= 0:
        return 100.0
    return (transmitted_bytes - retransmitted_bytes) / transmitted_bytes * 100.0


def buffer_delay_percent(mean_rtt_ms: float, baseline_rtt_ms: float) -> float:
    """RFC 6349 buffer delay percentage; ValueError when the baseline is not positive."""
    if baseline_rtt_ms <= 0:
        raise ValueError("the baseline RTT must be positive")
    return (mean_rtt_ms - baseline_rtt_ms) / baseline_rtt_ms * 100.0


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _senders(doc: dict[str, Any]) -> list[dict[str, Any]]:
    end = doc.get("end")
    streams = end.get("streams") if isinstance(end, dict) else None
    found = []
    for stream in streams if isinstance(streams, list) else []:
        sender = stream.get("sender") if isinstance(stream, dict) else None
        if isinstance(sender, dict) and sender.get("sender") and sender.get("bytes"):
            found.append(sender)
    return found


def rfc6349_from_iperf3(text: str, direction: str) -> Rfc6349Figures | None:
    """Figures of the `direction` ("dl" or "ul") flow of a TCP iperf3 client's `-J` output
    (with `--get-server-output` for the downlink); None for UDP or when the flow is absent.

    Uplink senders are the client's streams, downlink senders the server's (in `-R` and in
    `--bidir` runs alike).
    """
    try:
        doc = json.loads(text[text.find("{"):]) if "{" in text else None
    except json.JSONDecodeError as exc:
        raise MeasurementError(f"iperf3 JSON output is invalid ({exc.msg})") from exc
    if not isinstance(doc, dict):
        return None
    start = _mapping(doc.get("start"))
    test = _mapping(start.get("test_start"))
    if str(test.get("protocol", "")).upper() != "TCP":
        return None
    server = doc.get("server_output_json")
    source = doc if direction == "ul" else server if isinstance(server, dict) else None
    senders = _senders(source) if source is not None else []
    if not senders:
        return None
    mss = int(start.get("tcp_mss_default") or 0) or 1448
    mean_rtts = [float(s["mean_rtt"]) / _US_PER_MS for s in senders if s.get("mean_rtt")]
    min_rtts = [float(s["min_rtt"]) / _US_PER_MS for s in senders if s.get("min_rtt")]
    return Rfc6349Figures(
        transmitted_bytes=sum(int(s.get("bytes", 0)) for s in senders),
        retransmitted_segments=sum(int(s.get("retransmits") or 0) for s in senders),
        mss_bytes=mss,
        mean_rtt_ms=sum(mean_rtts) / len(mean_rtts) if mean_rtts else None,
        baseline_rtt_ms=min(min_rtts) if min_rtts else None,
    )
