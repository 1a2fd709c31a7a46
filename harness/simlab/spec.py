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
    band: str = "n78"
    arfcn: int = 636666
    tx_power_dbm: float = 43.0
    quality: float = 1.0
    bler: float = 0.0
    loss: float = 0.0
    core_delay_ms: float = 1.0
    jitter_ms: float = 0.0
    plmn_shares: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SimRelay:
    """One UE-side port (TCP and UDP) forwarding to a data-network endpoint through a cell.

    `plmn` is the PLMN whose share of the cell the traffic uses (None: the cell's first);
    `kind` says which of the DN host's ports it reaches: "traffic" (iperf3) or "irtt".
    """

    dn: str
    target_host: str
    target_port: int
    listen_port: int
    cell: int
    plmn: str | None = None
    kind: str = "traffic"


@dataclass(frozen=True)
class SimTrapTarget:
    """Where a virtual gNodeB sends its traps: host, UDP port, SNMP version ("2c" or "3")."""

    host: str
    port: int = 162
    version: str = "2c"


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
    core: str | None = None  # the simulated core whose UPF carries this gNodeB's N3 traffic
    trap_targets: list[SimTrapTarget] = field(default_factory=list)
    reboot_s: float = 3.0  # how long SNMP and SSH stay away when the gNodeB reboots
    pm_granularity_s: float | None = None  # writes TS 32.435 PM files this often (None: no)
    pm_suspect: bool = False  # every PM file period is marked suspect (lab pm_files.suspect)


@dataclass(frozen=True)
class SimCoreSpec:
    """One virtual 5G core (AMF/SMF/UPF) to start."""

    name: str
    host: str
    snmp_port: int
    ssh_port: int
    credentials: SimCredentials
    plmns: list[str]
    slices: list[str]
    subscribers: int
    dnn: str
    serial: str
    firmware: str
    model: str


@dataclass(frozen=True)
class SimLabSpec:
    """The whole simulated lab."""

    gnbs: list[SimGnbSpec] = field(default_factory=list)
    state_dir: str = ""
    cores: list[SimCoreSpec] = field(default_factory=list)
    detached: bool = False  # outlives its parent (`harness sim up`); else ends when it dies

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
                core=g.get("core"),
                trap_targets=[SimTrapTarget(**t) for t in g.get("trap_targets", [])],
                reboot_s=g.get("reboot_s", 3.0),
                pm_granularity_s=g.get("pm_granularity_s"),
                pm_suspect=g.get("pm_suspect", False),
            ))
        cores = [SimCoreSpec(**{**c, "credentials": SimCredentials(**c["credentials"])})
                 for c in data.get("cores", [])]
        return cls(gnbs=gnbs, state_dir=data.get("state_dir", ""), cores=cores,
                   detached=bool(data.get("detached", False)))
