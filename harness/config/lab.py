"""The lab file: what is on the bench and how to reach it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    WrapValidator,
    field_validator,
    model_validator,
)

from harness.base.schema import (
    Duration,
    FieldError,
    Identifier,
    NonEmptyStr,
    Port,
    SecretStr,
    StrictModel,
    at_least,
    check_http_url,
    secret_fields,
)
from harness.config.simulated import (
    Plmn,
    SimulatedCore,
    SimulatedDevice,
    SimulatedReplay,
    simulated_for_role,
)

AuthProtocol = Literal["none", "MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
# AES-192/AES-256 localise keys as net-snmp does (Blumenthal); the -C forms as Cisco (Reeder).
PrivProtocol = Literal["none", "DES", "3DES", "AES-128", "AES-192", "AES-256", "AES-192-C",
                       "AES-256-C"]
SnmpVersion = Annotated[Literal["1", "2c", "3"], BeforeValidator(lambda v: str(v).lower())]
Role = Literal["gnodeb", "core", "ue-host", "dn-host"]
Direction = Literal["dl", "ul"]


def _listen_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host.strip("[]") or any(c.isspace() for c in host):
        raise ValueError(f"expected HOST:PORT like '127.0.0.1:1162', got {value!r}")
    if not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected a port number from 1 to 65535 (0: any free port) after "
                         f"':', got {port!r}")
    return value


SnmpTimeout = Annotated[Duration, AfterValidator(at_least(0.05, "an SNMP request"))]
SshTimeout = Annotated[Duration, AfterValidator(at_least(1.0, "an SSH connection or command"))]


def _percent_text(value: object) -> object:
    """`5%` (or 5) → 5: a percentage given with or without its sign."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()[:-1].strip()
    return value


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
    timeout: SnmpTimeout | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    context: Annotated[str, Field(max_length=32)] | None = None  # SNMPv3 contextName
    max_varbinds: Annotated[int, Field(ge=1, le=256)] | None = None  # per PDU; larger GETs split
    max_in_flight: Annotated[int, Field(ge=1, le=64)] | None = None  # PDUs outstanding at once
    max_repetitions: Annotated[int, Field(ge=1, le=1000)] | None = None  # GETBULK, walks

    @model_validator(mode="after")
    def _context_needs_v3(self) -> SnmpSettings:
        if self.context and self.version in ("1", "2c"):
            raise FieldError("an SNMP context is an SNMPv3 setting: for v1/v2c the "
                             "community selects what the agent shows", at=("context",))
        return self


class JumpHost(StrictModel):
    """An SSH jump host (like OpenSSH's ProxyJump); fields left out come from the device's
    own SSH settings."""

    host: NonEmptyStr
    port: Port | None = None
    user: NonEmptyStr | None = None
    password: SecretStr | None = None
    key_file: NonEmptyStr | None = None
    agent: bool | None = None
    host_key: Literal["verify", "accept-new", "ignore"] | None = None
    known_hosts: NonEmptyStr | None = None


class SshSettings(StrictModel):
    """How to reach a device over SSH; any field left out comes from `defaults.ssh`."""

    port: Port | None = None
    user: NonEmptyStr | None = None
    password: SecretStr | None = None
    key_file: NonEmptyStr | None = None
    agent: bool | None = None  # offer the ssh-agent's keys ($SSH_AUTH_SOCK)
    host_key: Literal["verify", "accept-new", "ignore"] | None = None
    known_hosts: NonEmptyStr | None = None
    timeout: SshTimeout | None = None
    command_timeout: SshTimeout | None = None
    keepalive: Duration | None = None
    jump: JumpHost | None = None


