"""State of a virtual gNodeB: its cells, their capacity, and the counters the relay feeds."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from harness.measure.peak import Carrier, n_prb, tdd_share
from harness.simlab.relay import Direction, RateLimiter


@dataclass
class CellConfig:
    """What the CLI can set on a cell; the capacity follows from it."""

    id: int
    bandwidth_mhz: int = 100
    scs_khz: int = 30
    tdd: str = "DDDSU"
    special: str | None = "10:2:2"
    layers_dl: int = 4
    layers_ul: int = 1
    modulation_dl: str = "256qam"
    modulation_ul: str = "64qam"
    plmns: tuple[str, ...] = ("452-02",)
    pci: int = 1
    admin_up: bool = True

    def check(self) -> None:
        """Raise ConfigError if the combination is not a valid NR cell."""
        n_prb(self.bandwidth_mhz, self.scs_khz)
        for direction in ("dl", "ul"):
            self.capacity_bps(direction)

    def peak_mbps(self, direction: str) -> float:
        """TS 38.306 §4.1.2 approximate peak for this carrier, FDD-equivalent."""
        layers = self.layers_dl if direction == "dl" else self.layers_ul
        modulation = self.modulation_dl if direction == "dl" else self.modulation_ul
        carrier = Carrier(self.bandwidth_mhz, self.scs_khz, layers, modulation, direction)
        return carrier.peak_mbps()

    def capacity_bps(self, direction: str) -> float:
        """User-plane capacity: peak × the TDD pattern's share for the direction (0 when down)."""
        if not self.admin_up:
            return 0.0
        share = tdd_share(self.tdd, self.special, direction)
        return self.peak_mbps(direction) * share * 1e6


@dataclass
class CellRuntime:
    """A cell in operation: its configuration and its two user-plane directions."""

    config: CellConfig
    downlink: Direction = field(init=False)
    uplink: Direction = field(init=False)
    thp_dl_kbps: float = 0.0
    thp_ul_kbps: float = 0.0
    _last: tuple[float, int, int] = (0.0, 0, 0)

    def __post_init__(self) -> None:
        self.downlink = Direction(RateLimiter(self.config.capacity_bps("dl")))
        self.uplink = Direction(RateLimiter(self.config.capacity_bps("ul")))
        self._last = (time.monotonic(), 0, 0)

    def apply(self, config: CellConfig) -> None:
        """Take a new (already checked) configuration; the shapers follow at once."""
        self.config = config
        self.downlink.limiter.rate_bps = config.capacity_bps("dl")
        self.uplink.limiter.rate_bps = config.capacity_bps("ul")

    def tick(self) -> None:
        """Update the throughput gauges from the byte counters (called about once a second)."""
        now = time.monotonic()
        last_t, last_dl, last_ul = self._last
        elapsed = now - last_t
        if elapsed <= 0:
            return
        dl, ul = self.downlink.bytes, self.uplink.bytes
        self.thp_dl_kbps = (dl - last_dl) * 8 / elapsed / 1000
        self.thp_ul_kbps = (ul - last_ul) * 8 / elapsed / 1000
        self._last = (now, dl, ul)

    def prb_used(self, direction: str) -> int:
        """Mean PRBs in use, in proportion to the load against capacity."""
        capacity = self.config.capacity_bps(direction)
        if capacity <= 0:
            return 0
        kbps = self.thp_dl_kbps if direction == "dl" else self.thp_ul_kbps
        load = min(1.0, kbps * 1000 / capacity)
        return round(load * n_prb(self.config.bandwidth_mhz, self.config.scs_khz))


@dataclass
class GnbIdentity:
    """What the device says about itself."""

    name: str
    vendor: str = "ran-harness simulator"
    model: str = "SimGNB-1"
    serial: str = "SIM-0001"
    firmware: str = "1.0.0"
    location: str = "simulated lab"
    contact: str = "lab@example.invalid"


class VirtualGnb:
    """A simulated gNodeB: identity, cells, counters; read and written by its CLI and agent."""

    def __init__(self, identity: GnbIdentity, cells: list[CellConfig]) -> None:
        for cell in cells:
            cell.check()
        self.identity = identity
        self.cells: dict[int, CellRuntime] = {c.id: CellRuntime(c) for c in cells}
        self.booted = time.monotonic()
        # The CLI runs on SSH worker threads; configuration changes take this lock.
        self.lock = threading.Lock()

    def uptime_ticks(self) -> int:
        """sysUpTime in hundredths of a second."""
        return int((time.monotonic() - self.booted) * 100)

    def tick(self) -> None:
        """Refresh every cell's gauges."""
        for cell in self.cells.values():
            cell.tick()
