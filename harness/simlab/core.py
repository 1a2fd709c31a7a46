"""State of a virtual 5G core: AMF registrations, SMF PDU sessions, UPF N3 GTP-U counters.

Subscribers register through the gNodeBs attached to the core: a UE registers (and opens one
PDU session on its slice) when some attached gNodeB has a cell up that serves the UE's PLMN,
and is deregistered when none does any more (cell down, cell outage, AMF fault). The UPF's N3
counters are fed by the gNodeB cells' relay directions, so they count the traffic the relays
really carried: uplink at the gNodeB is incoming at the UPF (GTP.InData*), downlink outgoing
(GTP.OutData*). Octets are the user payload the relay forwarded (GTP-U/UDP/IP encapsulation
not added). Packets are the relay's own count: one per UDP datagram, and for TCP
ceil(bytes / 1448) per forwarded chunk, 1448 being the TCP payload of a 1500-byte IPv4 packet
with the timestamp option.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.simlab.radio import TCP_SEGMENT_BYTES
from harness.simlab.relay import Direction

TCP_MSS = TCP_SEGMENT_BYTES
"""Payload of one 1500-byte IPv4 TCP packet (20 IP + 20 TCP + 12 timestamp option)."""

UE_POOL_START = ipaddress.IPv4Address("10.45.0.1")
"""First UE address handed out by the SMF (one per subscriber, in subscriber order)."""


@dataclass(frozen=True)
class CoreIdentity:
    """What the core says about itself."""

    name: str
    vendor: str = "ran-harness simulator"
    model: str = "SimCore-1"
    serial: str = "SIMC-0001"
    firmware: str = "1.0.0"
    location: str = "simulated lab"
    contact: str = "lab@example.invalid"


@dataclass(frozen=True)
class CorePlan:
    """The subscribers the core knows and the network it offers them."""

    plmns: tuple[str, ...] = ("452-02",)
    slices: tuple[str, ...] = ("1-000001",)
    subscribers: int = 10
    dnn: str = "internet"


def supi(plmn: str, index: int) -> str:
    """`imsi-` + MCC + MNC + MSIN, 15 digits (TS 23.003 §2.2); MSIN = subscriber number."""
    mcc, mnc = plmn.split("-")
    width = 15 - len(mcc) - len(mnc)
    return f"imsi-{mcc}{mnc}{index:0{width}d}"


@dataclass
class UeContext:
    """One subscriber as the AMF/SMF see it."""

    index: int
    supi: str
    plmn: str
    snssai: str
    address: str
    gnb: str | None = None  # serving gNodeB while registered
    session_id: int | None = None  # PDU session identity while a session is up
    teid: int = 0  # N3 uplink tunnel endpoint at the UPF

    @property
    def registered(self) -> bool:
        """Whether the UE is RM-REGISTERED."""
        return self.gnb is not None


@dataclass
class N3Peer:
    """One gNodeB's N3 interface as the UPF counts it (cumulative since the core started)."""

    name: str
    address: str
    in_octets: int = 0
    out_octets: int = 0
    in_packets: int = 0
    out_packets: int = 0
    taps: list[N3Tap] = field(default_factory=list)

    def sync(self) -> None:
        """Bring the packet counts up to date with the relays' own counts."""
        for tap in self.taps:
            tap.sync()


class N3Tap:
    """Hooked on one relay direction; adds what it carries to its peer's N3 counters."""

    def __init__(self, peer: N3Peer, direction: Direction, incoming: bool) -> None:
        self.peer = peer
        self.direction = direction
        self.incoming = incoming
        self._last_packets = direction.packets

    def __call__(self, nbytes: int) -> None:
        """Direction.on_bytes hook (called after the direction counted the packets)."""
        if self.incoming:
            self.peer.in_octets += nbytes
        else:
            self.peer.out_octets += nbytes
        self.sync()

    def sync(self) -> None:
        """Bring the packet counter up to the relay's count (a counter reset counts from 0)."""
        current = self.direction.packets
        delta = current - self._last_packets
        self._last_packets = current
        if delta < 0:
            delta = current
        if self.incoming:
            self.peer.in_packets += delta
        else:
            self.peer.out_packets += delta


@dataclass
class RanNode:
    """A gNodeB attached to the core: which PLMNs its cells serve right now, and its N3."""

    name: str
    serving: Callable[[], set[str]]
    peer: N3Peer


@dataclass(frozen=True)
class SliceRow:
    """Counts for one (PLMN, S-NSSAI) pair."""

    plmn: str
    snssai: str
    subscribers: int
    registered: int
    sessions: int


