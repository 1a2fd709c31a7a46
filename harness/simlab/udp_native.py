"""Control of the UDP relay's C core (`_udpcore`): parameters in, counters out, every few ms.

The C core (harness/simlab/_udpcore.c) runs one native thread per relay that reads datagrams
with recvmmsg, admits them into the cell's FIFO shaper at their kernel arrival time, delays
them by the same radio model as `harness.simlab.radio` and sends them at their due time with
GSO. Python keeps the model objects and the control: `NativeUdpCore.sync`, run every `SYNC_S`
by the relay, copies what the faults and cell changes set (the limiter's rate and queue limit,
the radio's `AirParams`) into the core, and moves the core's counters into the `Direction`s
(so PM, IF-MIB and UPF counters still count the bytes actually relayed).

A cell direction's queue is shared by TCP (Python, `RateLimiter`) and UDP (C): once a C relay
uses a limiter (`ShaperLink`), the queue's end lives in a C `Shaper` that both queue into
(`RateLimiter.shared`), so a UDP probe waits behind a bulk TCP transfer and TCP slows for UDP.

`load_core()` is None where the extension was not built (or `HARNESS_UDP_RELAY=python`): the
relay then runs in Python, and `core_status()` says why.
"""

from __future__ import annotations

import importlib
import os
import random
import socket
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from harness.simlab.radio import AirParams, SlotPattern
from harness.simlab.shaper import Direction, RateLimiter

SYNC_S = 0.01  # how often parameters go in and counters come out
ENV = "HARNESS_UDP_RELAY"  # "python": use the Python relay even where the C core is built
_UP, _DOWN = 0, 1
_FIELDS = ("bytes", "packets", "drops", "tb_total", "tb_errors", "send_errors", "relay_lost",
           "late")


def load_core() -> ModuleType | None:
    """The C core module, or None (not built, not importable, or `HARNESS_UDP_RELAY=python`)."""
    if os.environ.get(ENV, "").lower() == "python":
        return None
    try:
        return importlib.import_module("harness.simlab._udpcore")
    except ImportError:
        return None


def core_status() -> str:
    """One line for `harness sim status` and the lab log: which UDP relay runs, and why."""
    if os.environ.get(ENV, "").lower() == "python":
        return f"python ({ENV}=python)"
    try:
        importlib.import_module("harness.simlab._udpcore")
    except ImportError as exc:
        return f"python (the C core is not built: {exc}; reinstall with `pip install -e .`)"
    return "native (C core, harness/simlab/_udpcore.c)"


@dataclass
class ShaperLink:
    """The C `Shaper` of one `RateLimiter`: from then on the limiter's queue lives in C."""

    limiter: RateLimiter
    shaper: Any
    synced: float = -1.0

    @classmethod
    def of(cls, limiter: RateLimiter, core: ModuleType) -> ShaperLink:
        """The limiter's link, created on first use (every relay of a cell shares it)."""
        link = limiter.native_link
        if not isinstance(link, ShaperLink):
            shaper = core.Shaper()
            shaper.set_queue_end(limiter.queue_end())
            link = cls(limiter, shaper)
            limiter.native_link = link
            limiter.shared = shaper
            link.sync(time.monotonic(), force=True)
        return link

    def sync(self, now: float, *, force: bool = False) -> None:
        """The limiter's rate and queue limit into the C shaper (once per `SYNC_S` / 2)."""
        if not force and now - self.synced < SYNC_S / 2:
            return
        self.synced = now
        self.shaper.configure(self.limiter.rate_bps, self.limiter.limit_s())


def model_args(direction: Direction, k: int, seed: int | None) -> tuple[Any, ...]:
    """`Relay.configure` arguments for one direction from its radio model (or none)."""
    radio = direction.radio
    if radio is None:
        return (k, False, k == _DOWN, (0.0,), (1.0,), 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, seed)
    p: AirParams = radio.params
    pattern: SlotPattern = radio.pattern
    return (k, True, radio.direction == "dl", pattern.starts, pattern.ends, pattern.period_s,
            pattern.slot_s, p.core_delay_ms / 1000, p.jitter_ms / 1000, p.bler, p.loss, seed)


