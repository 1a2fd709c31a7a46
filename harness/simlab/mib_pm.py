"""PM counters of the virtual gNodeB (TS 28.552 names), per cell and per PLMN, from the relay.

What each counter is computed from:

- **DRB.PdcpSduVolumeDL/UL**: octets the relay delivered (the profile scales them to Mbit);
- **DRB.UEThpDl/Ul**: those octets over the last tick (about one second), in kbit/s;
- **RRU.PrbUsedDl/Ul**: the cell's PRBs × carried throughput / capacity; **RRU.PrbTotDl/Ul** the
  same as a percentage; **RRU.PrbAvailDl/Ul** the carrier's PRBs (0 while the cell is down);
- **RRC.ConnMean/ConnMax**: the simulated UE count, one UE per active relayed flow (TCP
  connection or UDP 5-tuple) when the relay reports flows, else 1 while the cell carried bytes
  during the last tick; mean and maximum over a sliding window of `WINDOW_TICKS` ticks;
- **DRB.PacketLossRateUl** / **DRB.PacketDropRateDl**: datagrams the relay lost over packets that
  entered the direction, in ppm (×10⁻⁶), over the same window (TCP chunks are never dropped);
- **TB.TotNbrDl/Ul, TB.ErrTotalNbrDl/Ul**: transport blocks estimated from the carried bits: one
  block carries a full allocation of one slot (TS 38.306 peak rate × slot duration), each needs
  on average 1 / (1 − BLER) transmissions at the cell's BLER, the extra ones being the errors.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.base.nr_peak import numerology
from harness.simlab.oids import (
    PLMN_PM_COLUMNS,
    PM_COLUMNS,
    SIM_PLMN_PM_ENTRY,
    SIM_PM_ENTRY,
    Oid,
)
from harness.simlab.snmp_agent import MibValue

if TYPE_CHECKING:
    from harness.simlab.gnb import CellRuntime, VirtualGnb
    from harness.simlab.relay import Direction

WINDOW_TICKS = 10
_MAX_GAUGE = 2**32 - 1


def gauge(value: float) -> MibValue:
    """A Gauge32 value, clamped to its range."""
    return ("Gauge32", max(0, min(_MAX_GAUGE, round(value))))


def counter64(value: float) -> MibValue:
    """A Counter64 value (wraps)."""
    return ("Counter64", int(value) % 2**64)


def cell_bler(cell: CellRuntime) -> float:
    """The cell's configured HARQ BLER."""
    return float(cell.config.bler)


def tb_bits(cell: CellRuntime, direction: str) -> float:
    """Bits one transport block carries at full allocation: peak rate × slot duration."""
    cfg = cell.config
    slot_s: float = 1e-3 / 2 ** numerology(cfg.scs_khz)
    return cfg.peak_mbps(direction) * 1e6 * slot_s


@dataclass
class _DirectionPm:
    """Accumulators of one direction of one cell."""

    last_bytes: int = 0
    last_packets: int = 0
    last_drops: int = 0
    tb_total: float = 0.0
    tb_errors: float = 0.0
    window: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=WINDOW_TICKS))

    def tick(self, direction: Direction, bits_per_tb: float, bler: float) -> int:
        """Take the direction's counters; returns the octets carried since the last tick."""
        total, packets, drops = direction.bytes, direction.packets, direction.drops
        delta = max(0, total - self.last_bytes)
        self.window.append((max(0, packets - self.last_packets), max(0, drops - self.last_drops)))
        self.last_bytes, self.last_packets, self.last_drops = total, packets, drops
        if delta and bits_per_tb > 0:
            new = delta * 8 / bits_per_tb
            sent = new / (1.0 - min(bler, 0.999))
            self.tb_total += sent
            self.tb_errors += sent - new
        return delta

    def loss_ppm(self) -> float:
        packets = sum(p for p, _ in self.window)
        drops = sum(d for _, d in self.window)
        entered = packets + drops
        return drops / entered * 1e6 if entered else 0.0


@dataclass
class _PlmnPm:
    last: tuple[int, int] = (0, 0)
    thp_kbps: tuple[float, float] = (0.0, 0.0)


@dataclass
class CellPm:
    """Accumulators and windows of one cell."""

    dl: _DirectionPm = field(default_factory=_DirectionPm)
    ul: _DirectionPm = field(default_factory=_DirectionPm)
    conn: deque[int] = field(default_factory=lambda: deque(maxlen=WINDOW_TICKS))
    plmns: dict[str, _PlmnPm] = field(default_factory=dict)

    def conn_mean(self) -> float:
        """RRC.ConnMean over the window."""
        return sum(self.conn) / len(self.conn) if self.conn else 0.0


