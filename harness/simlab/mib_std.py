"""Standard MIBs of the virtual gNodeB: IF-MIB, ENTITY-MIB (+ ENTITY-SENSOR-MIB), HOST-RESOURCES.

Interfaces (ifIndex): 1 `mgmt0` (O&M Ethernet; octets estimated from the SNMP PDUs served),
2 `n3` (NG-U backhaul towards the UPF: in = every cell's downlink, out = every cell's uplink),
100 + cell id `cell<N>` (the radio interface: out = downlink, in = uplink). All user-plane
octet counters count the bytes the relay delivered (payload, no GTP-U/IP overhead), so they
agree with DRB.PdcpSduVolumeDL/UL; packet counters come from the relay (exact for UDP, TCP
segments estimated). ifOperStatus follows the cell's state and the N3 link.

Entities: 1 chassis, 2 baseband module, 3 power supply, 4 fan, 5 board temperature sensor,
100 + cell id radio unit, 200 + cell id its temperature sensor. CPU, memory and temperatures
come from `harness.simlab.health` (load-dependent).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from harness.simlab.health import MEMORY_KIB
from harness.simlab.mib_pm import counter64, gauge
from harness.simlab.oids import (
    ENT_LAST_CHANGE_0,
    ENT_PHY_SENSOR_ENTRY,
    ENT_PHYSICAL_ENTRY,
    HR_DEVICE_ENTRY,
    HR_DEVICE_TYPES,
    HR_MEMORY_SIZE_0,
    HR_PROCESSOR_ENTRY,
    HR_STORAGE_ENTRY,
    HR_STORAGE_TYPES,
    HR_SYSTEM,
    IF_ENTRY,
    IF_MGMT,
    IF_N3,
    IF_NUMBER_0,
    IF_X_ENTRY,
    SIM_GNB_PRODUCT,
    Oid,
    cell_if_index,
    dotted,
)
from harness.simlab.snmp_agent import MibValue

if TYPE_CHECKING:
    from harness.simlab.gnb import VirtualGnb

SENSOR_BOARD = 5
ZERO_DOT_ZERO = "0.0"
FLASH_BYTES = 4 * 1024**3
FLASH_SYSTEM_BYTES = 512 * 1024**2  # the two firmware banks
_PROCESSOR_BASE = 196608  # where net-snmp numbers processors in hrDeviceTable


def date_and_time(epoch: float) -> MibValue:
    """SNMPv2-TC DateAndTime (11 octets, UTC) as a HexString value."""
    t = time.gmtime(epoch)
    deci = int((epoch % 1) * 10)
    raw = bytes([t.tm_year >> 8, t.tm_year & 0xFF, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min,
                 t.tm_sec, deci, ord("+"), 0, 0])
    return ("HexString", raw.hex())


def _interface_rows(index: int, row: dict[str, Any]) -> dict[Oid, MibValue]:
    in_oct, out_oct = row["in"], row["out"]
    speed_bps = float(row["speed"])
    if_cols: dict[int, MibValue] = {
        1: ("Integer", index), 2: ("OctetString", row["descr"]), 3: ("Integer", row["type"]),
        4: ("Integer", row["mtu"]), 5: gauge(min(speed_bps, 2**32 - 1)),
        6: ("HexString", row.get("mac", "")), 7: ("Integer", 1 if row["admin"] else 2),
        8: ("Integer", 1 if row["oper"] else 2), 9: ("TimeTicks", row["last_change"]),
        10: ("Counter32", in_oct), 11: ("Counter32", row["in_pkts"]), 13: ("Counter32", 0),
        14: ("Counter32", row["in_discards"]), 15: ("Counter32", 0),
        16: ("Counter32", out_oct), 17: ("Counter32", row["out_pkts"]),
        19: ("Counter32", row["out_discards"]), 20: ("Counter32", 0),
    }
    x_cols: dict[int, MibValue] = {
        1: ("OctetString", row["name"]), 2: ("Counter32", 0), 3: ("Counter32", 0),
        4: ("Counter32", 0), 5: ("Counter32", 0), 6: counter64(in_oct),
        7: counter64(row["in_pkts"]), 8: counter64(0), 9: counter64(0), 10: counter64(out_oct),
        11: counter64(row["out_pkts"]), 12: counter64(0), 13: counter64(0), 14: ("Integer", 1),
        15: gauge(speed_bps / 1e6), 16: ("Integer", 2), 17: ("Integer", row["connector"]),
        18: ("OctetString", row.get("alias", "")), 19: ("TimeTicks", 0),
    }
    rows = {(*IF_ENTRY, col, index): v for col, v in if_cols.items()}
    rows.update({(*IF_X_ENTRY, col, index): v for col, v in x_cols.items()})
    return rows


def if_mib(gnb: VirtualGnb) -> dict[Oid, MibValue]:
    """IF-MIB ifNumber, ifTable and ifXTable."""
    mgmt = gnb.mgmt
    requests = mgmt.snmp_requests()
    cells = gnb.cells.values()
    n3_up = mgmt.link_up("n3")
    rows: dict[Oid, MibValue] = {IF_NUMBER_0: ("Integer", 2 + len(gnb.cells))}
    rows.update(_interface_rows(IF_MGMT, {
        "descr": "mgmt0: O&M Ethernet", "name": "mgmt0", "type": 6, "mtu": 1500, "speed": 1e9,
        "mac": "020000007ed9", "admin": True, "oper": True, "last_change": 0, "connector": 1,
        "in": requests * 96, "out": requests * 160, "in_pkts": requests, "out_pkts": requests,
        "in_discards": 0, "out_discards": 0,
    }))
    rows.update(_interface_rows(IF_N3, {
        "descr": "n3: NG-U backhaul (GTP-U towards the UPF)", "name": "n3", "type": 6,
        "mtu": 9000, "speed": 10e9, "mac": "020000007eda", "admin": True, "oper": n3_up,
        "last_change": mgmt.if_last_change.get(IF_N3, 0), "connector": 1,
        "in": sum(c.downlink.bytes for c in cells), "out": sum(c.uplink.bytes for c in cells),
        "in_pkts": sum(c.downlink.packets for c in cells),
        "out_pkts": sum(c.uplink.packets for c in cells),
        "in_discards": 0, "out_discards": 0,
    }))
    for cell_id, cell in gnb.cells.items():
        cfg = cell.config
        index = cell_if_index(cell_id)
        rows.update(_interface_rows(index, {
            "descr": f"cell{cell_id}: NR cell, {cfg.bandwidth_mhz} MHz, {cfg.scs_khz} kHz SCS, "
                     f"{cfg.tdd}", "name": f"cell{cell_id}", "type": 1, "mtu": 1500,
            "speed": cfg.capacity_bps("dl"), "admin": cfg.admin_up,
            "oper": mgmt.cell_oper_up(cell_id),
            "last_change": mgmt.if_last_change.get(index, 0), "connector": 2,
            "alias": f"PCI {cfg.pci}, PLMN {','.join(cfg.plmns)}",
            "in": cell.uplink.bytes, "out": cell.downlink.bytes,
            "in_pkts": cell.uplink.packets, "out_pkts": cell.downlink.packets,
            "in_discards": cell.uplink.drops, "out_discards": cell.downlink.drops,
        }))
    return rows


def _entity(index: int, cols: dict[int, MibValue]) -> dict[Oid, MibValue]:
    return {(*ENT_PHYSICAL_ENTRY, col, index): value for col, value in cols.items()}


def entity_mib(gnb: VirtualGnb) -> dict[Oid, MibValue]:
    """ENTITY-MIB entPhysicalTable and ENTITY-SENSOR-MIB entPhySensorTable."""
    ident = gnb.identity

    def part(descr: str, cls: int, parent: int, pos: int, name: str, serial: str = "",
             vendor_type: str = ZERO_DOT_ZERO, software: str = "", fru: bool = True
             ) -> dict[int, MibValue]:
        return {
            2: ("OctetString", descr), 3: ("ObjectIdentifier", vendor_type),
            4: ("Integer", parent), 5: ("Integer", cls), 6: ("Integer", pos),
            7: ("OctetString", name), 8: ("OctetString", "A"),
            9: ("OctetString", software and f"boot-{software}"), 10: ("OctetString", software),
            11: ("OctetString", serial), 12: ("OctetString", ident.vendor),
            13: ("OctetString", ident.model if cls == 3 else ""), 14: ("OctetString", ""),
            15: ("OctetString", ""), 16: ("Integer", 1 if fru else 2),
        }

    rows = _entity(1, part(f"{ident.model} gNodeB chassis", 3, 0, -1, ident.name,
                           ident.serial, dotted(SIM_GNB_PRODUCT), ident.firmware, fru=False))
    rows.update(_entity(2, part("baseband unit", 9, 1, 1, "BBU", f"{ident.serial}-BB",
                                software=ident.firmware)))
    rows.update(_entity(3, part("power supply", 6, 1, 2, "PSU", f"{ident.serial}-PS")))
    rows.update(_entity(4, part("fan tray", 7, 1, 3, "FAN", f"{ident.serial}-FN")))
    rows.update(_entity(SENSOR_BOARD, part("baseband board temperature", 8, 2, 1, "BBU-TEMP",
                                           fru=False)))
    ticks = gnb.uptime_ticks() % 2**32
    temps = gnb.mgmt.health.temperatures()
    sensors = {SENSOR_BOARD: temps["board"]}
    for cell_id in gnb.cells:
        unit, sensor = 100 + cell_id, 200 + cell_id
        rows.update(_entity(unit, part(f"radio unit of cell {cell_id}", 9, 1, 10 + cell_id,
                                       f"RU{cell_id}", f"{ident.serial}-RU{cell_id}",
                                       software=ident.firmware)))
        rows.update(_entity(sensor, part(f"radio unit {cell_id} temperature", 8, unit, 1,
                                         f"RU{cell_id}-TEMP", fru=False)))
        sensors[sensor] = temps.get(f"radio{cell_id}", temps["board"])
    rows[ENT_LAST_CHANGE_0] = ("TimeTicks", 0)
    for index, celsius in sensors.items():
        cols: dict[int, MibValue] = {
            1: ("Integer", 8), 2: ("Integer", 9), 3: ("Integer", 1),
            4: ("Integer", round(celsius * 10)), 5: ("Integer", 1),
            6: ("OctetString", "degrees C"), 7: ("TimeTicks", ticks), 8: gauge(1000),
        }
        rows.update({(*ENT_PHY_SENSOR_ENTRY, col, index): v for col, v in cols.items()})
    return rows


def host_resources(gnb: VirtualGnb) -> dict[Oid, MibValue]:
    """HOST-RESOURCES-MIB: system uptime/date/processes, memory and flash storage, CPU load."""
    health = gnb.mgmt.health
    flows = sum(gnb.mgmt.flow_count(c) or 0 for c in gnb.cells)
    rows: dict[Oid, MibValue] = {
        (*HR_SYSTEM, 1, 0): ("TimeTicks", gnb.uptime_ticks() % 2**32),
        (*HR_SYSTEM, 2, 0): date_and_time(time.time()),
        (*HR_SYSTEM, 5, 0): gauge(gnb.mgmt.ssh_sessions()),
        (*HR_SYSTEM, 6, 0): gauge(118 + flows),
        (*HR_SYSTEM, 7, 0): ("Integer", 0),
        HR_MEMORY_SIZE_0: ("Integer", MEMORY_KIB),
    }
    flash_used = FLASH_SYSTEM_BYTES + gnb.mgmt.flash_bytes()
    storage = {
        1: ("Physical memory", 2, 1024, MEMORY_KIB, health.memory_used_kib),
        2: ("Flash /flash", 9, 4096, FLASH_BYTES // 4096, flash_used / 4096),
    }
    for index, (descr, kind, unit, size, used) in storage.items():
        cols: dict[int, MibValue] = {
            1: ("Integer", index), 2: ("ObjectIdentifier", dotted((*HR_STORAGE_TYPES, kind))),
            3: ("OctetString", descr), 4: ("Integer", unit), 5: ("Integer", size),
            6: ("Integer", round(used)), 7: ("Counter32", 0),
        }
        rows.update({(*HR_STORAGE_ENTRY, col, index): v for col, v in cols.items()})
    for core, load in enumerate(health.cpu):
        index = _PROCESSOR_BASE + core
        device: dict[int, MibValue] = {
            1: ("Integer", index), 2: ("ObjectIdentifier", dotted((*HR_DEVICE_TYPES, 3))),
            3: ("OctetString", f"{gnb.identity.model} baseband CPU core {core}"),
            4: ("ObjectIdentifier", ZERO_DOT_ZERO), 5: ("Integer", 2), 6: ("Counter32", 0),
        }
        rows.update({(*HR_DEVICE_ENTRY, col, index): v for col, v in device.items()})
        rows[(*HR_PROCESSOR_ENTRY, 1, index)] = ("ObjectIdentifier", ZERO_DOT_ZERO)
        rows[(*HR_PROCESSOR_ENTRY, 2, index)] = ("Integer", max(0, min(100, round(load))))
    return rows


__all__ = ["date_and_time", "entity_mib", "host_resources", "if_mib"]
