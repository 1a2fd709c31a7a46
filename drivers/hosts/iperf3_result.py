"""What an iperf3 run measured: the result model and a parser of iperf3's `-J` output (pure).

Direction follows the RAN convention: "dl" moves data from the data-network side (the iperf3
server) to the UE side (the client), i.e. `iperf3 -R`; "ul" moves it from client to server. The
figures are the receiving end's where iperf3 reports them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from harness.base.errors import ConfigError, MeasurementError
from harness.base.window import MeasuredWindow

DIRECTIONS = ("dl", "ul")
PROTOCOLS = ("tcp", "udp")
# A receiver's last interval shorter than this is a sliver left after the sender stopped; it is
# merged into the interval before it so that interval count matches the duration.
_SLIVER_S = 0.1


LOSS_GRACE_S = 0.1
"""Grace for residual packets (s): packets sent within this long before the end of a test and
not yet received are taken as in flight, not lost; bounded, so a dead path cannot hide its loss.
100 ms covers the simulated gNodeB's slot delay and queue (≈ 15 ms at capacity) with margin."""


def lost_packets(sent: int, highest_seen: int, gaps: int, sent_seconds: float,
                 grace_s: float = LOSS_GRACE_S) -> tuple[int, int]:
    """(lost, in flight) of a UDP test from the sender's count: packets not received are lost
    unless among those sent after the last one seen AND within `grace_s` of the end (at the
    sender's mean packet rate over `sent_seconds`)."""
    received = max(0, min(highest_seen, sent) - max(0, gaps))
    tail = max(0, sent - highest_seen)
    rate = sent / sent_seconds if sent_seconds > 0 else 0.0
    in_flight = min(tail, math.ceil(rate * grace_s))
    return max(0, sent - received - in_flight), in_flight


@dataclass(frozen=True)
class Iperf3Interval:
    """One reporting interval, summed over streams; times are seconds after the run's start."""

    start_s: float
    end_s: float
    bytes: int
    bits_per_second: float
    retransmits: int | None
    omitted: bool
    lost_packets: int | None
    packets: int | None
    jitter_ms: float | None


@dataclass(frozen=True)
class Iperf3Result:
    """What one iperf3 run measured, seen from the receiving end where iperf3 tells us."""

    start_unix_s: float
    protocol: str
    direction: str
    streams: int
    intervals: list[Iperf3Interval]
    bytes_received: int
    bits_per_second_received: float
    bytes_sent: int
    retransmits: int | None
    lost_percent: float | None
    jitter_ms: float | None
    mean_rtt_ms: float | None
    host_cpu_percent: float | None
    remote_cpu_percent: float | None
    # UDP, from the end-of-test sums: the sender's packet count and how long it sent, the
    # receiver's highest sequence number and the gaps below it (None for TCP)
    packets_sent: int | None = None
    sent_seconds: float | None = None
    packets_highest_seen: int | None = None
    packets_gaps: int | None = None

    def udp_loss(self) -> tuple[int, int] | None:
        """(lost, sent) packets of a UDP run against the sender's count, residual packets
        excused only within `LOSS_GRACE_S` (above); None for TCP or without
        the sender's count."""
        if self.packets_sent is None or self.packets_highest_seen is None:
            return None
        lost, _ = lost_packets(self.packets_sent, self.packets_highest_seen,
                               self.packets_gaps or 0, self.sent_seconds or 0.0)
        return lost, self.packets_sent

    @property
    def measured_intervals(self) -> list[Iperf3Interval]:
        """Intervals outside the omit (warm-up) period."""
        return [i for i in self.intervals if not i.omitted]

    def window(self, launched_ns: int = 0, returned_ns: int = 0) -> MeasuredWindow | None:
        """The receiver's measured window on iperf3's clock: from the end of the omitted
        intervals to the end of the last measured one, with the bytes inside it (None when
        nothing was measured). An uplink receiver (the server) reads its streams until they
        drain, so its window ends with the traffic; a downlink one (the client, -R) stops at
        the server's end-of-test message, with bytes still in flight left unread."""
        measured = self.measured_intervals
        if not measured:
            return None
        omitted = [i for i in self.intervals if i.omitted]
        return MeasuredWindow(
            start_s=measured[0].start_s, end_s=measured[-1].end_s,
            bytes=sum(i.bytes for i in measured), omitted_bytes=sum(i.bytes for i in omitted),
            launched_ns=launched_ns, returned_ns=returned_ns,
            ends_with_traffic=self.direction == "ul")


