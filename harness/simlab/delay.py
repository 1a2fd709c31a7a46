"""Timed delivery for the relays: a sub-millisecond timer and an in-order delay line.

asyncio's own timers wake up to a millisecond late (epoll waits in whole milliseconds), which
is as long as two 30 kHz slots: the latency model would be off by half a millisecond per hop.
`PreciseTimer` arms a Linux timerfd (through ctypes; CLOCK_MONOTONIC, the clock of
`loop.time()`) that the event loop watches, so callbacks run within ~50 µs of their time. Where
timerfd is missing it falls back to `loop.call_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import itertools
import logging
import math
import os
from collections import deque
from collections.abc import Callable

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_EARLY_S = 30e-6  # callbacks due this soon run now: less than the wake-up latency itself
_log = logging.getLogger("harness.simlab.delay")


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int,
                                         ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return libc


class PreciseTimer:
    """Runs callbacks at absolute `loop.time()` instants with sub-millisecond precision."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._armed = math.inf
        self._fd = -1
        self._libc = _libc()
        if self._libc is not None:
            fd = int(self._libc.timerfd_create(_CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC))
            if fd >= 0:
                self._fd = fd
                self.loop.add_reader(fd, self._fire)

    @property
    def precise(self) -> bool:
        """True when a timerfd drives the callbacks (else asyncio's millisecond timers)."""
        return self._fd >= 0

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Run `callback` at `when` (loop time); a time in the past runs it at once."""
        if self._fd < 0:
            self.loop.call_at(when, callback)
            return
        heapq.heappush(self._heap, (when, next(self._seq), callback))
        if when < self._armed:
            self._arm(when)

    def close(self) -> None:
        """Stop the timer; pending callbacks are dropped."""
        self._heap.clear()
        if self._fd >= 0:
            self.loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _arm(self, when: float) -> None:
        self._armed = when
        if self._libc is None:
            return
        when = max(when, 1e-6)  # an all-zero value would disarm the timer
        sec = math.floor(when)
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(sec, int((when - sec) * 1e9)))
        self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None)

    def _fire(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            os.read(self._fd, 8)
        self._armed = math.inf
        heap = self._heap
        horizon = self.loop.time() + _EARLY_S
        while heap and heap[0][0] <= horizon:
            _, _, callback = heapq.heappop(heap)
            try:
                callback()
            except Exception:  # one broken flow must not stop every other flow's deliveries
                _log.exception("relay delivery callback failed")
        if heap:
            self._arm(heap[0][0])


class RelayClock:
    """The event loop and the precise timer a relay runs on once started (TCP and UDP alike)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _timer: PreciseTimer | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the relay runs on; RuntimeError before `start`."""
        if self._loop is None:
            raise RuntimeError("the relay is not started")
        return self._loop

    @property
    def timer(self) -> PreciseTimer:
        """The relay's delivery timer; RuntimeError before `start`."""
        if self._timer is None:
            raise RuntimeError("the relay is not started")
        return self._timer

    def _start_clock(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer = PreciseTimer(loop)

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None


class DelayLine:
    """A FIFO whose items leave at their due time, never overtaking one another.

    Items due at the same instant (a slot's worth of datagrams ends at the window's end) form
    one group: the sink gets the group as a list, so a relay can send it with one system call.
    """

    def __init__(self, timer: PreciseTimer, sink: Callable[[list[bytes]], None],
                 on_empty: Callable[[], None] | None = None) -> None:
        self.timer = timer
        self.sink = sink
        self.on_empty = on_empty
        self.pending_bytes = 0
        self._groups: deque[tuple[float, list[bytes], list[int]]] = deque()
        self._count = 0
        self._last = -math.inf
        self._scheduled = False

    def __len__(self) -> int:
        return self._count

    def push(self, when: float, data: bytes) -> None:
        """Queue `data` for delivery at `when` (or right after the item before it)."""
        groups = self._groups
        nbytes = len(data)
        if when <= self._last and groups:
            tail = groups[-1]
            tail[1].append(data)
            tail[2][0] += nbytes
        else:
            when = max(when, self._last)
            self._last = when
            groups.append((when, [data], [nbytes]))
        self._count += 1
        self.pending_bytes += nbytes
        if not self._scheduled:
            self._scheduled = True
            self.timer.call_at(groups[0][0], self._flush)

    def push_many(self, whens: list[float | None], datas: list[bytes]) -> None:
        """`push` each of `datas` at its time in `whens`; a None time leaves that one out."""
        groups = self._groups
        last = self._last
        tail = groups[-1] if groups else None
        count = nbytes = 0
        for when, data in zip(whens, datas, strict=True):
            if when is None:
                continue
            size = len(data)
            if tail is not None and when <= last:
                tail[1].append(data)
                tail[2][0] += size
            else:
                last = when if when > last else last
                tail = (last, [data], [size])
                groups.append(tail)
            count += 1
            nbytes += size
        self._last = last
        self._count += count
        self.pending_bytes += nbytes
        if groups and not self._scheduled:
            self._scheduled = True
            self.timer.call_at(groups[0][0], self._flush)

    def clear(self) -> None:
        """Drop everything still waiting."""
        self._groups.clear()
        self._count = 0
        self.pending_bytes = 0

    def _flush(self) -> None:
        self._scheduled = False
        groups = self._groups
        horizon = self.timer.loop.time() + _EARLY_S
        while groups and groups[0][0] <= horizon:
            _, items, size = groups.popleft()
            self._count -= len(items)
            self.pending_bytes -= size[0]
            self.sink(items)
        if groups:
            self._scheduled = True
            self.timer.call_at(groups[0][0], self._flush)
        elif self.on_empty is not None:
            self.on_empty()
