"""A cell direction's user plane: its queue and shaper, its radio model and its counters.

Each direction of a cell is a FIFO queue drained at the cell's capacity (`RateLimiter`'s
virtual clock): a packet reserves its serialisation time behind everything already queued,
then the radio model (`harness.simlab.radio`) adds slot alignment, HARQ and core delay. Flows of
one direction share the queue, so a bulk TCP flow makes a ping wait (latency grows under load).
The queue holds at most `QUEUE_S` (15 ms) of traffic, capped at `QUEUE_BYTES`; a UDP datagram
that finds it full is dropped (tail drop). A TCP reader stops reading once the queue holds
`STREAM_FILL` (2/3, so 10 ms) of it, and that backpressure reaches the sender: as a TCP
sender's congestion control keeps a bottleneck queue short of overflowing, datagrams sharing the
queue with a bulk TCP flow wait behind it instead of being dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.simlab.radio import MAX_HARQ_TX, RadioLink, segments

QUEUE_S = 0.015
QUEUE_BYTES = 8 * 1024 * 1024
STREAM_FILL = 2 / 3
DOWN_POLL_S = 0.05  # how often a flow looks whether a cell that is down came back
_MIN_READ = 8 * 1024
_MAX_READ = 256 * 1024
_READ_SLICE_S = 0.001  # a TCP read holds about this much air time: fine-grained deliveries


class SharedQueue(Protocol):
    """Where a queue's end lives when a native thread queues into it too (`udp_native`)."""

    def queue_end(self) -> float:
        """When everything queued will have been serialised (loop time)."""

    def set_queue_end(self, when: float) -> None:
        """Move the queue's end."""

    def reserve(self, air_s: float, floor: float) -> float:
        """Atomically: end = max(end, floor) + air_s; the new end."""


class RateLimiter:
    """Virtual-clock shaper (and FIFO queue) shared by every flow in one direction of one cell.

    `acquire` paces a caller: it returns when the link would have finished serialising its
    bytes; up to `burst_s` of unused capacity is kept so a late event loop catches up. `reserve`
    and `offer` queue instead of waiting: they return the instant serialisation ends.
    """

    def __init__(self, rate_bps: float, *, burst_s: float = 0.004, queue_s: float = QUEUE_S,
                 queue_bytes: int = QUEUE_BYTES) -> None:
        self.rate_bps = rate_bps
        self.burst_s = burst_s
        self.queue_s = queue_s
        self.queue_bytes = queue_bytes
        self.shared: SharedQueue | None = None  # set: the queue's end is kept there
        self.native_link: object | None = None  # udp_native.ShaperLink: who set `shared`
        self._end = 0.0
        self._seen = 0.0  # the latest arrival queued: offer_many never queues one before it

    @property
    def _next(self) -> float:
        shared = self.shared
        return self._end if shared is None else shared.queue_end()

    @_next.setter
    def _next(self, when: float) -> None:
        if self.shared is None:
            self._end = when
        else:
            self.shared.set_queue_end(when)

    async def acquire(self, nbytes: int) -> None:
        """Wait until `nbytes` may pass at the configured rate."""
        rate = self.rate_bps
        if rate <= 0:
            # A cell that is down carries nothing; poll so a cell coming back up resumes.
            while self.rate_bps <= 0:
                await asyncio.sleep(DOWN_POLL_S)
            rate = self.rate_bps
        loop = asyncio.get_running_loop()
        now = loop.time()
        air = nbytes * 8 / rate
        if self.shared is not None:
            delay = self.shared.reserve(air, now - self.burst_s) - now
        else:
            self._next = max(self._next, now - self.burst_s) + air
            delay = self._next - now
        if delay > 0.0005:
            await asyncio.sleep(delay)

    def queue_end(self) -> float:
        """When everything queued now will have been serialised (loop time)."""
        return self._next

    def limit_s(self) -> float:
        """How much air time the queue holds: `queue_s`, or less where `queue_bytes` binds."""
        rate = self.rate_bps
        return min(self.queue_s, self.queue_bytes * 8 / rate) if rate > 0 else 0.0

    def backlog_s(self, now: float) -> float:
        """Air time queued ahead of a packet arriving at `now`."""
        return max(0.0, self._next - now)

    def full(self, now: float) -> bool:
        """True while the queue holds what a stream may fill or more (or the cell carries
        nothing): `STREAM_FILL` of its limit."""
        return self.rate_bps <= 0 or self._next - now >= self.limit_s() * STREAM_FILL

    def drained_at(self) -> float:
        """When the queue will have dropped below what a stream may fill (loop time)."""
        return self._next - self.limit_s() * STREAM_FILL

    def reserve(self, nbytes: int, now: float) -> float:
        """Queue `nbytes` whatever the backlog; the instant their serialisation ends."""
        if now > self._seen:
            self._seen = now
        if self.shared is not None:
            return self.shared.reserve(nbytes * 8 / self.rate_bps, now)
        self._next = max(self._next, now) + nbytes * 8 / self.rate_bps
        return self._next

    def offer(self, nbytes: int, now: float) -> float | None:
        """Queue `nbytes` unless the queue is full (tail drop: None); else as `reserve`."""
        if self.rate_bps <= 0 or self._next - now > self.limit_s():
            return None
        return self.reserve(nbytes, now)

    def offer_many(self, sizes: Sequence[int], now: float,
                   arrivals: Sequence[float] | None = None) -> list[float | None]:
        """`offer` for datagrams read together at `now`, in order: one call for a batch.

        `arrivals` are the instants the datagrams reached the relay (kernel timestamps), so a
        relay that reads late does not squeeze the gaps between them into a burst. An arrival
        before one this queue has already seen counts as arriving with it (reads of other
        sockets sharing the queue, or TCP chunks queued at the time they were read, may have
        come first: what is queued stays in the order it was queued).
        """
        rate = self.rate_bps
        if rate <= 0:
            return [None] * len(sizes)
        limit_s = self.limit_s()
        nxt = self._next
        bits_s = 8 / rate
        seen = self._seen
        ready: list[float | None] = []
        for i, nbytes in enumerate(sizes):
            t = now
            if arrivals is not None:
                t = arrivals[i]
                t = seen if t < seen else now if t > now else t
                seen = t
            if nxt - t > limit_s:
                ready.append(None)
                continue
            nxt = (nxt if nxt > t else t) + nbytes * bits_s
            ready.append(nxt)
        self._next = nxt
        self._seen = seen
        return ready

