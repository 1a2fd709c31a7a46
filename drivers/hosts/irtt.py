"""irtt as a measurement source: argv builders and a parser of its JSON output (pure, no I/O).

irtt sends isochronous UDP packets and reports, per packet, the round-trip time, the one-way
delays and the IPDV (RFC 5481 packet delay variation between consecutive packets), all in
nanoseconds, and whether the packet was lost upstream or downstream. The parser keeps the
per-packet values and computes the statistics a report states (median and p95 are not in
irtt's own summary).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.base.errors import ConfigError, MeasurementError
from harness.base.stats import Summary, summarize

_NS_PER_MS = 1e6
_LOST = {"false": None, "true": "unknown", "true_up": "up", "true_down": "down"}


@dataclass(frozen=True)
class IrttOptions:
    """One irtt client run."""

    host: str
    port: int
    interval_s: float = 0.01
    duration_s: float = 10.0
    length_bytes: int | None = None
    fill: str = "rand"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"expected 1..65535, got {self.port}", field="irtt.port")
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise ConfigError(f"expected > 0, got {self.interval_s}", field="irtt.interval_s")
        if not (math.isfinite(self.duration_s) and self.duration_s >= self.interval_s):
            raise ConfigError(f"expected at least the interval, got {self.duration_s}",
                              field="irtt.duration_s")
        if self.length_bytes is not None and self.length_bytes <= 0:
            raise ConfigError(f"expected > 0, got {self.length_bytes}", field="irtt.length_bytes")


def _duration(seconds: float) -> str:
    """A Go duration irtt accepts, exact to the microsecond ("10ms", "10300us")."""
    micros = round(seconds * 1e6)
    return f"{micros // 1000}ms" if micros % 1000 == 0 else f"{micros}us"


def client_argv(opts: IrttOptions, output: str = "-", *, binary: str = "irtt") -> list[str]:
    """argv of an irtt client run writing its JSON to `output` ("-": stdout), otherwise quiet."""
    argv = [binary, "client", "-Q", "-o", output, f"--fill={opts.fill}",
            "-i", _duration(opts.interval_s), "-d", _duration(opts.duration_s)]
    if opts.length_bytes is not None:
        argv += ["-l", str(opts.length_bytes)]
    return [*argv, f"{opts.host}:{opts.port}"]


def server_argv(port: int, *, bind: str = "127.0.0.1", binary: str = "irtt") -> list[str]:
    """argv of an irtt server bound to one address."""
    return [binary, "server", "-b", f"{bind}:{port}"]


@dataclass(frozen=True)
class IrttPacket:
    """One round trip: times in milliseconds (None when lost or not measured)."""

    seqno: int
    lost: str | None  # None (arrived), "up", "down" or "unknown" (which way irtt cannot tell)
    rtt_ms: float | None
    send_delay_ms: float | None
    receive_delay_ms: float | None
    ipdv_ms: float | None  # round-trip IPDV against the packet before (None for the first)


@dataclass(frozen=True)
class IrttResult:
    """What one irtt client run measured."""

    start_unix_s: float | None
    interval_s: float
    packets: list[IrttPacket]
    packets_sent: int
    packets_received: int
    loss_percent: float
    upstream_loss_percent: float | None
    downstream_loss_percent: float | None
    duplicates: int
    late_packets: int
    rtt: Summary | None  # over the packets that came back
    ipdv: Summary | None  # |round-trip IPDV|, milliseconds

    @property
    def rtts_ms(self) -> list[float]:
        """Round-trip times of the packets that came back, in sending order."""
        return [p.rtt_ms for p in self.packets if p.rtt_ms is not None]


def parse_irtt(text: str) -> IrttResult:
    """Parse an irtt client's JSON (`-o FILE`); MeasurementError when it is not usable."""
    doc = _load(text)
    stats = _obj(doc, "stats")
    trips = doc.get("round_trips")
    if not isinstance(trips, list):
        raise MeasurementError("irtt output lacks 'round_trips': the run did not complete")
    packets = [_packet(i, trip) for i, trip in enumerate(trips)]
    sent = _int(stats, "packets_sent")
    if sent == 0 or not packets:
        raise MeasurementError("irtt sent no packets: the run did not start")
    rtts = [p.rtt_ms for p in packets if p.rtt_ms is not None]
    ipdvs = [abs(p.ipdv_ms) for p in packets if p.ipdv_ms is not None]
    config = doc.get("config")
    params = config.get("params") if isinstance(config, dict) else None
    interval_ns = _opt_float(params.get("interval")) if isinstance(params, dict) else None
    return IrttResult(
        start_unix_s=_start(trips),
        interval_s=(interval_ns or 0.0) / 1e9,
        packets=packets,
        packets_sent=sent,
        packets_received=_int(stats, "packets_received"),
        loss_percent=_float(stats, "packet_loss_percent"),
        upstream_loss_percent=_opt_float(stats.get("upstream_loss_percent")),
        downstream_loss_percent=_opt_float(stats.get("downstream_loss_percent")),
        duplicates=int(_opt_float(stats.get("duplicates")) or 0),
        late_packets=int(_opt_float(stats.get("late_packets")) or 0),
        rtt=summarize(rtts),
        ipdv=summarize(ipdvs),
    )


def _load(text: str) -> dict[str, Any]:
    body = text.strip()
    if not body:
        raise MeasurementError("irtt produced no output (did the client reach the server?)")
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MeasurementError(f"irtt JSON output is truncated or invalid ({exc.msg} at line "
                               f"{exc.lineno} column {exc.colno})") from exc
    if not isinstance(doc, dict):
        raise MeasurementError("irtt JSON output is not an object")
    return doc


def _obj(parent: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise MeasurementError(f"irtt output lacks '{key}': the run did not complete")
    return value


def _opt_float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _float(block: Mapping[str, Any], key: str) -> float:
    value = _opt_float(block.get(key))
    if value is None:
        raise MeasurementError(f"irtt output lacks a number at 'stats.{key}'")
    return value


def _int(block: Mapping[str, Any], key: str) -> int:
    return int(_float(block, key))


def _ms(block: object, key: str) -> float | None:
    value = _opt_float(block.get(key)) if isinstance(block, dict) else None
    return None if value is None else value / _NS_PER_MS


def _packet(index: int, trip: object) -> IrttPacket:
    if not isinstance(trip, dict):
        raise MeasurementError(f"irtt output has a malformed round trip at index {index}")
    lost_text = str(trip.get("lost", "false"))
    if lost_text not in _LOST:
        raise MeasurementError(f"irtt round trip {index} has an unknown loss state "
                               f"{lost_text!r}")
    lost = _LOST[lost_text]
    delay, ipdv = trip.get("delay"), trip.get("ipdv")
    seqno = _opt_float(trip.get("seqno"))
    return IrttPacket(
        seqno=int(seqno) if seqno is not None else index,
        lost=lost,
        rtt_ms=None if lost else _ms(delay, "rtt"),
        send_delay_ms=None if lost else _ms(delay, "send"),
        receive_delay_ms=None if lost else _ms(delay, "receive"),
        ipdv_ms=None if lost else _ms(ipdv, "rtt"),
    )


def _start(trips: list[Any]) -> float | None:
    """Wall-clock send time of the first packet, in Unix seconds."""
    node: object = trips[0] if trips else None
    for key in ("timestamps", "client", "send", "wall"):
        node = node.get(key) if isinstance(node, dict) else None
    value = _opt_float(node)
    return None if value is None else value / 1e9