class Device(StrictModel):
    """One thing on the bench: a gNodeB, a core, or a traffic host."""

    role: Role
    profile: NonEmptyStr | None = None
    host: NonEmptyStr = "127.0.0.1"
    snmp: SnmpSettings | None = None
    ssh: SshSettings | None = None
    connection: Literal["local", "ssh"] = "local"  # traffic hosts: run tools here or over SSH
    driver: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] | None = None
    traffic_port: Port | None = None
    irtt_port: Port | None = None  # dn-host: where its irtt server listens (free port if left out)
    plmn: Plmn | None = None  # ue-host's PLMN
    simulated: Annotated[SimulatedDevice | SimulatedCore | SimulatedReplay | None,
                         WrapValidator(simulated_for_role)] = None

    @model_validator(mode="after")
    def _role_needs(self) -> Device:
        if self.role in ("gnodeb", "core") and self.profile is None:
            raise FieldError(f"a {self.role} needs a vendor profile (e.g. profile: sim-gnb)",
                             at=("profile",))
        if self.simulated is not None and self.role not in ("gnodeb", "core"):
            raise FieldError("only gnodeb and core devices can be simulated",
                             at=("simulated",))
        if self.simulated is not None and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise FieldError("a simulated device listens on loopback: use host 127.0.0.1",
                             at=("host",))
        if self.connection == "ssh" and self.role not in ("ue-host", "dn-host"):
            raise FieldError("connection: ssh is for traffic hosts; a gnodeb or core is "
                             "reached by its ssh: settings", at=("connection",))
        if self.plmn is not None and self.role != "ue-host":
            raise FieldError("only a ue-host has a PLMN (the operator its UE belongs to)",
                             at=("plmn",))
        if self.irtt_port is not None and self.role != "dn-host":
            raise FieldError("only a dn-host has an irtt_port", at=("irtt_port",))
        return self


class Defaults(StrictModel):
    """Settings every device inherits unless it says otherwise."""

    snmp: SnmpSettings = SnmpSettings()
    ssh: SshSettings = SshSettings()


class InfluxSettings(StrictModel):
    """Where to send samples besides the embedded store."""

    url: Annotated[str, AfterValidator(check_http_url)]
    org: NonEmptyStr
    bucket: NonEmptyStr
    token: SecretStr


class Results(StrictModel):
    """Result sinks beyond the embedded SQLite store."""

    influxdb: InfluxSettings | None = None


class TrapUser(StrictModel):
    """An SNMPv3 user allowed to send traps/informs; traps need the sender's engine id."""

    user: NonEmptyStr
    auth: SnmpAuth | None = None
    priv: SnmpPriv | None = None
    engine_id: Annotated[str, Field(pattern=r"^(0x)?[0-9A-Fa-f]{10,64}$")] | None = None


class TrapSettings(StrictModel):
    """Where the harness listens for traps and informs, and which senders it accepts.

    Listens on loopback unless told otherwise (`listen: "192.0.2.5:162"`, or `0.0.0.0:162`
    for every interface). A trap counts only from a lab gNodeB's or core's address, with that
    device's SNMP community, one of `communities`, or as one of the v3 `users`."""

    listen: Annotated[str, AfterValidator(_listen_address)] = "127.0.0.1:162"
    communities: list[SecretStr] = []  # v1/v2c, besides each device's own community
    users: list[TrapUser] = []  # v3


class LabCrosscheck(StrictModel):
    """How closely this bench's gNodeB volume counters must agree with the UE side (a
    scenario's `monitors.crosscheck.tolerance` overrides it)."""

    tolerance: Annotated[float, BeforeValidator(_percent_text)]

    @field_validator("tolerance")
    @classmethod
    def _in_range(cls, value: float) -> float:
        if not 0 < value <= 100:
            raise ValueError(f"expected a percentage above 0 and at most 100 (e.g. 5%), "
                             f"got {value:g}")
        return value


class SigningSettings(StrictModel):
    """The Ed25519 key that signs each run's manifest, by reference (PEM PKCS#8 or a base64
    32-byte seed); left out, the lab's own key is generated on first use
    (`~/.config/ran-harness/keys/<lab>.key`)."""

    key: SecretStr