def parse_result(text: str, *, direction: str) -> Iperf3Result:
    """Parse an iperf3 client's `-J` output; MeasurementError on iperf3 errors or broken JSON."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"expected 'dl' or 'ul', got {direction!r}", field="direction")
    doc = _load(text)
    error = doc.get("error")
    if error:
        raise MeasurementError(f"iperf3 reported an error: {error}")
    start = _obj(doc, "start")
    test_start = _obj(start, "test_start", "start")
    reverse = bool(test_start.get("reverse", 0))
    if reverse != (direction == "dl"):
        flag = "with -R (dl)" if reverse else "without -R (ul)"
        raise MeasurementError(f"iperf3 output is from a run {flag}, but {direction} was asked for")
    end = _obj(doc, "end")
    protocol = str(test_start.get("protocol", "")).lower()
    if protocol not in PROTOCOLS:
        raise MeasurementError(f"iperf3 output has unknown protocol {test_start.get('protocol')!r}")
    received = _sum_block(end, "sum_received", protocol)
    sent = _sum_block(end, "sum_sent", protocol)
    server = doc.get("server_output_json")
    server_doc = server if isinstance(server, dict) else None
    intervals = _receiver_intervals(doc, server_doc, reverse)
    if not intervals:
        raise MeasurementError("iperf3 output has no intervals: the test did not run")
    cpu = end.get("cpu_utilization_percent")
    cpu = cpu if isinstance(cpu, dict) else {}
    udp = protocol == "udp"
    retransmits = sent.get("retransmits")
    return Iperf3Result(
        start_unix_s=_start_time(start),
        protocol=protocol,
        direction=direction,
        streams=int(test_start.get("num_streams", 1)),
        intervals=intervals,
        bytes_received=_int(received, "bytes", "end.sum_received"),
        bits_per_second_received=_float(received, "bits_per_second", "end.sum_received"),
        bytes_sent=_int(sent, "bytes", "end.sum_sent"),
        retransmits=None if udp or retransmits is None else int(retransmits),
        lost_percent=_opt_float(received.get("lost_percent")) if udp else None,
        jitter_ms=_opt_float(received.get("jitter_ms")) if udp else None,
        mean_rtt_ms=None if udp else _mean_rtt_ms(end if not reverse else _server_end(server_doc)),
        host_cpu_percent=_opt_float(cpu.get("host_total")),
        remote_cpu_percent=_opt_float(cpu.get("remote_total")),
        packets_sent=_opt_int(sent.get("packets")) if udp and sent.get("sender") else None,
        sent_seconds=_opt_float(sent.get("seconds")) if udp else None,
        packets_highest_seen=_opt_int(received.get("packets")) if udp else None,
        packets_gaps=_opt_int(received.get("lost_packets")) if udp else None,
    )


def _load(text: str) -> dict[str, Any]:
    body = text.strip()
    if not body:
        raise MeasurementError("iperf3 produced no output (killed before it wrote its JSON?)")
    first = body.find("{")
    if first < 0:
        raise MeasurementError(f"iperf3 output is not JSON: {body[:200]!r}")
    try:
        doc, _ = json.JSONDecoder().raw_decode(body, first)
    except json.JSONDecodeError as exc:
        raise MeasurementError(
            f"iperf3 JSON output is truncated or invalid ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno} of {len(body)} characters)") from exc
    if not isinstance(doc, dict):
        raise MeasurementError("iperf3 JSON output is not an object")
    return doc


def _obj(parent: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict) or not value:
        path = f"{where}.{key}" if where else key
        raise MeasurementError(f"iperf3 output lacks '{path}': the run did not complete")
    return value


def _sum_block(end: Mapping[str, Any], key: str, protocol: str) -> dict[str, Any]:
    block = end.get(key)
    if isinstance(block, dict) and block:
        return block
    if protocol == "udp" and isinstance(end.get("sum"), dict):   # iperf3 before 3.10
        return dict(end["sum"])
    raise MeasurementError(f"iperf3 output lacks 'end.{key}': the run did not complete")


def _int(block: Mapping[str, Any], key: str, where: str) -> int:
    value = block.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise MeasurementError(f"iperf3 output lacks a number at '{where}.{key}'")
    return int(value)


def _float(block: Mapping[str, Any], key: str, where: str) -> float:
    value = block.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise MeasurementError(f"iperf3 output lacks a number at '{where}.{key}'")
    return float(value)


def _opt_float(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _opt_int(value: object) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return None


def _start_time(start: Mapping[str, Any]) -> float:
    stamp = start.get("timestamp")
    if not isinstance(stamp, dict) or _opt_float(stamp.get("timesecs")) is None:
        raise MeasurementError("iperf3 output lacks 'start.timestamp.timesecs'")
    return float(stamp["timesecs"])


def _server_end(server: Mapping[str, Any] | None) -> Mapping[str, Any]:
    end = server.get("end") if server is not None else None
    return end if isinstance(end, dict) else {}


def _mean_rtt_ms(end: Mapping[str, Any]) -> float | None:
    """Mean of the senders' per-stream mean RTT (iperf3 gives microseconds; 0 means unknown)."""
    rtts: list[float] = []
    streams = end.get("streams")
    for stream in streams if isinstance(streams, list) else []:
        sender = stream.get("sender") if isinstance(stream, dict) else None
        rtt = _opt_float(sender.get("mean_rtt")) if isinstance(sender, dict) else None
        if rtt:
            rtts.append(rtt / 1000.0)
    return sum(rtts) / len(rtts) if rtts else None