class PmState:
    """Per-cell PM accumulators, advanced once per tick from the relay's counters."""

    def __init__(self) -> None:
        self.cells: dict[int, CellPm] = {}

    def tick(self, gnb: VirtualGnb, dt: float) -> None:
        """Advance every cell's accumulators by one tick of `dt` seconds."""
        for cell_id, cell in gnb.cells.items():
            pm = self.cells.setdefault(cell_id, CellPm())
            bler = cell_bler(cell)
            moved = pm.dl.tick(cell.downlink, tb_bits(cell, "dl"), bler)
            moved += pm.ul.tick(cell.uplink, tb_bits(cell, "ul"), bler)
            flows = gnb.mgmt.flow_count(cell_id)
            pm.conn.append(flows if flows is not None else (1 if moved else 0))
            for plmn, (dl, ul) in cell.plmn_directions.items():
                entry = pm.plmns.setdefault(plmn, _PlmnPm(last=(dl.bytes, ul.bytes)))
                if dt > 0:
                    entry.thp_kbps = (max(0, dl.bytes - entry.last[0]) * 8 / dt / 1000,
                                      max(0, ul.bytes - entry.last[1]) * 8 / dt / 1000)
                entry.last = (dl.bytes, ul.bytes)
        for gone in set(self.cells) - set(gnb.cells):
            del self.cells[gone]


def _plmn_share(cell: CellRuntime, plmn: str) -> float:
    """The share of the cell's capacity a PLMN may use (1 when no share is configured)."""
    share = cell.config.plmn_share(plmn)
    return 1.0 if share is None else share


def pm_rows(gnb: VirtualGnb, cell_id: int, cell: CellRuntime, *, up: bool) -> dict[Oid, MibValue]:
    """simPmEntry and simPlmnPmEntry rows of one cell."""
    cfg = cell.config
    pm = gnb.mgmt.pm.cells.get(cell_id, CellPm())
    total = cfg.prbs
    prb_dl, prb_ul = cell.prb_used("dl"), cell.prb_used("ul")
    values: dict[str, MibValue] = {
        "DRB.PdcpSduVolumeDL": counter64(cell.downlink.bytes),
        "DRB.PdcpSduVolumeUL": counter64(cell.uplink.bytes),
        "DRB.UEThpDl": gauge(cell.thp_dl_kbps),
        "DRB.UEThpUl": gauge(cell.thp_ul_kbps),
        "RRU.PrbUsedDl": gauge(prb_dl),
        "RRU.PrbUsedUl": gauge(prb_ul),
        "RRU.PrbTotDl": gauge(100 * prb_dl / total),
        "RRU.PrbTotUl": gauge(100 * prb_ul / total),
        "RRU.PrbAvailDl": gauge(total if up else 0),
        "RRU.PrbAvailUl": gauge(total if up else 0),
        "RRC.ConnMean": gauge(pm.conn_mean()),
        "RRC.ConnMax": gauge(max(pm.conn, default=0)),
        "DRB.PacketLossRateUl": gauge(pm.ul.loss_ppm()),
        "DRB.PacketDropRateDl": gauge(pm.dl.loss_ppm()),
        "TB.TotNbrDl": counter64(math.floor(pm.dl.tb_total)),
        "TB.ErrTotalNbrDl": counter64(math.floor(pm.dl.tb_errors)),
        "TB.TotNbrUl": counter64(math.floor(pm.ul.tb_total)),
        "TB.ErrTotalNbrUl": counter64(math.floor(pm.ul.tb_errors)),
    }
    rows = {(*SIM_PM_ENTRY, PM_COLUMNS[name], cell_id): v for name, v in values.items()}
    rows.update(_plmn_rows(cell_id, cell, pm, total))
    return rows


def _plmn_rows(cell_id: int, cell: CellRuntime, pm: CellPm, total_prb: int
               ) -> dict[Oid, MibValue]:
    directions = cell.plmn_directions
    plmns = list(cell.config.plmns)
    rows: dict[Oid, MibValue] = {}
    cap = {d: cell.config.capacity_bps(d) for d in ("dl", "ul")}
    for index, plmn in enumerate(plmns, start=1):
        cols: dict[str, MibValue] = {
            "plmnId": ("OctetString", plmn),
            "sharePercent": gauge(100 * _plmn_share(cell, plmn)),
        }
        dl, ul = directions[plmn]
        thp = pm.plmns.get(plmn, _PlmnPm()).thp_kbps
        cols["DRB.PdcpSduVolumeDL"] = counter64(dl.bytes)
        cols["DRB.PdcpSduVolumeUL"] = counter64(ul.bytes)
        cols["DRB.UEThpDl"] = gauge(thp[0])
        cols["DRB.UEThpUl"] = gauge(thp[1])
        for i, d in enumerate(("dl", "ul")):
            load = min(1.0, thp[i] * 1000 / cap[d]) if cap[d] > 0 else 0.0
            cols[f"RRU.PrbUsed{d.capitalize()}"] = gauge(load * total_prb)
        for name, value in cols.items():
            rows[(*SIM_PLMN_PM_ENTRY, PLMN_PM_COLUMNS[name], index, cell_id)] = value
    return rows


__all__ = ["WINDOW_TICKS", "CellPm", "PmState", "cell_bler", "counter64", "gauge", "pm_rows",
           "tb_bits"]
