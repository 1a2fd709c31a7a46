"""The virtual core's MIB: system/entity objects plus the simulator's core arc.

The core's private objects sit under 1.3.6.1.4.1.32473.2 (enterprise 32473 is IANA's
documentation number, RFC 5612; .1 is the gNodeB arc). `mibs/RAN-HARNESS-SIM-CORE-MIB.txt`
describes them:

    .2.1.1        simCoreProduct (sysObjectID)
    .2.2.n.0      AMF scalars: registered UEs, RegInitReq, RegInitSucc, registered max,
                  deregistrations, connected gNodeBs
    .2.3.n.0      SMF scalars: PDU sessions, creation requests, successes, sessions max
    .2.4.n.0      UPF N3 totals: in/out octets, in/out packets (Counter64)
    .2.5.1.c.i    slice table, one row i per (PLMN, S-NSSAI)
    .2.6.1.c.i    N3 peer table, one row i per attached gNodeB
"""

from __future__ import annotations

from harness.simlab.core import VirtualCore
from harness.simlab.snmp_agent import MibValue

Oid = tuple[int, ...]

SYSTEM: Oid = (1, 3, 6, 1, 2, 1, 1)
ENT_PHYSICAL_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1)
SIM_CORE: Oid = (1, 3, 6, 1, 4, 1, 32473, 2)
SIM_CORE_PRODUCT: Oid = (*SIM_CORE, 1, 1)
SIM_AMF: Oid = (*SIM_CORE, 2)
SIM_SMF: Oid = (*SIM_CORE, 3)
SIM_UPF: Oid = (*SIM_CORE, 4)
SIM_SLICE_ENTRY: Oid = (*SIM_CORE, 5, 1)
SIM_N3_ENTRY: Oid = (*SIM_CORE, 6, 1)

_MAX32 = 2**32 - 1


def _gauge(value: int) -> MibValue:
    return ("Gauge32", max(0, min(_MAX32, value)))


def _c32(value: int) -> MibValue:
    return ("Counter32", value % 2**32)


def _c64(value: int) -> MibValue:
    return ("Counter64", value % 2**64)


def _snssai_parts(snssai: str) -> tuple[int, str]:
    sst, _, sd = snssai.partition("-")
    return int(sst), sd.upper()


def snapshot(core: VirtualCore) -> dict[Oid, MibValue]:
    """Every OID the virtual core answers, with its value right now."""
    ident = core.identity
    c = core.counters
    oids: dict[Oid, MibValue] = {
        (*SYSTEM, 1, 0): ("OctetString",
                          f"{ident.vendor} {ident.model} 5G core (AMF/SMF/UPF), "
                          f"software {ident.firmware}"),
        (*SYSTEM, 2, 0): ("ObjectIdentifier", ".".join(map(str, SIM_CORE_PRODUCT))),
        (*SYSTEM, 3, 0): ("TimeTicks", core.uptime_ticks() % 2**32),
        (*SYSTEM, 4, 0): ("OctetString", ident.contact),
        (*SYSTEM, 5, 0): ("OctetString", ident.name),
        (*SYSTEM, 6, 0): ("OctetString", ident.location),
        (*SYSTEM, 7, 0): ("Integer", 76),  # network + transport + application
    }
    entity: dict[int, MibValue] = {
        2: ("OctetString", f"{ident.model} 5G core"),
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
    with core.lock:
        registered, sessions = core.registered(), core.sessions()
        rows = core.slice_rows()
    amf: dict[int, MibValue] = {
        1: _gauge(registered), 2: _c32(c.reg_init_req), 3: _c32(c.reg_init_succ),
        4: _gauge(c.registered_max), 5: _c32(c.deregistrations), 6: _gauge(len(core.nodes)),
    }
    smf: dict[int, MibValue] = {
        1: _gauge(sessions), 2: _c32(c.pdu_req), 3: _c32(c.pdu_succ), 4: _gauge(c.sessions_max),
    }
    total = core.n3_totals()
    upf: dict[int, MibValue] = {
        1: _c64(total.in_octets), 2: _c64(total.out_octets),
        3: _c64(total.in_packets), 4: _c64(total.out_packets),
    }
    for base, columns in ((SIM_AMF, amf), (SIM_SMF, smf), (SIM_UPF, upf)):
        for col, value in columns.items():
            oids[(*base, col, 0)] = value
    for i, row in enumerate(rows, start=1):
        sst, sd = _snssai_parts(row.snssai)
        slice_cols: dict[int, MibValue] = {
            1: ("Integer", i), 2: ("OctetString", row.plmn), 3: ("OctetString", row.snssai),
            4: ("Integer", sst), 5: ("OctetString", sd), 6: _gauge(row.subscribers),
            7: _gauge(row.registered), 8: _gauge(row.sessions),
        }
        for col, value in slice_cols.items():
            oids[(*SIM_SLICE_ENTRY, col, i)] = value
    for i, peer in enumerate(core.n3_peers(), start=1):
        peer_cols: dict[int, MibValue] = {
            1: ("Integer", i), 2: ("OctetString", peer.name), 3: ("OctetString", peer.address),
            4: _c64(peer.in_octets), 5: _c64(peer.out_octets),
            6: _c64(peer.in_packets), 7: _c64(peer.out_packets),
        }
        for col, value in peer_cols.items():
            oids[(*SIM_N3_ENTRY, col, i)] = value
    return oids