@dataclass
class Direction:
    """One direction of a cell's (or of one PLMN's) user plane: shaper, radio model, counters.

    `bytes` and `packets` count what was delivered (packets: exact for UDP datagrams, estimated
    as ceil(bytes / 1448) per TCP chunk); `drops` counts datagrams lost to a full queue, to
    random loss or to HARQ failure: the cell's. `relay_lost` counts datagrams the relay itself
    failed to carry (its delay line or its sockets' buffers full: the machine short of CPU, not
    the cell) and `relay_late` those it sent more than 2 ms (`LATE_S`) after their due time: the
    simulator's shortfall, reported so that a trial can tell it measured the simulator, never
    counted as the cell's. `tb_total` counts transport-block transmissions (one per
    datagram or TCP chunk, plus each HARQ retransmission) and `tb_errors` the failed ones, so
    tb_errors / tb_total follows the BLER. Counting also counts into `parent` (a PLMN's
    direction counts into its cell's). `on_bytes` hooks see every delivered byte count.
    """

    limiter: RateLimiter
    bytes: int = 0
    on_bytes: list[Callable[[int], None]] = field(default_factory=list)
    packets: int = 0
    drops: int = 0
    radio: RadioLink | None = None
    parent: Direction | None = None
    tb_total: int = 0
    tb_errors: int = 0
    relay_lost: int = 0
    relay_late: int = 0

    def count(self, nbytes: int, packets: int | None = None) -> None:
        """Count `nbytes` delivered in `packets` packets (default: TCP segments estimate)."""
        n = segments(nbytes) if packets is None else packets
        node: Direction | None = self
        while node is not None:
            node.bytes += nbytes
            node.packets += n
            for hook in node.on_bytes:
                hook(nbytes)
            node = node.parent

    def count_harq(self, transmissions: int, errors: int) -> None:
        """Count transport-block transmissions and the failed ones among them."""
        node: Direction | None = self
        while node is not None:
            node.tb_total += transmissions
            node.tb_errors += errors
            node = node.parent

    def fall_short(self, lost: int, late: int = 0) -> None:
        """Count datagrams the relay itself lost, and those it sent late (see the class)."""
        node: Direction | None = self
        while node is not None:
            node.relay_lost += lost
            node.relay_late += late
            node = node.parent

    def drop(self, packets: int = 1) -> None:
        """Count packets that entered the direction and were lost."""
        node: Direction | None = self
        while node is not None:
            node.drops += packets
            node = node.parent

    def admit_datagram(self, nbytes: int, now: float) -> float | None:
        """Delivery time of a datagram arriving at `now`, or None when it is lost (counted)."""
        radio = self.radio
        tx = 1
        if radio is not None:
            tx = radio.harq_transmissions()
            if tx == 0:  # every HARQ transmission failed
                self.count_harq(MAX_HARQ_TX, MAX_HARQ_TX)
                self.drop()
                return None
            self.count_harq(tx, tx - 1)
            if radio.lost():
                self.drop()
                return None
        ready = self.limiter.offer(nbytes * tx, now)
        if ready is None:
            self.drop()
            return None
        return ready if radio is None else radio.deliver_time(ready, tx)

    def admit_chunk(self, nbytes: int, now: float) -> float | None:
        """Delivery time of a TCP chunk arriving at `now`; None while the cell carries nothing.

        A chunk is never dropped: HARQ failure and loss delay it (see `harness.simlab.radio`).
        """
        if self.limiter.rate_bps <= 0:
            return None
        radio = self.radio
        if radio is None:
            return self.limiter.reserve(nbytes, now)
        tx = radio.harq_transmissions() or MAX_HARQ_TX + 1  # then RLC retransmits once more
        self.count_harq(tx, tx - 1)
        ready = self.limiter.reserve(nbytes * tx, now)
        deliver = radio.deliver_time(ready, tx)
        if radio.lost(segments(nbytes)):
            deliver += radio.recovery_s()
        return deliver

    def read_size(self) -> int:
        """How much a TCP reader takes at once: about a millisecond of capacity."""
        rate = self.limiter.rate_bps
        return int(min(_MAX_READ, max(_MIN_READ, rate / 8 * _READ_SLICE_S)))
