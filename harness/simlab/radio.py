"""The air interface's latency model: TDD slot timing, HARQ, core delay, jitter and loss.

A packet (a UDP datagram, or a chunk of a TCP stream) that the cell's shaper has released at
time `ready` is delivered at:

- **DL**: `ready` + core/transport delay ± jitter (the UPF and N3 sit before the air), then the
  end of the first DL transmission window that starts at or after that moment;
- **UL**: the end of the first UL window that starts at or after `ready`, then + core delay ±
  jitter (N3 and the UPF sit after the air).

A transmission window is a slot of the TDD pattern usable in the direction: a D (or U) slot, or
the DL (UL) symbols of a special slot (D:G:U split). Slots last 1 ms / 2^μ. A packet waits for a
slot boundary: the scheduler decides what goes into a slot before the slot starts.

**HARQ**: each transmission fails with probability BLER. A retransmission goes into the first
usable window that starts at least `HARQ_RTT_SLOTS` (4) slots after the failed one started: the
UE/gNB needs k1 plus processing time (≈ 3 slots at 30 kHz) to send the NACK and the gNB one more
slot to schedule again. After `MAX_HARQ_TX` (4) failed transmissions a datagram is lost (residual
BLER); a TCP chunk is recovered by RLC retransmission, modelled as one more HARQ round.
Retransmissions use the cell's capacity: the shaper is charged once per transmission.

**Loss** drops datagrams at random. A TCP connection through the relay is split (the relay
terminates TCP on both sides, like a performance-enhancing proxy), so a lost segment cannot be
dropped; it delays its chunk by one recovery round trip (2 × core delay + one TDD period).

**Jitter** adds a uniform random value in [−jitter, +jitter] to the core delay (never below 0).
Deliveries in one direction of one flow never overtake each other (RLC delivers in order).
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from harness.base.errors import ConfigError
from harness.base.nr_peak import numerology

HARQ_RTT_SLOTS = 4
MAX_HARQ_TX = 4
TCP_SEGMENT_BYTES = 1448  # payload of a TCP segment on a 1500-byte MTU with timestamps
MAX_DELAY_MS = 10_000.0
_SYMBOLS = 14


@dataclass(frozen=True)
class AirParams:
    """What the latency model needs to know about a cell."""

    scs_khz: int = 30
    tdd: str = "DDDSU"
    special: str | None = "10:2:2"
    bler: float = 0.0
    loss: float = 0.0
    core_delay_ms: float = 1.0
    jitter_ms: float = 0.0

    def check(self) -> None:
        """Raise ConfigError when a value is out of range (the message names the value)."""
        if not 0.0 <= self.bler < 1.0:
            raise ConfigError(f"BLER must be from 0 up to (not including) 1, got {self.bler:g}")
        if not 0.0 <= self.loss <= 1.0:
            raise ConfigError(f"loss must be from 0 to 1, got {self.loss:g}")
        for name, value in (("core delay", self.core_delay_ms), ("jitter", self.jitter_ms)):
            if not (math.isfinite(value) and 0.0 <= value <= MAX_DELAY_MS):
                raise ConfigError(f"{name} must be from 0 to {MAX_DELAY_MS:g} ms, "
                                  f"got {value:g} ms")
        SlotPattern.build(self.tdd, self.special, self.scs_khz, "dl")


def segments(nbytes: int) -> int:
    """TCP segments a relayed chunk stands for (its packet count): ceil(bytes / 1448)."""
    return max(1, -(-nbytes // TCP_SEGMENT_BYTES))


@dataclass(frozen=True)
class SlotPattern:
    """Where one direction may transmit within one period of a TDD pattern."""

    slot_s: float
    period_s: float
    starts: tuple[float, ...]  # window starts, seconds into the period, ascending
    ends: tuple[float, ...]

    @classmethod
    def build(cls, tdd: str, special: str | None, scs_khz: int, direction: str) -> SlotPattern:
        """The windows of `direction` ("dl"/"ul") in pattern `tdd` at `scs_khz`."""
        slot = 1e-3 / 2 ** numerology(scs_khz)
        symbol = slot / _SYMBOLS
        pattern = tdd.upper()
        if pattern == "FDD":
            return cls(slot, slot, (0.0,), (slot,))
        if not pattern or set(pattern) - set("DSU"):
            raise ConfigError(f"TDD pattern must be a string of D, S and U slots, got {tdd!r}")
        d_sym = u_sym = 0
        if "S" in pattern:
            if special is None:
                raise ConfigError(f"TDD pattern {pattern} has an S slot: give its split, "
                                  "e.g. '10:2:2'")
            try:
                d_sym, g_sym, u_sym = (int(x) for x in special.split(":"))
            except ValueError:
                raise ConfigError(f"special-slot split must read D:G:U, e.g. '10:2:2', "
                                  f"got {special!r}") from None
            if min(d_sym, g_sym, u_sym) < 0 or d_sym + g_sym + u_sym != _SYMBOLS:
                raise ConfigError(f"special-slot split {special} must add up to 14 symbols")
        windows: list[tuple[float, float]] = []
        for i, kind in enumerate(pattern):
            start = i * slot
            if direction == "dl":
                if kind == "D":
                    windows.append((start, start + slot))
                elif kind == "S" and d_sym:
                    windows.append((start, start + d_sym * symbol))
            elif kind == "U":
                windows.append((start, start + slot))
            elif kind == "S" and u_sym:
                windows.append((start + slot - u_sym * symbol, start + slot))
        return cls(slot, len(pattern) * slot, tuple(w[0] for w in windows),
                   tuple(w[1] for w in windows))

    def next_window(self, t: float) -> tuple[float, float]:
        """(start, end) of the first window that starts at or after time `t`; inf if none."""
        if not self.starts:
            return math.inf, math.inf
        base = math.floor(t / self.period_s) * self.period_s
        phase = t - base
        i = bisect.bisect_left(self.starts, phase - 1e-12)
        if i == len(self.starts):
            base += self.period_s
            i = 0
        return base + self.starts[i], base + self.ends[i]


class RadioLink:
    """The latency model of one direction ("dl" or "ul") of one cell."""

    def __init__(self, direction: str, params: AirParams | None = None,
                 rng: random.Random | None = None) -> None:
        if direction not in ("dl", "ul"):
            raise ConfigError(f"direction must be dl or ul, got {direction!r}")
        self.direction = direction
        self.rng = rng if rng is not None else random.Random()
        self.params = AirParams()
        self.pattern = SlotPattern.build("DDDSU", "10:2:2", 30, direction)
        self.configure(params if params is not None else AirParams())

    def configure(self, params: AirParams) -> None:
        """Take new cell parameters (already checked); packets in flight keep their times."""
        self.params = params
        self.pattern = SlotPattern.build(params.tdd, params.special, params.scs_khz,
                                         self.direction)
        self._core_s = params.core_delay_ms / 1000
        self._jitter_s = params.jitter_ms / 1000

    def lost(self, packets: int = 1) -> bool:
        """Whether random loss hits (at least one of) `packets` packets."""
        loss = self.params.loss
        if loss <= 0.0:
            return False
        if packets == 1:
            return self.rng.random() < loss
        return self.rng.random() < 1.0 - (1.0 - loss) ** packets

    def harq_transmissions(self) -> int:
        """How many HARQ transmissions a transport block needs; 0 when all MAX_HARQ_TX fail."""
        bler = self.params.bler
        if bler <= 0.0:
            return 1
        n = 1
        while self.rng.random() < bler:
            if n == MAX_HARQ_TX:
                return 0
            n += 1
        return n

    def recovery_s(self) -> float:
        """Delay a TCP chunk takes for a lost segment: one round trip through core and cell."""
        return 2 * self._core_s + self.pattern.period_s

    def core_delay_s(self) -> float:
        """One packet's core/transport delay with jitter drawn."""
        if self._jitter_s <= 0.0:
            return self._core_s
        return max(0.0, self._core_s + self.rng.uniform(-self._jitter_s, self._jitter_s))

    def deliver_time(self, ready: float, transmissions: int = 1) -> float:
        """When a packet the shaper released at `ready` reaches the far side of the cell."""
        pattern = self.pattern
        t = ready + self.core_delay_s() if self.direction == "dl" else ready
        start, end = pattern.next_window(t)
        harq_rtt = HARQ_RTT_SLOTS * pattern.slot_s
        for _ in range(transmissions - 1):
            start, end = pattern.next_window(start + harq_rtt)
        if self.direction == "ul":
            end += self.core_delay_s()
        return end
