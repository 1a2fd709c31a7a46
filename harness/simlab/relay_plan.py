"""Which relays a simulated gNodeB opens: one UE-side port per (PLMN, DN host, kind of traffic).

Each PLMN's traffic goes through the first cell that serves the PLMN, so with several PLMNs on a
cell (MOCN) every operator's UEs get their own relay and their own share of the cell. Each DN
host has two relayed ports: "traffic" (its iperf3 port) and "irtt" (its irtt port). A relay
port carries TCP and UDP, so it must be free for both.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.base.ports import free_dual_port
from harness.simlab.spec import SimCell, SimGnbSpec, SimRelay

KINDS = ("traffic", "irtt")


@dataclass(frozen=True)
class DnPorts:
    """Where a data-network host listens."""

    address: str
    traffic_port: int
    irtt_port: int

    def port(self, kind: str) -> int:
        """The port of one kind of traffic ("traffic" or "irtt")."""
        return self.irtt_port if kind == "irtt" else self.traffic_port


def plmn_cells(cells: list[SimCell]) -> dict[str, int]:
    """Each PLMN the gNodeB serves and the first cell serving it, in configuration order."""
    served: dict[str, int] = {}
    for cell in cells:
        for plmn in cell.plmns:
            served.setdefault(plmn, cell.id)
    return served


def plan_relays(host: str, cells: list[SimCell], dns: dict[str, DnPorts]) -> list[SimRelay]:
    """The relays of one gNodeB listening on `host`; the first PLMN's come first."""
    return [
        SimRelay(dn=dn, target_host=ports.address, target_port=ports.port(kind),
                 listen_port=free_dual_port(host), cell=cell, plmn=plmn, kind=kind)
        for plmn, cell in plmn_cells(cells).items()
        for dn, ports in dns.items()
        for kind in KINDS
    ]


def relay_table(gnb: SimGnbSpec) -> dict[tuple[str, str, str], tuple[str, int]]:
    """(DN host, PLMN, kind) → the UE-side address of the relay (PLMN None: the cell's first)."""
    cells = {c.id: c for c in gnb.cells}
    table: dict[tuple[str, str, str], tuple[str, int]] = {}
    for r in gnb.relays:
        plmn = r.plmn or cells[r.cell].plmns[0]
        table.setdefault((r.dn, plmn, r.kind), (gnb.host, r.listen_port))
    return table
