"""The virtual gNodeB's MIB: standard system/entity objects plus the simulator's private arc.

The private arc sits under enterprise 32473 (IANA's documentation number, RFC 5612) so it can
never be mistaken for a real vendor's; `mibs/RAN-HARNESS-SIM-MIB.txt` describes it.
"""

from __future__ import annotations

from harness.measure.peak import n_prb
from harness.simlab.gnb import CellRuntime, VirtualGnb
from harness.simlab.snmp_agent import MibValue

Oid = tuple[int, ...]

SYSTEM: Oid = (1, 3, 6, 1, 2, 1, 1)
ENT_PHYSICAL_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1)
SIM: Oid = (1, 3, 6, 1, 4, 1, 32473, 1)
SIM_GNB_PRODUCT: Oid = (*SIM, 1, 1)
SIM_CELL_ENTRY: Oid = (*SIM, 2, 1)
SIM_PM_ENTRY: Oid = (*SIM, 3, 1)

_MAX_GAUGE = 2**32 - 1


def _gauge(value: float) -> MibValue:
    return ("Gauge32", max(0, min(_MAX_GAUGE, round(value))))


def _cell_rows(cell_id: int, cell: CellRuntime) -> dict[Oid, MibValue]:
    cfg = cell.config
    config_cols: dict[int, MibValue] = {
        1: ("Integer", cfg.id),
        2: ("Integer", cfg.bandwidth_mhz),
        3: ("Integer", cfg.scs_khz),
        4: ("OctetString", cfg.tdd),
        5: ("OctetString", cfg.special or ""),
        6: ("Integer", cfg.layers_dl),
        7: ("Integer", cfg.layers_ul),
        8: ("OctetString", cfg.modulation_dl),
        9: ("OctetString", cfg.modulation_ul),
        10: ("Integer", 1 if cfg.admin_up else 2),
        11: _gauge(cfg.capacity_bps("dl") / 1000),
        12: _gauge(cfg.capacity_bps("ul") / 1000),
        13: ("Integer", cfg.pci),
        14: ("OctetString", ",".join(cfg.plmns)),
    }
    prb_dl, prb_ul = cell.prb_used("dl"), cell.prb_used("ul")
    total = n_prb(cfg.bandwidth_mhz, cfg.scs_khz)
    pm_cols: dict[int, MibValue] = {
        1: ("Counter64", cell.downlink.bytes % 2**64),
        2: ("Counter64", cell.uplink.bytes % 2**64),
        3: _gauge(cell.thp_dl_kbps),
        4: _gauge(cell.thp_ul_kbps),
        5: _gauge(prb_dl),
        6: _gauge(prb_ul),
        7: _gauge(100 * prb_dl / total),
        8: _gauge(100 * prb_ul / total),
    }
    rows: dict[Oid, MibValue] = {}
    for col, value in config_cols.items():
        rows[(*SIM_CELL_ENTRY, col, cell_id)] = value
    for col, value in pm_cols.items():
        rows[(*SIM_PM_ENTRY, col, cell_id)] = value
    return rows


def snapshot(gnb: VirtualGnb) -> dict[Oid, MibValue]:
    """Every OID the virtual gNodeB answers, with its value right now."""
    ident = gnb.identity
    oids: dict[Oid, MibValue] = {
        (*SYSTEM, 1, 0): ("OctetString",
                          f"{ident.vendor} {ident.model} gNodeB, software {ident.firmware}"),
        (*SYSTEM, 2, 0): ("ObjectIdentifier", ".".join(map(str, SIM_GNB_PRODUCT))),
        (*SYSTEM, 3, 0): ("TimeTicks", gnb.uptime_ticks() % 2**32),
        (*SYSTEM, 4, 0): ("OctetString", ident.contact),
        (*SYSTEM, 5, 0): ("OctetString", ident.name),
        (*SYSTEM, 6, 0): ("OctetString", ident.location),
        (*SYSTEM, 7, 0): ("Integer", 72),
    }
    entity: dict[int, MibValue] = {
        2: ("OctetString", f"{ident.model} baseband unit"),
        5: ("Integer", 3),  # chassis
        7: ("OctetString", ident.name),
        8: ("OctetString", "A"),
        10: ("OctetString", ident.firmware),
        11: ("OctetString", ident.serial),
        12: ("OctetString", ident.vendor),
        13: ("OctetString", ident.model),
    }
    for col, value in entity.items():
        oids[(*ENT_PHYSICAL_ENTRY, col, 1)] = value
    for cell_id, cell in gnb.cells.items():
        oids.update(_cell_rows(cell_id, cell))
    return oids
