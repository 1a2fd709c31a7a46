"""The lab file: what is on the bench and how to reach it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from harness.config.types import (
    Duration,
    FieldError,
    Identifier,
    NonEmptyStr,
    Port,
    SecretStr,
    StrictModel,
)
from harness.errors import ConfigError

AuthProtocol = Literal["none", "MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
PrivProtocol = Literal["none", "DES", "3DES", "AES-128", "AES-192", "AES-256"]
SnmpVersion = Annotated[Literal["1", "2c", "3"], BeforeValidator(lambda v: str(v).lower())]
Role = Literal["gnodeb", "core", "ue-host", "dn-host"]
Direction = Literal["dl", "ul"]


class SnmpAuth(StrictModel):
    """SNMPv3 authentication: protocol and key (by reference)."""

    protocol: AuthProtocol = "SHA-256"
    key: SecretStr | None = None  # a simulated device gets a generated key when left out


class SnmpPriv(StrictModel):
    """SNMPv3 privacy (encryption): protocol and key (by reference)."""

    protocol: PrivProtocol = "AES-128"
    key: SecretStr | None = None  # a simulated device gets a generated key when left out


class SnmpSettings(StrictModel):
    """How to reach a device over SNMP; any field left out comes from `defaults.snmp`."""

    version: SnmpVersion | None = None
    port: Port | None = None
    community: SecretStr | None = None
    user: NonEmptyStr | None = None
    auth: SnmpAuth | None = None
    priv: SnmpPriv | None = None
    timeout: Duration | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None


class SshSettings(StrictModel):
    """How to reach a device over SSH; any field left out comes from `defaults.ssh`."""

    port: Port | None = None
    user: NonEmptyStr | None = None
    password: SecretStr | None = None
    key_file: NonEmptyStr | None = None
    host_key: Literal["verify", "accept-new", "ignore"] | None = None
    known_hosts: NonEmptyStr | None = None
    timeout: Duration | None = None


class Layers(StrictModel):
    """Maximum MIMO layers per direction."""

    dl: Annotated[int, Field(ge=1, le=8)] = 4
    ul: Annotated[int, Field(ge=1, le=4)] = 1


class Modulation(StrictModel):
    """Maximum modulation per direction."""

    dl: Literal["qpsk", "16qam", "64qam", "256qam"] = "256qam"
    ul: Literal["qpsk", "16qam", "64qam", "256qam"] = "64qam"


class CellSpec(StrictModel):
    """One NR cell of a simulated gNodeB."""

    id: Annotated[int, Field(ge=1, le=1024)]
    bandwidth_mhz: int = 100
    scs_khz: Literal[15, 30, 60] = 30
    tdd: Annotated[str, Field(pattern=r"^(FDD|[DSU]+)$")] = "DDDSU"
    special: Annotated[str, Field(pattern=r"^\d+:\d+:\d+$")] | None = "10:2:2"
    layers: Layers = Layers()
    modulation: Modulation = Modulation()
    plmns: list[Annotated[str, Field(pattern=r"^\d{3}-\d{2,3}$")]] = ["452-02"]
    pci: Annotated[int, Field(ge=0, le=1007)] = 1

    @model_validator(mode="after")
    def _valid_carrier(self) -> CellSpec:
        from harness.measure.peak import n_prb, tdd_share

        try:
            n_prb(self.bandwidth_mhz, self.scs_khz)
        except ConfigError as exc:
            raise FieldError(exc.reason, at=("bandwidth_mhz",)) from None
        try:
            tdd_share(self.tdd, self.special, "dl")
        except ConfigError as exc:
            raise FieldError(exc.reason, at=("tdd",)) from None
        return self


class SimulatedDevice(StrictModel):
    """Present on a device: the harness starts a virtual one for it."""

    cells: list[CellSpec] = [CellSpec(id=1)]
    serial: NonEmptyStr | None = None
    firmware: NonEmptyStr = "1.0.0"
    model: NonEmptyStr = "SimGNB-1"

    @model_validator(mode="after")
    def _unique_cells(self) -> SimulatedDevice:
        seen: set[int] = set()
        for i, cell in enumerate(self.cells):
            if cell.id in seen:
                raise FieldError(f"cell id {cell.id} appears twice", at=("cells", i, "id"))
            seen.add(cell.id)
        if not self.cells:
            raise FieldError("a simulated gNodeB needs at least one cell", at=("cells",))
        return self


class Device(StrictModel):
    """One thing on the bench: a gNodeB, a core, or a traffic host."""

    role: Role
    profile: NonEmptyStr | None = None
    host: NonEmptyStr = "127.0.0.1"
    snmp: SnmpSettings | None = None
    ssh: SshSettings | None = None
    connection: Literal["local"] = "local"
    traffic_port: Port | None = None
    simulated: SimulatedDevice | None = None

    @model_validator(mode="after")
    def _role_needs(self) -> Device:
        if self.role in ("gnodeb", "core") and self.profile is None:
            raise FieldError(f"a {self.role} needs a vendor profile (e.g. profile: sim-gnb)",
                             at=("profile",))
        if self.simulated is not None and self.role != "gnodeb":
            raise FieldError("only gnodeb devices can be simulated so far", at=("simulated",))
        if self.simulated is not None and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise FieldError("a simulated device listens on loopback: use host 127.0.0.1",
                             at=("host",))
        return self


class Defaults(StrictModel):
    """Settings every device inherits unless it says otherwise."""

    snmp: SnmpSettings = SnmpSettings()
    ssh: SshSettings = SshSettings()


class InfluxSettings(StrictModel):
    """Where to send samples besides the embedded store."""

    url: NonEmptyStr
    org: NonEmptyStr
    bucket: NonEmptyStr
    token: SecretStr


class Results(StrictModel):
    """Result sinks beyond the embedded SQLite store."""

    influxdb: InfluxSettings | None = None


class Lab(StrictModel):
    """The bench, as lab.yaml describes it."""

    name: Identifier
    site: dict[str, str] = {}
    defaults: Defaults = Defaults()
    devices: dict[Identifier, Device]
    results: Results = Results()

    @model_validator(mode="after")
    def _has_devices(self) -> Lab:
        if not self.devices:
            raise FieldError("the lab has no devices", at=("devices",))
        return self

    def by_role(self, role: str) -> dict[str, Device]:
        """Devices with one role, in file order."""
        return {name: dev for name, dev in self.devices.items() if dev.role == role}

    @property
    def simulated(self) -> bool:
        """True when any device is simulated."""
        return any(dev.simulated is not None for dev in self.devices.values())


def merged(default: StrictModel, override: StrictModel | None) -> dict[str, Any]:
    """Fields of `override` that were set, over those of `default`."""
    values = {k: v for k, v in default.__dict__.items() if v is not None}
    if override is not None:
        values.update({k: v for k, v in override.__dict__.items() if v is not None})
    return values
