"""The measured window of a traffic run: which part of the traffic a trial's figures cover.

A tool such as iperf3 discards a warm-up (`omit`) and reports the rest; a cross-check or a KPI
panel that compares a device's view with the UE's must cover the same part. Times are seconds
on the tool's own clock, which starts when its traffic starts; `launched_ns`/`returned_ns` are
the wall clock around the tool's run (bounds for finding that start on another clock).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MeasuredWindow"]


@dataclass(frozen=True)
class MeasuredWindow:
    """The measured part of one direction of a traffic run, as the receiver saw it."""

    start_s: float  # seconds after the traffic started: the end of the warm-up (omit)
    end_s: float  # seconds after the traffic started: the end of the last measured interval
    bytes: int  # what the receiver counted inside the window
    omitted_bytes: int  # what it counted during the warm-up (outside the window)
    launched_ns: int = 0  # wall clock (time.time_ns) just before the tool started
    returned_ns: int = 0  # wall clock when the tool returned
    # True: the receiver counted until the traffic had drained (its window ends with the
    # traffic); False: it stopped counting at end_s on its clock, bytes still in flight unread
    ends_with_traffic: bool = False

    @property
    def duration_s(self) -> float:
        """Length of the window."""
        return self.end_s - self.start_s

    def to_json(self) -> dict[str, float | int]:
        """The trial entry's `window` field."""
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "bytes": self.bytes, "omitted_bytes": self.omitted_bytes}
