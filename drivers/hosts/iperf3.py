"""iperf3 as a measurement source: the options of one run and its argv (pure, no I/O).

Direction follows the RAN convention: "dl" moves data from the data-network side (the iperf3
server) to the UE side (the client), i.e. `iperf3 -R`; "ul" moves it from client to server.
What a run measured, and the parser of its `-J` output, are in `iperf3_result.py` (offered
here too, so one import serves a caller that runs iperf3 and reads its result).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.hosts.iperf3_result import (
    DIRECTIONS,
    LOSS_GRACE_S,
    PROTOCOLS,
    Iperf3Interval,
    Iperf3Result,
    lost_packets,
    parse_result,
)
from harness.base.errors import ConfigError

__all__ = [
    "DIRECTIONS",
    "LOSS_GRACE_S",
    "PROTOCOLS",
    "Iperf3Interval",
    "Iperf3Options",
    "Iperf3Result",
    "client_argv",
    "lost_packets",
    "parse_result",
    "server_argv",
    "udp_burst",
]


@dataclass(frozen=True)
class Iperf3Options:
    """One iperf3 client run; durations round up to whole seconds (iperf3 3.12 `-t` is an int)."""

    host: str
    port: int
    direction: str = "dl"
    protocol: str = "tcp"
    streams: int = 1
    duration_s: float = 10.0
    omit_s: float = 0.0
    bitrate_bps: float | None = None
    window_bytes: int | None = None
    length_bytes: int | None = None
    bind: str | None = None
    connect_timeout_s: float = 5.0
    bidir: bool = False  # `--bidir`: both directions at once; `direction` must then be "ul"

    def __post_init__(self) -> None:
        problems: list[tuple[str, str]] = []
        if self.direction not in DIRECTIONS:
            problems.append(("direction", f"expected 'dl' or 'ul', got {self.direction!r}"))
        if self.protocol not in PROTOCOLS:
            problems.append(("protocol", f"expected 'tcp' or 'udp', got {self.protocol!r}"))
        if not 0 < self.port < 65536:
            problems.append(("port", f"expected 1..65535, got {self.port}"))
        if self.streams < 1:
            problems.append(("streams", f"expected at least 1, got {self.streams}"))
        if not self.duration_s > 0:
            problems.append(("duration_s", f"expected > 0, got {self.duration_s}"))
        if self.omit_s < 0:
            problems.append(("omit_s", f"expected >= 0, got {self.omit_s}"))
        if self.bitrate_bps is not None and self.bitrate_bps < 0:
            problems.append(("bitrate_bps", f"expected >= 0, got {self.bitrate_bps}"))
        if self.bidir and self.direction != "ul":
            problems.append(("direction", "a --bidir run is described as direction 'ul' "
                             "(the client's sending side); the reverse flow is the dl one"))
        if self.protocol == "udp" and self.bitrate_bps is None:
            problems.append(("bitrate_bps",
                             "UDP needs a target bitrate (iperf3 would send 1 Mbit/s)"))
        for name in ("window_bytes", "length_bytes"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                problems.append((name, f"expected > 0, got {value}"))
        if not self.connect_timeout_s > 0:
            problems.append(("connect_timeout_s", f"expected > 0, got {self.connect_timeout_s}"))
        if problems:
            field, message = problems[0]
            raise ConfigError(message, field=f"iperf3.{field}")

    @property
    def whole_seconds(self) -> int:
        """The `-t` value iperf3 gets: duration rounded up to a whole second."""
        return max(1, math.ceil(self.duration_s))

    @property
    def omit_whole_seconds(self) -> int:
        """The `-O` value iperf3 gets: omit period rounded up to a whole second."""
        return math.ceil(self.omit_s)


# iperf3 3.12 keeps a UDP rate by going back to its select() loop after every datagram, which
# caps the sender of a 2-core machine at 1.2-1.5 Gbit/s of 1,400-byte datagrams whatever `-b`
# asks; `-b RATE/K` checks the rate once per K datagrams instead (1.6-2.0 Gbit/s). K is what the
# rate sends in UDP_BURST_S, at most UDP_BURST_MAX: bursts well inside the 1 ms that iperf3's
# pacing timer already lets a stream run ahead of its rate, so the stream is no burstier on
# the wire; below ~2 datagrams per UDP_BURST_S nothing changes. Without `-l` iperf3 sizes
# datagrams from the path's MSS (32 KiB on loopback), so the burst could not be bounded: none.
UDP_BURST_S = 100e-6
UDP_BURST_MAX = 16


def udp_burst(bitrate_bps: float, length_bytes: int | None) -> int:
    """Datagrams iperf3 sends between two checks of a UDP rate (1: every datagram, also when
    the datagram size is left to iperf3)."""
    if not length_bytes:
        return 1
    return max(1, min(UDP_BURST_MAX, int(bitrate_bps * UDP_BURST_S // (8 * length_bytes))))


def client_argv(opts: Iperf3Options, *, binary: str = "iperf3") -> list[str]:
    """argv of an iperf3 client run with JSON output, 1 s intervals and the server's report."""
    argv = [binary, "-c", opts.host, "-p", str(opts.port), "-J", "-i", "1",
            "--get-server-output",
            "--connect-timeout", str(max(1, round(opts.connect_timeout_s * 1000))),
            "-t", str(opts.whole_seconds)]
    if opts.omit_whole_seconds:
        argv += ["-O", str(opts.omit_whole_seconds)]
    if opts.bidir:
        argv.append("--bidir")
    elif opts.direction == "dl":
        argv.append("-R")
    if opts.protocol == "udp":
        argv.append("-u")
    if opts.streams != 1:
        argv += ["-P", str(opts.streams)]
    if opts.bitrate_bps is not None:
        rate = str(round(opts.bitrate_bps))
        burst = (udp_burst(opts.bitrate_bps, opts.length_bytes)
                 if opts.protocol == "udp" and opts.bitrate_bps > 0 else 1)
        argv += ["-b", f"{rate}/{burst}" if burst > 1 else rate]
    if opts.window_bytes is not None:
        argv += ["-w", str(opts.window_bytes)]
    if opts.length_bytes is not None:
        argv += ["-l", str(opts.length_bytes)]
    if opts.bind is not None:
        argv += ["-B", opts.bind]
    return argv


def server_argv(port: int, *, bind: str | None = None, one_off: bool = True,
                binary: str = "iperf3") -> list[str]:
    """argv of an iperf3 server; `-J` so a client's `--get-server-output` gets the server's JSON."""
    argv = [binary, "-s", "-p", str(port), "-J"]
    if one_off:
        argv.append("-1")
    if bind is not None:
        argv += ["-B", bind]
    return argv
