"""What an iperf3 run that did not finish had measured (pure, no I/O).

iperf3 3.12 has no `--json-stream`, and with `-J` it prints its JSON only when it ends: but it
does print it when it ends early. A client whose server was killed ("control socket has closed
unexpectedly") or which got SIGINT/SIGTERM ("interrupt - the client has terminated") still
writes `start` and the intervals it finished, with `error` set and an empty or zeroed `end`.
`parse_partial` reads those intervals so the seconds already measured are kept as samples,
while the trial stays ERROR (or interrupted): a partial figure is never judged.

Which side the intervals count: the receiver's for a downlink (`-R`, the client receives) run,
the sender's for an uplink one unless the server's report came back with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from drivers.hosts.iperf3_result import (
    DIRECTIONS,
    PROTOCOLS,
    Iperf3Interval,
    Iperf3Result,
    _align,
    _interval,
    _merge_sliver,
)
from harness.base.errors import MeasurementError

_ATTR = "ranharness_iperf3_partial"


@dataclass(frozen=True)
class Iperf3Partial:
    """The finished intervals of an iperf3 run that stopped early, and why it stopped.

    `result` has only those intervals; its totals are their sums (receiver figures if
    `receiver`, else what the client sent). `raw` is iperf3's output, kept as evidence.
    """

    error: str
    result: Iperf3Result
    raw: str
    receiver: bool

    @property
    def measured_s(self) -> float:
        """Seconds of measured (not omitted) intervals."""
        return sum(i.end_s - i.start_s for i in self.result.measured_intervals)


class Iperf3Incomplete(MeasurementError):
    """iperf3 stopped before the end of its test; `partial` holds what it had measured."""

    def __init__(self, message: str, partial: Iperf3Partial) -> None:
        super().__init__(message)
        self.partial = partial


def attach_partial(exc: BaseException, partial: Iperf3Partial) -> None:
    """Hang `partial` on an exception that must propagate as it is (a CancelledError)."""
    setattr(exc, _ATTR, partial)


def partial_of(exc: BaseException) -> Iperf3Partial | None:
    """What a stopped iperf3 run had measured, if it was attached to `exc`."""
    if isinstance(exc, Iperf3Incomplete):
        return exc.partial
    value = getattr(exc, _ATTR, None)
    return value if isinstance(value, Iperf3Partial) else None


def parse_partial(text: str, *, direction: str) -> Iperf3Partial | None:
    """The finished intervals of an iperf3 client's `-J` output that did not complete; None
    when there is nothing measured to keep (no JSON, no `start`, no interval, wrong run)."""
    doc = _doc(text)
    if doc is None or direction not in DIRECTIONS:
        return None
    start = doc.get("start")
    test_start = start.get("test_start") if isinstance(start, dict) else None
    stamp = start.get("timestamp") if isinstance(start, dict) else None
    if not isinstance(test_start, dict) or not isinstance(stamp, dict):
        return None
    timesecs = stamp.get("timesecs")
    protocol = str(test_start.get("protocol", "")).lower()
    reverse = bool(test_start.get("reverse", 0))
    if not isinstance(timesecs, (int, float)) or protocol not in PROTOCOLS \
            or reverse != (direction == "dl") or test_start.get("bidirectional"):
        return None
    source: object = doc.get("intervals")
    server = doc.get("server_output_json")
    receiver = reverse
    if not reverse and isinstance(server, dict) and server.get("intervals"):
        source, receiver = server.get("intervals"), True
    try:
        intervals = _finished(source)
    except MeasurementError:
        return None
    if not any(not i.omitted for i in intervals):
        return None
    measured = [i for i in intervals if not i.omitted]
    n_bytes = sum(i.bytes for i in measured)
    seconds = sum(i.end_s - i.start_s for i in measured)
    retransmits = [i.retransmits for i in measured if i.retransmits is not None]
    result = Iperf3Result(
        start_unix_s=float(timesecs), protocol=protocol, direction=direction,
        streams=int(test_start.get("num_streams", 1)), intervals=intervals,
        bytes_received=n_bytes,
        bits_per_second_received=n_bytes * 8 / seconds if seconds > 0 else 0.0,
        bytes_sent=n_bytes, retransmits=sum(retransmits) if retransmits else None,
        lost_percent=None, jitter_ms=None, mean_rtt_ms=None, host_cpu_percent=None,
        remote_cpu_percent=None)
    return Iperf3Partial(error=str(doc.get("error") or ""), result=result, raw=text,
                         receiver=receiver)


def _doc(text: str) -> dict[str, Any] | None:
    body = text.strip()
    first = body.find("{")
    if first < 0:
        return None
    try:
        doc, _ = json.JSONDecoder().raw_decode(body, first)
    except json.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _finished(source: object) -> list[Iperf3Interval]:
    """Intervals in time order, each once: a client whose server died repeats its last
    interval (3.12), and one that was interrupted ends with a shorter one."""
    if not isinstance(source, list):
        raise MeasurementError("no intervals")
    kept: list[Iperf3Interval] = []
    for entry in source:
        interval = _interval(entry)
        if interval.end_s <= interval.start_s:
            continue
        if kept and interval.start_s < kept[-1].end_s - 1e-6 \
                and interval.omitted == kept[-1].omitted:
            continue  # a repeat (or an overlap) of what is already kept
        kept.append(interval)
    return _align(_merge_sliver(kept))

