"""SNMP transport: GET and subtree walks over pysnmp's asyncio engine, errors as exceptions.

The only module in `drivers/` that imports pysnmp. pysnmp reports failures as values
(errorIndication, errorStatus); this module turns them into `harness.errors` exceptions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from pyasn1.type import univ
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
    usm3DESEDEPrivProtocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto import errind, rfc1902, rfc1905

from harness.config.secrets import Secret
from harness.errors import AuthFailed, CommandFailed, ConfigError, DeviceUnreachable

__all__ = [
    "AUTH_PROTOCOLS",
    "PRIV_PROTOCOLS",
    "NoSuchValue",
    "SnmpTarget",
    "SnmpTransport",
    "SnmpV3User",
    "SnmpValue",
]


@dataclass(frozen=True)
class NoSuchValue:
    """The agent has no value for this OID (noSuchObject / noSuchInstance / endOfMibView)."""

    reason: str


SnmpValue = int | str | NoSuchValue

AUTH_PROTOCOLS: dict[str, Any] = {
    "none": usmNoAuthProtocol,
    "MD5": usmHMACMD5AuthProtocol,
    "SHA": usmHMACSHAAuthProtocol,
    "SHA-224": usmHMAC128SHA224AuthProtocol,
    "SHA-256": usmHMAC192SHA256AuthProtocol,
    "SHA-384": usmHMAC256SHA384AuthProtocol,
    "SHA-512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS: dict[str, Any] = {
    "none": usmNoPrivProtocol,
    "DES": usmDESPrivProtocol,
    "3DES": usm3DESEDEPrivProtocol,
    "AES-128": usmAesCfb128Protocol,
    "AES-192": usmAesCfb192Protocol,
    "AES-256": usmAesCfb256Protocol,
}

# Error indications that mean "the agent refused who we are", not "nobody answered".
_AUTH_INDICATIONS: tuple[type[Exception], ...] = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.AuthenticationError,
    errind.AuthenticationFailure,
    errind.UnsupportedSecurityLevel,
    errind.UnknownSecurityName,
    errind.UnknownCommunityName,
)
_OID_RE = re.compile(r"^\.?\d+(\.\d+)+$")
_MAX_WALK_VARBINDS = 1_000_000  # guard against an agent that never ends a subtree
_PRINTABLE_CONTROL = {"\t", "\n", "\r"}


@dataclass(frozen=True)
class SnmpV3User:
    """SNMPv3 USM credentials; protocol names as net-snmp spells them (SHA-256, AES-128)."""

    user: str
    auth_protocol: str
    auth_key: Secret | None
    priv_protocol: str
    priv_key: Secret | None


@dataclass(frozen=True)
class SnmpTarget:
    """Where and how to reach one device's SNMP agent."""

    host: str
    port: int = 161
    version: str = "2c"
    community: Secret | None = None
    v3: SnmpV3User | None = None
    timeout_s: float = 2.0
    retries: int = 1


def _norm_oid(oid: str) -> str:
    """A dotted numeric OID without the leading dot; ConfigError for anything else."""
    text = oid.strip()
    if not _OID_RE.match(text):
        raise ConfigError(
            f"{oid!r} is not a numeric OID: write it dotted, like 1.3.6.1.2.1.1.5.0 "
            "(MIB names are not resolved)"
        )
    return text.lstrip(".")


def _oid_tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in oid.split("."))


