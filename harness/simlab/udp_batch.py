"""Batched datagram work for the UDP relay: admission through a cell direction, and sending.

Per datagram, Python and the kernel's loopback path cost more than the cell model itself, so the
relay works on batches:

- `admit_batch` admits the datagrams read from one socket in one go: one pass through the
  shaper's queue (`RateLimiter.offer_many`), one HARQ count, and a slot-window lookup only when
  a datagram falls past the window the previous one found. With BLER, random loss or jitter
  configured, each datagram still draws its own fate (`Direction.admit_datagram`).
- `DatagramSender` sends a group of datagrams due at the same instant. Runs of equal-sized
  datagrams go out with UDP segmentation offload (`UDP_SEGMENT`, Linux ≥ 4.18): one `sendmsg`
  and one trip through the IP stack for up to 64 datagrams, which the kernel splits back into
  the very same datagrams before the receiver sees them. Where the kernel refuses it, the sender
  falls back to one `send` per datagram for good.
"""

from __future__ import annotations

import errno
import logging
import math
import socket
import struct
from collections import deque
from collections.abc import Sequence

from harness.simlab.delay import PreciseTimer
from harness.simlab.shaper import Direction

SOL_UDP = 17
UDP_SEGMENT = 103  # linux/udp.h: UDP GSO segment size, as a setsockopt or cmsg
GSO_MAX_SEGMENTS = 64  # UDP_MAX_SEGMENTS in kernels before 6.9
GSO_MAX_BYTES = 65_000  # payload of one GSO send: below the 65,507 bytes of one IPv4 datagram
PACE_BURST = 64  # datagrams (~90 kB of 1,400 bytes) handed to the far side at once, at most
_GSO_REFUSED = {errno.EINVAL, errno.EIO, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EMSGSIZE}
_log = logging.getLogger("harness.simlab.udp_batch")

Address = tuple[str, int]


def admit_batch(direction: Direction, sizes: Sequence[int], now: float,
                arrivals: Sequence[float] | None = None) -> list[float | None]:
    """Delivery time of each datagram of a batch read at `now`; None: lost (counted).

    `arrivals`: when each datagram reached the relay (default: `now` for all). Same results
    and counts as `direction.admit_datagram` on each datagram in turn.
    """
    radio = direction.radio
    if radio is not None:
        params = radio.params
        if params.bler > 0 or params.loss > 0 or params.jitter_ms > 0:
            times = arrivals if arrivals is not None else [now] * len(sizes)
            return [direction.admit_datagram(n, min(t, now)) for n, t in zip(sizes, times,
                                                                              strict=True)]
        direction.count_harq(len(sizes), 0)
    ready = direction.limiter.offer_many(sizes, now, arrivals)
    dropped = ready.count(None)
    if dropped:
        direction.drop(dropped)
    if radio is None:
        return ready
    pattern = radio.pattern
    core = params.core_delay_ms / 1000
    downlink = radio.direction == "dl"
    # next_window(t) is the same for every t from a query point up to the window's start.
    lo = hi = -math.inf
    due = 0.0
    out: list[float | None] = []
    for r in ready:
        if r is None:
            out.append(None)
            continue
        t = r + core if downlink else r
        if not lo <= t <= hi:
            start, end = pattern.next_window(t)
            lo, hi = t, start
            due = end if downlink else end + core
        out.append(due)
    return out


class DatagramSender:
    """Sends groups of datagrams on one UDP socket (to `address`, or connected if None)."""

    def __init__(self, sock: socket.socket, address: Address | None = None) -> None:
        self.sock = sock
        self.address = address
        self.gso = True

    def send(self, datagrams: list[bytes]) -> tuple[int, int]:
        """Send `datagrams` in order; (datagrams sent, bytes sent). What the socket refuses
        (full buffer, ICMP error pending) is lost, as the kernel would lose it."""
        sent = nbytes = 0
        i, n = 0, len(datagrams)
        while i < n:
            size = len(datagrams[i])
            j = i + 1
            if self.gso and size > 0:
                most = i + min(GSO_MAX_SEGMENTS, GSO_MAX_BYTES // size)
                while j < n and j < most and len(datagrams[j]) == size:
                    j += 1
            if j - i > 1:
                ok = self._send_gso(datagrams[i:j], size)
                if ok is None:  # the kernel refused GSO: this run and the rest one by one
                    continue
                if ok:
                    sent += j - i
                    nbytes += (j - i) * size
            elif self._send_one(datagrams[i]):
                sent += 1
                nbytes += size
            i = j
        return sent, nbytes

    def _send_gso(self, run: list[bytes], size: int) -> bool | None:
        cmsg = [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", size))]
        try:
            if self.address is None:
                self.sock.sendmsg([b"".join(run)], cmsg)
            else:
                self.sock.sendmsg([b"".join(run)], cmsg, 0, self.address)
        except (BlockingIOError, InterruptedError, ConnectionRefusedError):
            return False
        except OSError as exc:
            if exc.errno in _GSO_REFUSED:
                _log.debug("UDP segmentation offload refused (%s): sending one by one", exc)
                self.gso = False
                return None
            return False
        return True

    def _send_one(self, data: bytes) -> bool:
        try:
            if self.address is None:
                self.sock.send(data)
            else:
                self.sock.sendto(data, self.address)
        except OSError:  # full buffer, ICMP error pending, unreachable: the datagram is lost
            return False
        return True


class PacedSender:
    """Hands each group of datagrams due together to a `DatagramSender` `burst` at a time, in
    order, counting what was sent (and dropping into `direction` what the socket refused).

    A slot's worth of a 1.7 Gbit/s cell is ~150 datagrams; all at once they could overflow a
    receiver's default socket buffer (208 KiB: ~90 datagrams) before it is scheduled to read.
    The next burst goes out at the event loop's next turn (`rate_bps` 0: no timer, nearly free)
    or, with a rate, after the time the burst takes at that rate (a timer event per burst:
    measured to double the relay's CPU per datagram, for no loss difference on this machine).
    """

    def __init__(self, sender: DatagramSender, direction: Direction, timer: PreciseTimer,
                 *, rate_bps: float = 0.0, burst: int = PACE_BURST) -> None:
        self.sender = sender
        self.direction = direction
        self.timer = timer
        self.rate_bps = rate_bps
        self.burst = burst
        self._queue: deque[bytes] = deque()
        self._scheduled = False

    def __len__(self) -> int:
        return len(self._queue)

    def send(self, datagrams: list[bytes]) -> None:
        """Send `datagrams` now, or after those still waiting."""
        if not self._scheduled and len(datagrams) <= self.burst:
            self._deliver(datagrams)
            return
        self._queue.extend(datagrams)
        if not self._scheduled:
            self._run()

    def clear(self) -> None:
        """Drop what still waits."""
        self._queue.clear()

    def _run(self) -> None:
        self._scheduled = False
        queue = self._queue
        if not queue:
            return
        batch = [queue.popleft() for _ in range(min(self.burst, len(queue)))]
        nbytes = self._deliver(batch)
        if queue:
            self._scheduled = True
            if self.rate_bps <= 0:  # no rate: the next burst at the loop's next turn
                self.timer.loop.call_soon(self._run)
            else:
                self.timer.call_at(self.timer.loop.time() + nbytes * 8 / self.rate_bps,
                                   self._run)

    def _deliver(self, datagrams: list[bytes]) -> int:
        sent, nbytes = self.sender.send(datagrams)
        if sent:
            self.direction.count(nbytes, sent)
        if sent < len(datagrams):
            self.direction.drop(len(datagrams) - sent)
        return sum(len(d) for d in datagrams)