@dataclass
class _Seen:
    """Counter totals already moved into a `Direction`."""

    totals: tuple[int, ...] = (0,) * len(_FIELDS)
    params: AirParams | None = None
    pattern: SlotPattern | None = None


@dataclass
class NativeUdpCore:
    """One relay's C core bound to a listening socket, with its sync to the model objects."""

    core: ModuleType
    listener: socket.socket
    target: tuple[int, str, int]  # family, numeric address, port
    uplink: Direction
    downlink: Direction
    idle_timeout_s: float
    relay: Any = None
    links: tuple[ShaperLink, ShaperLink] | None = None
    _seen: dict[int, _Seen] = field(default_factory=dict)
    _final: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        """Create the core, give it the model, start its thread."""
        family, host, port = self.target
        up = ShaperLink.of(self.uplink.limiter, self.core)
        down = ShaperLink.of(self.downlink.limiter, self.core)
        self.links = (up, down)
        self.relay = self.core.Relay(self.listener.fileno(), family, host, port, up.shaper,
                                     down.shaper, idle_timeout_s=self.idle_timeout_s)
        self._seen = {_UP: _Seen(), _DOWN: _Seen()}
        self._configure(force=True)
        self.relay.start()

    def _directions(self) -> tuple[tuple[int, Direction], ...]:
        return (_UP, self.uplink), (_DOWN, self.downlink)

    def _configure(self, *, force: bool = False) -> None:
        for k, direction in self._directions():
            seen = self._seen[k]
            radio = direction.radio
            params = radio.params if radio is not None else None
            pattern = radio.pattern if radio is not None else None
            if force or params is not seen.params or pattern is not seen.pattern:
                seed = None
                if force:
                    seed = (radio.rng if radio is not None else random).getrandbits(64)
                self.relay.configure(*model_args(direction, k, seed))
                seen.params, seen.pattern = params, pattern

    def sync(self) -> None:
        """Parameters in, counters out (call from the event loop)."""
        if self.relay is None or self.links is None:
            return
        now = time.monotonic()
        for link in self.links:
            link.sync(now)
        self._configure()
        counters = self.relay.counters()
        for k, direction in self._directions():
            totals = tuple(int(v) for v in counters["up" if k == _UP else "down"])
            seen = self._seen[k]
            delta = [a - b for a, b in zip(totals, seen.totals, strict=True)]
            seen.totals = totals
            nbytes, packets, drops, tb_total, tb_errors, _, relay_lost, late = delta
            if packets or nbytes:
                direction.count(nbytes, packets)
            if drops:
                direction.drop(drops)
            if relay_lost or late:
                direction.fall_short(relay_lost, late)
            if tb_total or tb_errors:
                direction.count_harq(tb_total, tb_errors)

    @property
    def flows(self) -> int:
        """UE flows open now."""
        return int(self.relay.counters()["flows"]) if self.relay is not None else 0

    def counters(self) -> dict[str, Any]:
        """The core's raw totals (per direction: bytes, packets, drops, TBs, TB errors, send
        errors, datagrams the relay itself lost, datagrams sent late), flows open, opened,
        refused, read errors, whether GSO is in use, the native thread's CPU time (user,
        system) and the datagrams read without a kernel arrival stamp (admitted at the read
        time); after `stop`, the last totals."""
        if self.relay is None:
            return dict(self._final)
        raw: dict[str, Any] = self.relay.counters()
        for key in ("up", "down"):
            raw[key] = dict(zip(_FIELDS, raw[key], strict=True))
        return raw

    def stop(self) -> None:
        """Stop the thread (joined, bounded), count what it carried, close its flows."""
        if self.relay is None:
            return
        self.relay.stop()
        self.sync()
        self._final = self.counters()
        self.relay = None
