"""The virtual gNodeB's MIB: system group, the simulator's private arc, and standard MIBs.

The private arc sits under enterprise 32473 (IANA's documentation number, RFC 5612) so it can
never be mistaken for a real vendor's; `mibs/RAN-HARNESS-SIM-MIB.txt` describes it: cells
(simCellTable), PM counters per cell and per PLMN (`harness.simlab.mib_pm`), firmware, the
active-alarm table and the trap targets. IF-MIB, ENTITY-MIB, ENTITY-SENSOR-MIB and
HOST-RESOURCES-MIB come from `harness.simlab.mib_std`.
"""

from __future__ import annotations

from harness.simlab.gnb import CellRuntime, VirtualGnb
from harness.simlab.mib_pm import gauge, pm_rows
from harness.simlab.mib_std import entity_mib, host_resources, if_mib
from harness.simlab.oids import (
    ENT_PHYSICAL_ENTRY,
    SIM,
    SIM_ALARM_ACTIVE_COUNT_0,
    SIM_ALARM_ENTRY,
    SIM_CELL_ENTRY,
    SIM_FIRMWARE,
    SIM_GNB_PRODUCT,
    SIM_PM_ENTRY,
    SIM_TRAP_TARGET_ENTRY,
    SYSTEM,
    Oid,
    dotted,
)
from harness.simlab.snmp_agent import MibValue

__all__ = ["ENT_PHYSICAL_ENTRY", "SIM", "SIM_CELL_ENTRY", "SIM_GNB_PRODUCT", "SIM_PM_ENTRY",
           "SYSTEM", "snapshot"]


def _cell_rows(gnb: VirtualGnb, cell_id: int, cell: CellRuntime) -> dict[Oid, MibValue]:
    cfg = cell.config
    up = gnb.mgmt.cell_oper_up(cell_id)
    cols: dict[int, MibValue] = {
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
        11: gauge(cfg.capacity_bps("dl") / 1000),
        12: gauge(cfg.capacity_bps("ul") / 1000),
        13: ("Integer", cfg.pci),
        14: ("OctetString", ",".join(cfg.plmns)),
        15: ("Integer", 1 if up else 2),
    }
    cols.update({16: gauge(cfg.quality * 1000), 17: gauge(cfg.bler * 1e6),
                 18: gauge(cfg.loss * 1e6), 19: gauge(cfg.core_delay_ms * 1000),
                 20: gauge(cfg.jitter_ms * 1000), 21: ("OctetString", cfg.band),
                 22: gauge(cfg.arfcn), 23: ("Integer", round(cfg.tx_power_dbm * 10))})
    rows = {(*SIM_CELL_ENTRY, col, cell_id): value for col, value in cols.items()}
    rows.update(pm_rows(gnb, cell_id, cell, up=up))
    return rows


def _management_rows(gnb: VirtualGnb) -> dict[Oid, MibValue]:
    mgmt = gnb.mgmt
    record = mgmt.last_install
    rows: dict[Oid, MibValue] = {
        (*SIM_FIRMWARE, 1, 0): ("OctetString", gnb.identity.firmware),
        (*SIM_FIRMWARE, 2, 0): ("OctetString", record.file if record else ""),
        (*SIM_FIRMWARE, 3, 0): ("OctetString", record.version if record else ""),
        (*SIM_FIRMWARE, 4, 0): ("Integer", int(record.result) if record else 1),
        (*SIM_FIRMWARE, 5, 0): ("OctetString", record.reason if record else ""),
        (*SIM_FIRMWARE, 6, 0): ("Counter32", mgmt.boot_count),
        (*SIM_FIRMWARE, 7, 0): gauge(mgmt.reboot_s * 1000),
    }
    alarms = mgmt.alarms.active()
    rows[SIM_ALARM_ACTIVE_COUNT_0] = gauge(len(alarms))
    for alarm in alarms:
        cols: dict[int, MibValue] = {
            2: ("Integer", int(alarm.severity)), 3: ("Integer", int(alarm.type)),
            4: ("OctetString", alarm.source), 5: ("OctetString", alarm.text),
            6: ("TimeTicks", alarm.raised_ticks % 2**32), 7: ("OctetString", alarm.raised_iso),
        }
        rows.update({(*SIM_ALARM_ENTRY, col, alarm.id): v for col, v in cols.items()})
    for index, target in enumerate(mgmt.trap_targets(), start=1):
        rows[(*SIM_TRAP_TARGET_ENTRY, 2, index)] = ("OctetString", target.host)
        rows[(*SIM_TRAP_TARGET_ENTRY, 3, index)] = gauge(target.port)
        rows[(*SIM_TRAP_TARGET_ENTRY, 4, index)] = ("Integer", 2 if target.version == "2c" else 3)
    return rows


def snapshot(gnb: VirtualGnb) -> dict[Oid, MibValue]:
    """Every OID the virtual gNodeB answers, with its value right now."""
    ident = gnb.identity
    oids: dict[Oid, MibValue] = {
        (*SYSTEM, 1, 0): ("OctetString",
                          f"{ident.vendor} {ident.model} gNodeB, software {ident.firmware}"),
        (*SYSTEM, 2, 0): ("ObjectIdentifier", dotted(SIM_GNB_PRODUCT)),
        (*SYSTEM, 3, 0): ("TimeTicks", gnb.uptime_ticks() % 2**32),
        (*SYSTEM, 4, 0): ("OctetString", ident.contact),
        (*SYSTEM, 5, 0): ("OctetString", ident.name),
        (*SYSTEM, 6, 0): ("OctetString", ident.location),
        (*SYSTEM, 7, 0): ("Integer", 72),
    }
    oids.update(if_mib(gnb))
    oids.update(entity_mib(gnb))
    oids.update(host_resources(gnb))
    for cell_id, cell in gnb.cells.items():
        oids.update(_cell_rows(gnb, cell_id, cell))
    oids.update(_management_rows(gnb))
    return oids