class Lab(StrictModel):
    """The bench, as lab.yaml describes it."""

    name: Identifier
    site: dict[str, str] = {}
    defaults: Defaults = Defaults()
    devices: dict[Identifier, Device]
    results: Results = Results()
    allow_inline_secrets: bool = False  # secrets written in the file itself (warned at run)
    allow_secret_files_anywhere: bool = False  # ${file:..} outside the lab's directory
    mibs: NonEmptyStr | None = None  # folder of vendor MIB files, relative to lab.yaml
    profiles: NonEmptyStr | None = None  # folder of the lab's own vendor profiles, likewise
    traps: TrapSettings | None = None
    crosscheck: LabCrosscheck | None = None  # UE/gNodeB cross-check tolerance of this bench
    signing: SigningSettings | None = None  # the run manifests' signing key (a secret)

    @field_validator("mibs", "profiles", mode="after")
    @classmethod
    def _mibs_folder(cls, value: str | None, info: ValidationInfo) -> str | None:
        base = (info.context or {}).get("base_dir") if value is not None else None
        return str(Path(str(base)) / value) if base is not None and value is not None else value

    @model_validator(mode="after")
    def _secret_policy(self) -> Lab:
        for path, secret in secret_fields(self):
            if secret.inline and not self.allow_inline_secrets:
                raise FieldError("inline secret (value not shown): give it by reference, "
                                 "'${env:NAME}' or '${file:PATH}', or set "
                                 "allow_inline_secrets: true at the top of the lab", at=path)
            if secret.outside_base() and not self.allow_secret_files_anywhere:
                raise FieldError(f"{secret.reference} is outside the lab's directory: keep "
                                 "secret files beside the lab (e.g. secrets/NAME), or set "
                                 "allow_secret_files_anywhere: true", at=path)
        return self

    @model_validator(mode="after")
    def _has_devices(self) -> Lab:
        if not self.devices:
            raise FieldError("the lab has no devices", at=("devices",))
        cores = [n for n, d in self.devices.items() if isinstance(d.simulated, SimulatedCore)]
        for name, dev in self.devices.items():
            if not isinstance(dev.simulated, SimulatedDevice):
                continue
            core = dev.simulated.core
            at = ("devices", name, "simulated", "core")
            if core is not None and core not in cores:
                raise FieldError(f"no simulated core named '{core}' in the lab (simulated "
                                 f"cores: {', '.join(cores) or 'none'})", at=at)
            if core is None and len(cores) > 1:
                raise FieldError(f"the lab has several simulated cores ({', '.join(cores)}): "
                                 "name the one this gNodeB attaches to", at=at[:-1])
        return self

    @model_validator(mode="after")
    def _context_with_v3(self) -> Lab:
        for name, dev in self.devices.items():
            snmp = merged(self.defaults.snmp, dev.snmp)
            if snmp.get("context") and snmp.get("version", "2c") != "3":
                where = ("devices", name, "snmp") if dev.snmp is not None else ("defaults",
                                                                                "snmp")
                raise FieldError(f"device {name}: an SNMP context is an SNMPv3 setting "
                                 f"(its version is {snmp.get('version', '2c')}): set "
                                 "version: 3 or drop the context", at=(*where, "context"))
        return self

    def by_role(self, role: str) -> dict[str, Device]:
        """Devices with one role, in file order."""
        return {name: dev for name, dev in self.devices.items() if dev.role == role}

    @property
    def simulated(self) -> bool:
        """True when any device is simulated."""
        return any(dev.simulated is not None for dev in self.devices.values())

    def core_of(self, gnb: str) -> str | None:
        """The simulated core a simulated gNodeB attaches to: the one it names, else the
        lab's only simulated core, else None."""
        sim = self.devices[gnb].simulated
        if not isinstance(sim, SimulatedDevice):
            return None
        cores = [n for n, d in self.devices.items() if isinstance(d.simulated, SimulatedCore)]
        return sim.core or (cores[0] if len(cores) == 1 else None)


def merged(default: StrictModel, override: StrictModel | None) -> dict[str, Any]:
    """Fields of `override` that were set, over those of `default`."""
    values = {k: v for k, v in default.__dict__.items() if v is not None}
    if override is not None:
        values.update({k: v for k, v in override.__dict__.items() if v is not None})
    return values