def _decode_octets(raw: bytes) -> str:
    """UTF-8 text when it is printable text, else `0x` + hex (MAC addresses, binary blobs)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()
    if any(ch < " " and ch not in _PRINTABLE_CONTROL for ch in text):
        return "0x" + raw.hex()
    return text


def convert_value(value: Any) -> SnmpValue:
    """A pysnmp/pyasn1 value as a plain Python value; missing values stay `NoSuchValue`."""
    if isinstance(value, rfc1905.NoSuchObject):
        return NoSuchValue("noSuchObject")
    if isinstance(value, rfc1905.NoSuchInstance):
        return NoSuchValue("noSuchInstance")
    if isinstance(value, rfc1905.EndOfMibView):
        return NoSuchValue("endOfMibView")
    if isinstance(value, univ.Null):
        return NoSuchValue("null")
    if isinstance(value, rfc1902.IpAddress):
        return ".".join(str(b) for b in bytes(value.asOctets()))
    if isinstance(value, rfc1902.Bits | rfc1902.Opaque):
        return "0x" + bytes(value.asOctets()).hex()
    if isinstance(value, univ.ObjectIdentifier):
        return ".".join(str(part) for part in value.asTuple())
    if isinstance(value, univ.OctetString):
        return _decode_octets(bytes(value.asOctets()))
    if isinstance(value, univ.Integer):
        return int(value)
    return NoSuchValue(f"unsupported type {type(value).__name__}")


class SnmpTransport:
    """One SNMP engine + transport per device, reused for all requests; lookupMib off."""

    def __init__(self, target: SnmpTarget, *, device: str) -> None:
        self._target = target
        self._device = device
        self._log = logging.LoggerAdapter(logging.getLogger(__name__), {"device": device})
        self._auth = self._build_auth(target)  # validates protocols and keys now, not later
        self._engine = SnmpEngine()
        self._udp: UdpTransportTarget | None = None
        self._closed = False

    # ---- configuration -------------------------------------------------------------
    def _build_auth(self, target: SnmpTarget) -> CommunityData | UsmUserData:
        if target.version in ("1", "2c"):
            if target.community is None:
                raise ConfigError(
                    f"device {self._device}: SNMP v{target.version} needs a community "
                    "(set snmp.community, e.g. \"${env:SNMP_COMMUNITY}\")"
                )
            model = 0 if target.version == "1" else 1
            return CommunityData(target.community.reveal(), mpModel=model)
        if target.version != "3":
            raise ConfigError(
                f"device {self._device}: SNMP version {target.version!r} is not supported: "
                "use \"1\", \"2c\" or \"3\""
            )
        user = target.v3
        if user is None:
            raise ConfigError(
                f"device {self._device}: SNMP v3 needs a user (snmp.user, snmp.auth, snmp.priv)"
            )
        auth_proto = _lookup(AUTH_PROTOCOLS, user.auth_protocol, "auth", self._device)
        priv_proto = _lookup(PRIV_PROTOCOLS, user.priv_protocol, "priv", self._device)
        auth_key = _key(user.auth_key, user.auth_protocol, "auth", self._device)
        priv_key = _key(user.priv_key, user.priv_protocol, "priv", self._device)
        if auth_key is None and priv_key is not None:
            raise ConfigError(
                f"device {self._device}: SNMPv3 privacy needs authentication too: "
                "set an auth protocol and key, or set priv protocol to none"
            )
        return UsmUserData(user.user, authKey=auth_key, privKey=priv_key,
                           authProtocol=auth_proto, privProtocol=priv_proto)

    def _where(self) -> str:
        t = self._target
        return f"device {self._device} ({t.host}:{t.port}, SNMP v{t.version})"

    async def _transport(self) -> UdpTransportTarget:
        if self._closed:
            raise DeviceUnreachable(f"{self._where()}: SNMP transport already closed")
        if self._udp is None:
            t = self._target
            try:
                self._udp = await UdpTransportTarget.create(
                    (t.host, t.port), timeout=t.timeout_s, retries=t.retries
                )
            except PySnmpError as exc:
                raise DeviceUnreachable(
                    f"{self._where()}: cannot resolve address {t.host!r} ({exc}): "
                    "check the host name in lab.yaml"
                ) from None
        return self._udp

    # ---- error mapping -------------------------------------------------------------
    def _raise_indication(self, indication: Any) -> NoReturn:
        if isinstance(indication, errind.RequestTimedOut):
            t = self._target
            hint = "check address, port, firewall and the community string"
            if t.version == "3":
                hint = ("check address, port, firewall and the v3 credentials "
                        "(a wrong privacy key also shows as a timeout)")
            raise DeviceUnreachable(
                f"{self._where()}: no SNMP response within {t.timeout_s:g}s "
                f"x {t.retries + 1} tries: {hint}"
            )
        if isinstance(indication, _AUTH_INDICATIONS):
            raise AuthFailed(
                f"{self._where()}: agent refused the credentials ({indication}): "
                "check the v3 user name, auth protocol/key and priv protocol/key "
                "against the device's USM configuration"
            )
        raise CommandFailed(f"{self._where()}: SNMP request failed: {indication}")

    def _raise_status(self, status: Any, index: Any, oids: Sequence[str]) -> NoReturn:
        idx = int(index)
        oid = oids[idx - 1] if 0 < idx <= len(oids) else "(whole request)"
        name = status.prettyPrint() if hasattr(status, "prettyPrint") else str(status)
        raise CommandFailed(
            f"{self._where()}: agent answered {name} for OID {oid}: "
            "check that the OID is right for this model and readable by this user"
        )

    # ---- requests ------------------------------------------------------------------
    async def _request(self, kind: str, oids: Sequence[str], max_rep: int = 0) -> list[Any]:
        udp = await self._transport()
        var_binds = [ObjectType(ObjectIdentity(o)) for o in oids]
        try:
            if kind == "get":
                result = await get_cmd(self._engine, self._auth, udp, ContextData(),
                                       *var_binds, lookupMib=False)
            elif kind == "next":
                result = await next_cmd(self._engine, self._auth, udp, ContextData(),
                                        *var_binds, lookupMib=False)
            else:
                result = await bulk_cmd(self._engine, self._auth, udp, ContextData(),
                                        0, max_rep, *var_binds, lookupMib=False)
        except PySnmpError as exc:
            raise CommandFailed(f"{self._where()}: SNMP request failed: {exc}") from None
        indication, status, index, answer = result
        if indication:
            self._raise_indication(indication)
        if status and int(status) != 0:
            if self._target.version == "1" and int(status) == 2:  # noSuchName
                raise _NoSuchName(int(index))
            self._raise_status(status, index, oids)
        return list(answer)

    async def get(self, oids: Sequence[str]) -> dict[str, SnmpValue]:
        """GET many OIDs in one PDU; keys are the requested dotted OIDs (no leading dot)."""
        wanted = [_norm_oid(o) for o in oids]
        out: dict[str, SnmpValue] = {}
        pending = list(dict.fromkeys(wanted))
        # v1 agents answer a missing OID with noSuchName for the whole PDU: drop it and
        # ask again, at most once per OID.
        for _ in range(len(pending) + 1):
            if not pending:
                break
            try:
                answer = await self._request("get", pending)
            except _NoSuchName as missing:
                if not 0 < missing.index <= len(pending):
                    self._raise_status("noSuchName", missing.index, pending)
                out[pending.pop(missing.index - 1)] = NoSuchValue("noSuchName")
                continue
            for oid, (_name, value) in zip(pending, answer, strict=False):
                out[oid] = convert_value(value)
            for oid in pending[len(answer):]:
                out[oid] = NoSuchValue("missing from response")
            pending = []
        return {oid: out[oid] for oid in wanted}

    async def walk(self, oid: str, *, max_repetitions: int = 25) -> dict[str, SnmpValue]:
        """All OIDs under `oid` in order: GETBULK (GETNEXT for v1), stopping at the subtree end."""
        root_text = _norm_oid(oid)
        root = _oid_tuple(root_text)
        out: dict[str, SnmpValue] = {}
        cursor_text, cursor = root_text, root
        while len(out) < _MAX_WALK_VARBINDS:
            try:
                if self._target.version == "1":
                    answer = await self._request("next", [cursor_text])
                else:
                    answer = await self._request("bulk", [cursor_text], max(1, max_repetitions))
            except _NoSuchName:
                return out  # v1 end of MIB view
            if not answer:
                return out
            for name, value in answer:
                current = tuple(name.asTuple())
                if isinstance(value, rfc1905.EndOfMibView) or current[: len(root)] != root:
                    return out
                if current <= cursor:
                    raise CommandFailed(
                        f"{self._where()}: agent returned OIDs out of order while walking "
                        f"{root_text} ({'.'.join(map(str, current))} after "
                        f"{'.'.join(map(str, cursor))}): the agent's MIB is broken"
                    )
                cursor = current
                cursor_text = ".".join(str(p) for p in current)
                out[cursor_text] = convert_value(value)
        raise CommandFailed(
            f"{self._where()}: walk of {root_text} returned more than "
            f"{_MAX_WALK_VARBINDS} values: narrow the subtree"
        )

    async def close(self) -> None:
        """Release the engine's socket; further requests raise DeviceUnreachable."""
        if self._closed:
            return
        self._closed = True
        try:
            self._engine.close_dispatcher()
        except PySnmpError as exc:  # closing twice or never opened: nothing to release
            self._log.debug("closing SNMP dispatcher: %s", exc)


class _NoSuchName(Exception):
    """Internal: a v1 agent answered noSuchName for the varbind at `index` (1-based)."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _lookup(table: dict[str, Any], name: str, kind: str, device: str) -> Any:
    for key, proto in table.items():
        if key.lower() == name.strip().lower():
            return proto
    raise ConfigError(
        f"device {device}: unknown SNMPv3 {kind} protocol {name!r}: "
        f"use one of {', '.join(table)}"
    )


def _key(secret: Secret | None, protocol: str, kind: str, device: str) -> str | None:
    if protocol.strip().lower() == "none":
        return None
    if secret is None:
        raise ConfigError(f"device {device}: SNMPv3 {kind} protocol {protocol} needs a key")
    value = secret.reveal()
    if len(value) < 8:
        raise ConfigError(
            f"device {device}: SNMPv3 {kind} key is shorter than 8 characters "
            "(RFC 3414 minimum): use a longer key"
        )
    return value
