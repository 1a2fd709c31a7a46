"""What the harness hands a simulated-lab process, and what the process reports back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SimCredentials:
    """Credentials the virtual device accepts (revealed values: travel only over a pipe)."""

    community: str
    v3_user: str
    auth_key: str
    priv_key: str
    ssh_user: str
    ssh_password: str


@dataclass(frozen=True)
class SimCell:
    """A cell as lab.yaml configures it."""

    id: int
    bandwidth_mhz: int
    scs_khz: int
    tdd: str
    special: str | None
    layers_dl: int
    layers_ul: int
    modulation_dl: str
    modulation_ul: str
    plmns: list[str]
    pci: int


@dataclass(frozen=True)
class SimRelay:
    """One UE-side listener forwarding to a data-network endpoint through a cell."""

    dn: str
    target_host: str
    target_port: int
    listen_port: int
    cell: int


@dataclass(frozen=True)
class SimGnbSpec:
    """One virtual gNodeB to start."""

    name: str
    host: str
    snmp_port: int
    ssh_port: int
    credentials: SimCredentials
    cells: list[SimCell]
    relays: list[SimRelay]
    serial: str
    firmware: str
    model: str


@dataclass(frozen=True)
class SimLabSpec:
    """The whole simulated lab."""

    gnbs: list[SimGnbSpec] = field(default_factory=list)
    state_dir: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimLabSpec:
        gnbs = []
        for g in data["gnbs"]:
            gnbs.append(SimGnbSpec(
                name=g["name"], host=g["host"], snmp_port=g["snmp_port"], ssh_port=g["ssh_port"],
                credentials=SimCredentials(**g["credentials"]),
                cells=[SimCell(**c) for c in g["cells"]],
                relays=[SimRelay(**r) for r in g["relays"]],
                serial=g["serial"], firmware=g["firmware"], model=g["model"],
            ))
        return cls(gnbs=gnbs, state_dir=data.get("state_dir", ""))
