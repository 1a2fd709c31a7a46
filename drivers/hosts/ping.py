"""ping as a latency source where irtt is absent: argv builder and output parser (pure).

The harness runs `ping -n -c COUNT -i INTERVAL HOST` (iputils; an interval under 0.2 s needs
root, so 0.2 s is the floor) and reads one RTT per reply line and the loss from the summary.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from harness.base.errors import ConfigError, MeasurementError

MIN_INTERVAL_S = 0.2
_REPLY = re.compile(r"icmp_seq=(\d+)\b.*?\btime[=<]([0-9.]+) ?ms")
_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")


@dataclass(frozen=True)
class PingOptions:
    """One ping run."""

    host: str
    count: int = 10
    interval_s: float = MIN_INTERVAL_S

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"expected at least 1, got {self.count}", field="ping.count")
        if not (math.isfinite(self.interval_s) and self.interval_s >= MIN_INTERVAL_S):
            raise ConfigError(f"expected at least {MIN_INTERVAL_S} s (ping's floor without "
                              f"root), got {self.interval_s}", field="ping.interval_s")


def ping_argv(opts: PingOptions, *, binary: str = "ping") -> list[str]:
    """argv of a numeric ping run."""
    return [binary, "-n", "-c", str(opts.count), "-i", f"{opts.interval_s:g}", opts.host]


@dataclass(frozen=True)
class PingResult:
    """Replies in sequence order (None: no reply) and the summary's counts."""

    rtts_ms: list[float | None]
    transmitted: int
    received: int

    @property
    def loss_percent(self) -> float:
        """Lost share of the transmitted echo requests, in percent."""
        if self.transmitted <= 0:
            return 0.0
        return (self.transmitted - self.received) / self.transmitted * 100.0


def parse_ping(text: str) -> PingResult:
    """Parse iputils ping output; MeasurementError when there is no summary line."""
    summary = _SUMMARY.search(text)
    if summary is None:
        tail = text.strip()[-300:] or "no output"
        raise MeasurementError(f"ping output has no statistics line: {tail!r}")
    transmitted, received = int(summary.group(1)), int(summary.group(2))
    replies: dict[int, float] = {}
    for match in _REPLY.finditer(text):
        replies.setdefault(int(match.group(1)), float(match.group(2)))
    rtts: list[float | None] = [replies.get(seq) for seq in range(1, transmitted + 1)]
    return PingResult(rtts_ms=rtts, transmitted=transmitted, received=received)
