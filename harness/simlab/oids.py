"""Object identifiers the virtual gNodeB serves and sends: its private arc and standard MIBs.

The private arc sits under enterprise 32473 (IANA's documentation number, RFC 5612) so it can
never be mistaken for a real vendor's; `mibs/RAN-HARNESS-SIM-MIB.txt` describes every object.
"""

from __future__ import annotations

Oid = tuple[int, ...]

# ---- standard MIBs
SYSTEM: Oid = (1, 3, 6, 1, 2, 1, 1)                       # SNMPv2-MIB system group
SYS_UPTIME_0: Oid = (*SYSTEM, 3, 0)
IF_NUMBER_0: Oid = (1, 3, 6, 1, 2, 1, 2, 1, 0)            # IF-MIB ifNumber.0
IF_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1)               # IF-MIB ifEntry
IF_X_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)         # IF-MIB ifXEntry
ENT_PHYSICAL_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1)
ENT_LAST_CHANGE_0: Oid = (1, 3, 6, 1, 2, 1, 47, 1, 4, 1, 0)
ENT_PHY_SENSOR_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 99, 1, 1, 1)  # ENTITY-SENSOR-MIB
HR_SYSTEM: Oid = (1, 3, 6, 1, 2, 1, 25, 1)                # HOST-RESOURCES-MIB hrSystem
HR_MEMORY_SIZE_0: Oid = (1, 3, 6, 1, 2, 1, 25, 2, 2, 0)
HR_STORAGE_TYPES: Oid = (1, 3, 6, 1, 2, 1, 25, 2, 1)
HR_STORAGE_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 25, 2, 3, 1)
HR_DEVICE_TYPES: Oid = (1, 3, 6, 1, 2, 1, 25, 3, 1)
HR_DEVICE_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 25, 3, 2, 1)
HR_PROCESSOR_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 25, 3, 3, 1)

SNMP_TRAP_OID_0: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
STANDARD_TRAPS: dict[str, Oid] = {
    "coldStart": (1, 3, 6, 1, 6, 3, 1, 1, 5, 1),
    "linkDown": (1, 3, 6, 1, 6, 3, 1, 1, 5, 3),
    "linkUp": (1, 3, 6, 1, 6, 3, 1, 1, 5, 4),
}

# ---- RAN-HARNESS-SIM-MIB: 1.3.6.1.4.1.32473.1
SIM: Oid = (1, 3, 6, 1, 4, 1, 32473, 1)
SIM_NOTIFICATIONS: Oid = (*SIM, 0)
SIM_GNB_PRODUCT: Oid = (*SIM, 1, 1)
SIM_CELL_ENTRY: Oid = (*SIM, 2, 1)
SIM_PM_ENTRY: Oid = (*SIM, 3, 1)
SIM_PLMN_PM_ENTRY: Oid = (*SIM, 4, 1)
SIM_FIRMWARE: Oid = (*SIM, 5)
SIM_ALARMS: Oid = (*SIM, 6)
SIM_ALARM_ACTIVE_COUNT_0: Oid = (*SIM_ALARMS, 1, 0)
SIM_ALARM_ENTRY: Oid = (*SIM_ALARMS, 2, 1)
SIM_NOTIF_OBJECTS: Oid = (*SIM_ALARMS, 3)
SIM_TRAP_TARGET_ENTRY: Oid = (*SIM, 7, 1)

SIM_TRAPS: dict[str, Oid] = {
    name: (*SIM_NOTIFICATIONS, number) for number, name in enumerate((
        "simCellDown", "simCellUp", "simLinkDown", "simLinkUp", "simHighTemperature",
        "simFirmwareInstallResult", "simExcessiveBler", "simAlarmRaised", "simAlarmCleared",
    ), start=1)
}

# Columns of simPmEntry (per cell). 1..8 are the walking skeleton's and never move.
PM_COLUMNS: dict[str, int] = {
    "DRB.PdcpSduVolumeDL": 1, "DRB.PdcpSduVolumeUL": 2, "DRB.UEThpDl": 3, "DRB.UEThpUl": 4,
    "RRU.PrbUsedDl": 5, "RRU.PrbUsedUl": 6, "RRU.PrbTotDl": 7, "RRU.PrbTotUl": 8,
    "RRU.PrbAvailDl": 9, "RRU.PrbAvailUl": 10, "RRC.ConnMean": 11, "RRC.ConnMax": 12,
    "DRB.PacketLossRateUl": 13, "DRB.PacketDropRateDl": 14, "TB.TotNbrDl": 15,
    "TB.ErrTotalNbrDl": 16, "TB.TotNbrUl": 17, "TB.ErrTotalNbrUl": 18,
}
# Columns of simPlmnPmEntry (per PLMN of a cell; INDEX simPlmnPmIndex, simCellId).
PLMN_PM_COLUMNS: dict[str, int] = {
    "plmnId": 2, "sharePercent": 3, "DRB.PdcpSduVolumeDL": 4, "DRB.PdcpSduVolumeUL": 5,
    "DRB.UEThpDl": 6, "DRB.UEThpUl": 7, "RRU.PrbUsedDl": 8, "RRU.PrbUsedUl": 9,
}

# IF-MIB ifIndex of the gNodeB's interfaces: management, N3 backhaul, then one per cell.
IF_MGMT = 1
IF_N3 = 2
IF_CELL_BASE = 100


def cell_if_index(cell_id: int) -> int:
    """ifIndex of a cell's radio interface."""
    return IF_CELL_BASE + cell_id


def dotted(oid: Oid) -> str:
    """`1.3.6...` text of an OID."""
    return ".".join(map(str, oid))