def _receiver_intervals(doc: Mapping[str, Any], server: Mapping[str, Any] | None,
                        reverse: bool) -> list[Iperf3Interval]:
    """The receiver's intervals: the client's for -R, else the server's when it sent them."""
    source: object = doc.get("intervals")
    if not reverse and server is not None and server.get("intervals"):
        source = server.get("intervals")
    if not isinstance(source, list):
        raise MeasurementError("iperf3 output lacks 'intervals'")
    raw = [_interval(entry) for entry in source]
    return _align(_merge_sliver(raw))


def _interval(entry: object) -> Iperf3Interval:
    total = entry.get("sum") if isinstance(entry, dict) else None
    if not isinstance(total, dict):
        raise MeasurementError("iperf3 output has an interval without a 'sum'")
    return Iperf3Interval(
        start_s=_float(total, "start", "intervals[].sum"),
        end_s=_float(total, "end", "intervals[].sum"),
        bytes=_int(total, "bytes", "intervals[].sum"),
        bits_per_second=_float(total, "bits_per_second", "intervals[].sum"),
        retransmits=_opt_int(total.get("retransmits")),
        omitted=bool(total.get("omitted", False)),
        lost_packets=_opt_int(total.get("lost_packets")),
        packets=_opt_int(total.get("packets")),
        jitter_ms=_opt_float(total.get("jitter_ms")),
    )


def _merge_sliver(intervals: list[Iperf3Interval]) -> list[Iperf3Interval]:
    """Fold a last sub-0.1 s interval (late data after the sender stopped) into the one before."""
    if len(intervals) < 2:
        return intervals
    last, prev = intervals[-1], intervals[-2]
    if last.end_s - last.start_s >= _SLIVER_S or last.omitted != prev.omitted:
        return intervals
    n_bytes = prev.bytes + last.bytes
    seconds = last.end_s - prev.start_s
    merged = Iperf3Interval(
        start_s=prev.start_s, end_s=last.end_s, bytes=n_bytes,
        bits_per_second=n_bytes * 8 / seconds if seconds > 0 else prev.bits_per_second,
        retransmits=_add(prev.retransmits, last.retransmits), omitted=prev.omitted,
        lost_packets=_add(prev.lost_packets, last.lost_packets),
        packets=_add(prev.packets, last.packets),
        jitter_ms=last.jitter_ms if last.jitter_ms is not None else prev.jitter_ms,
    )
    return [*intervals[:-2], merged]


def _add(a: int | None, b: int | None) -> int | None:
    if a is None and b is None:
        return None
    return (a or 0) + (b or 0)


def _align(intervals: list[Iperf3Interval]) -> list[Iperf3Interval]:
    """iperf3 restarts its clock after the omit period; shift measured intervals past it."""
    omitted_end = max((i.end_s for i in intervals if i.omitted), default=0.0)
    if omitted_end == 0.0:
        return intervals
    return [i if i.omitted else replace(i, start_s=i.start_s + omitted_end,
                                        end_s=i.end_s + omitted_end) for i in intervals]
