"""State of a virtual gNodeB: its cells, their capacity, and the counters the relay feeds."""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from harness.base.errors import ConfigError
from harness.base.nr_peak import Carrier, frequency_range, n_prb, tdd_share
from harness.simlab.faults import FaultController
from harness.simlab.mgmt import Management
from harness.simlab.radio import AirParams, RadioLink
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
    band: str = "n78"
    arfcn: int = 636666  # NR-ARFCN (3,550.0 MHz in n78)
    tx_power_dbm: float = 43.0
    admin_up: bool = True
    quality: float = 1.0  # channel-quality factor: the share of the peak the channel allows
    bler: float = 0.0  # HARQ block error rate (each failed transmission is retransmitted)
    loss: float = 0.0  # random packet loss
    core_delay_ms: float = 1.0  # one-way core/transport delay, per direction
    jitter_ms: float = 0.0  # ± uniform jitter on the core delay
    plmn_shares: tuple[tuple[str, float], ...] = ()  # MOCN: (PLMN, share of the capacity)

    def check(self) -> None:
        """Raise ConfigError if the combination is not a valid NR cell."""
        if not re.fullmatch(r"n\d{1,3}", self.band):
            raise ConfigError(f"band must read like n78, got {self.band!r}")
        n_prb(self.bandwidth_mhz, self.scs_khz, self.fr)
        if not 0 <= self.arfcn <= 3279165:
            raise ConfigError(f"NR-ARFCN must be 0..3279165, got {self.arfcn}")
        if not (math.isfinite(self.tx_power_dbm) and -10.0 <= self.tx_power_dbm <= 60.0):
            raise ConfigError(f"transmit power must be -10..60 dBm, got {self.tx_power_dbm:g}")
        for direction in ("dl", "ul"):
            self.capacity_bps(direction)
        if not (math.isfinite(self.quality) and 0.0 <= self.quality <= 1.0):
            raise ConfigError(f"channel quality must be from 0 to 1, got {self.quality:g}")
        self.air().check()
        self._check_shares()

    def _check_shares(self) -> None:
        if not self.plmns:
            raise ConfigError("a cell needs at least one PLMN")
        total = 0.0
        seen: set[str] = set()
        for plmn, share in self.plmn_shares:
            if plmn not in self.plmns:
                raise ConfigError(f"PLMN {plmn} is not on the cell "
                                  f"(PLMNs: {', '.join(self.plmns)})")
            if plmn in seen:
                raise ConfigError(f"PLMN {plmn} has two shares")
            if not (math.isfinite(share) and 0.0 < share <= 1.0):
                raise ConfigError(f"a PLMN share must be above 0 and at most 1, got {share:g}")
            seen.add(plmn)
            total += share
        if total > 1.0 + 1e-9:
            raise ConfigError(f"PLMN shares add up to {total:g}: they must not exceed 1")

    @property
    def fr(self) -> int:
        """Frequency range (1 or 2) from the band, or the SCS (TS 38.101-1/-2)."""
        return frequency_range(self.band, self.scs_khz)

    @property
    def prbs(self) -> int:
        """The carrier's maximum RB allocation (TS 38.101-1/-2 §5.3.2)."""
        return n_prb(self.bandwidth_mhz, self.scs_khz, self.fr)

    def air(self) -> AirParams:
        """What the latency model needs: slot timing, BLER, loss, core delay and jitter."""
        return AirParams(scs_khz=self.scs_khz, tdd=self.tdd, special=self.special,
                         bler=self.bler, loss=self.loss, core_delay_ms=self.core_delay_ms,
                         jitter_ms=self.jitter_ms)

    def plmn_share(self, plmn: str) -> float | None:
        """The enforced share of the capacity for `plmn`; None while no share is configured
        (then every PLMN draws on the whole cell). PLMNs without a share of their own split
        what the configured shares leave."""
        if not self.plmn_shares:
            return None
        shares = dict(self.plmn_shares)
        if plmn in shares:
            return shares[plmn]
        others = [p for p in self.plmns if p not in shares]
        return max(0.0, 1.0 - sum(shares.values())) / len(others) if plmn in others else 0.0

    def peak_mbps(self, direction: str) -> float:
        """TS 38.306 §4.1.2 approximate peak for this carrier, FDD-equivalent."""
        layers = self.layers_dl if direction == "dl" else self.layers_ul
        modulation = self.modulation_dl if direction == "dl" else self.modulation_ul
        carrier = Carrier(self.bandwidth_mhz, self.scs_khz, layers, modulation, direction,
                          fr=self.fr)
        return carrier.peak_mbps()

    def capacity_bps(self, direction: str) -> float:
        """User-plane capacity: peak × the TDD pattern's share for the direction (0 when down)."""
        if not self.admin_up:
            return 0.0
        share = tdd_share(self.tdd, self.special, direction)
        return self.peak_mbps(direction) * share * self.quality * 1e6