@dataclass
class CoreCounters:
    """Cumulative procedure counters (TS 28.552 names in comments)."""

    reg_init_req: int = 0  # RM.RegInitReq
    reg_init_succ: int = 0  # RM.RegInitSucc
    deregistrations: int = 0
    pdu_req: int = 0  # SM.PduSessionCreationReq
    pdu_succ: int = 0  # SM.PduSessionCreationSucc
    registered_max: int = 0  # RM.RegisteredSubNbrMax
    sessions_max: int = 0  # SM.SessionNbrMax


class VirtualCore:
    """A simulated 5G core; its CLI and SNMP agent read it, the lab's gNodeBs feed it."""

    def __init__(self, identity: CoreIdentity, plan: CorePlan) -> None:
        self.identity = identity
        self.plan = plan
        self.booted = time.monotonic()
        self.counters = CoreCounters()
        self.nodes: list[RanNode] = []
        self.amf_down = False
        # The CLI reads on SSH worker threads while the event loop registers UEs.
        self.lock = threading.Lock()
        self.ues: list[UeContext] = []
        n_plmn = len(plan.plmns)
        for i in range(plan.subscribers):
            plmn = plan.plmns[i % n_plmn]
            snssai = plan.slices[(i // n_plmn) % len(plan.slices)]
            self.ues.append(UeContext(index=i, supi=supi(plmn, i + 1), plmn=plmn, snssai=snssai,
                                      address=str(UE_POOL_START + i), teid=i + 1))

    def uptime_ticks(self) -> int:
        """sysUpTime in hundredths of a second."""
        return int((time.monotonic() - self.booted) * 100)

    def attach(self, name: str, address: str, serving: Callable[[], set[str]],
               cells: Sequence[tuple[Direction, Direction]]) -> N3Peer:
        """Attach a gNodeB: its cells' (uplink, downlink) directions feed the UPF's N3."""
        peer = N3Peer(name=name, address=address)
        for uplink, downlink in cells:
            for direction, incoming in ((uplink, True), (downlink, False)):
                tap = N3Tap(peer, direction, incoming)
                direction.on_bytes.append(tap)
                peer.taps.append(tap)
        self.nodes.append(RanNode(name=name, serving=serving, peer=peer))
        return peer

    def refresh(self) -> None:
        """Register UEs that gained coverage, deregister those that lost it."""
        serving = {node.name: node.serving() for node in self.nodes}
        with self.lock:
            for ue in self.ues:
                candidates = [] if self.amf_down else [
                    node.name for node in self.nodes if ue.plmn in serving[node.name]]
                if ue.gnb is not None and ue.gnb in candidates:
                    continue
                if ue.gnb is not None:
                    self._deregister(ue)
                if candidates:
                    self._register(ue, candidates[ue.index % len(candidates)])
            c = self.counters
            c.registered_max = max(c.registered_max, self.registered())
            c.sessions_max = max(c.sessions_max, self.sessions())

    def _register(self, ue: UeContext, gnb: str) -> None:
        c = self.counters
        c.reg_init_req += 1
        c.reg_init_succ += 1
        ue.gnb = gnb
        c.pdu_req += 1
        c.pdu_succ += 1
        ue.session_id = 1

    def _deregister(self, ue: UeContext) -> None:
        ue.gnb = None
        ue.session_id = None
        self.counters.deregistrations += 1

    def registered(self) -> int:
        """UEs in RM-REGISTERED now (RM.RegisteredSubNbrMean samples this)."""
        return sum(1 for ue in self.ues if ue.registered)

    def sessions(self) -> int:
        """PDU sessions up now (SM.SessionNbrMean samples this)."""
        return sum(1 for ue in self.ues if ue.session_id is not None)

    def slice_rows(self) -> list[SliceRow]:
        """Per (PLMN, S-NSSAI): configured subscribers, registered UEs, PDU sessions."""
        rows = []
        for plmn in self.plan.plmns:
            for snssai in self.plan.slices:
                ues = [u for u in self.ues if u.plmn == plmn and u.snssai == snssai]
                rows.append(SliceRow(plmn=plmn, snssai=snssai, subscribers=len(ues),
                                     registered=sum(1 for u in ues if u.registered),
                                     sessions=sum(1 for u in ues if u.session_id is not None)))
        return rows

    def n3_peers(self) -> list[N3Peer]:
        """Every gNodeB's N3 counters, synced with the relays' packet counts."""
        peers = [node.peer for node in self.nodes]
        for peer in peers:
            peer.sync()
        return peers

    def n3_totals(self) -> N3Peer:
        """The UPF's N3 counters summed over every gNodeB."""
        total = N3Peer(name="total", address="")
        for peer in self.n3_peers():
            total.in_octets += peer.in_octets
            total.out_octets += peer.out_octets
            total.in_packets += peer.in_packets
            total.out_packets += peer.out_packets
        return total