@dataclass
class CellRuntime:
    """A cell in operation: its configuration and its two user-plane directions.

    `downlink`/`uplink` count everything the cell carried; `plmn_directions[plmn]` is the
    (DL, UL) pair of one PLMN, whose counts also go into the cell's. Relays carry a PLMN's
    traffic through `lane(plmn, direction)`. Without PLMN shares every PLMN uses the cell's
    shaper; with shares (MOCN) each PLMN has its own shaper at share × capacity.
    """

    config: CellConfig
    downlink: Direction = field(init=False)
    uplink: Direction = field(init=False)
    thp_dl_kbps: float = 0.0
    thp_ul_kbps: float = 0.0
    _last: tuple[float, int, int] = (0.0, 0, 0)
    _lanes: dict[str, tuple[Direction, Direction]] = field(init=False)
    _own_limiters: dict[tuple[str, str], RateLimiter] = field(init=False)

    def __post_init__(self) -> None:
        air = self.config.air()
        self.downlink = Direction(RateLimiter(self.config.capacity_bps("dl")),
                                  radio=RadioLink("dl", air))
        self.uplink = Direction(RateLimiter(self.config.capacity_bps("ul")),
                                radio=RadioLink("ul", air))
        self._lanes = {}
        self._own_limiters = {}
        self._last = (time.monotonic(), 0, 0)
        self._wire_plmns()

    def apply(self, config: CellConfig) -> None:
        """Take a new (already checked) configuration; the shapers follow at once."""
        self.config = config
        self.downlink.limiter.rate_bps = config.capacity_bps("dl")
        self.uplink.limiter.rate_bps = config.capacity_bps("ul")
        air = config.air()
        for cell_dir in (self.downlink, self.uplink):
            if cell_dir.radio is not None:
                cell_dir.radio.configure(air)
        self._wire_plmns()

    @property
    def plmn_directions(self) -> dict[str, tuple[Direction, Direction]]:
        """(DL, UL) directions of every PLMN the cell serves, in configuration order."""
        return {plmn: self._lanes[plmn] for plmn in self.config.plmns}

    def lane(self, plmn: str | None, direction: str) -> Direction:
        """The direction ("dl"/"ul") a relay uses for `plmn` (None: the cell's first PLMN)."""
        plmn = plmn or self.config.plmns[0]
        if plmn not in self.config.plmns:
            raise ConfigError(f"cell {self.config.id} does not serve PLMN {plmn} "
                              f"(PLMNs: {', '.join(self.config.plmns)})")
        dl, ul = self._lanes[plmn]
        return dl if direction == "dl" else ul

    def _wire_plmns(self) -> None:
        """Give each PLMN the cell's shaper, or its own at share × capacity (MOCN)."""
        for plmn in self.config.plmns:
            if plmn not in self._lanes:
                self._lanes[plmn] = (
                    Direction(self.downlink.limiter, radio=self.downlink.radio,
                              parent=self.downlink),
                    Direction(self.uplink.limiter, radio=self.uplink.radio, parent=self.uplink))
            share = self.config.plmn_share(plmn)
            for lane, cell_dir, name in zip(self._lanes[plmn], (self.downlink, self.uplink),
                                            ("dl", "ul"), strict=True):
                if share is None:
                    lane.limiter = cell_dir.limiter
                    continue
                own = self._own_limiters.setdefault((plmn, name), RateLimiter(0.0))
                own.rate_bps = share * cell_dir.limiter.rate_bps
                lane.limiter = own

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
        return round(load * self.config.prbs)


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
    """A simulated gNodeB: identity, cells, counters; read and written by its CLI and agent.

    `mgmt` is its management plane (alarms, PM, health, firmware, trap targets: see
    `harness.simlab.mgmt`); `faults` its injected faults (`harness.simlab.faults`).
    """

    def __init__(self, identity: GnbIdentity, cells: list[CellConfig]) -> None:
        for cell in cells:
            cell.check()
        self.identity = identity
        self.cells: dict[int, CellRuntime] = {c.id: CellRuntime(c) for c in cells}
        self.booted = time.monotonic()
        # The CLI runs on SSH worker threads; configuration changes take this lock.
        self.lock = threading.Lock()
        self.mgmt = Management(self)
        self.faults = FaultController(self)

    def uptime_ticks(self) -> int:
        """sysUpTime in hundredths of a second."""
        return int((time.monotonic() - self.booted) * 100)

    def tick(self) -> None:
        """Refresh every cell's gauges, end expired faults, advance PM, health and alarms."""
        for cell in self.cells.values():
            cell.tick()
        self.faults.expire()
        self.mgmt.tick()

    def inject_fault(self, kind: str, duration_s: float | None = None, **params: Any) -> None:
        """Start a fault (kinds and parameters: `harness.simlab.faults`); ConfigError if bad."""
        self.faults.inject(kind, duration_s, **params)

    def clear_faults(self, kind: str | None = None) -> int:
        """End every active fault, or those of `kind`; returns how many ended."""
        return self.faults.clear(kind)

    def active_faults(self) -> list[dict[str, Any]]:
        """The active faults: id, kind, params, started, duration_s, remaining_s."""
        return self.faults.active()
