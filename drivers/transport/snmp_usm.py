"""SNMPv3 (USM) session on pysnmp's engine, driven through its rfc3413 command generators.

One engine, one UDP transport and one configured target per device, set up on first use; engine
id discovery and time synchronisation are pysnmp's. The hlapi layer (ObjectIdentity, LCD
bookkeeping, MIB lookups) is skipped: varbinds go in as numeric ObjectNames.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.error import PySnmpError
from pysnmp.proto import errind, rfc1902

from drivers.transport import snmp_ber as ber
from drivers.transport.snmp_check import check_reply
from drivers.transport.snmp_session import (
    BadAddress,
    Broken,
    Denied,
    Malformed,
    NoAnswer,
    Reply,
    RequestVarbinds,
)
from drivers.transport.snmp_target import SnmpV3User
from drivers.transport.snmp_values import SnmpValue, convert_value, to_pysnmp
from harness.base.errors import ConfigError
from harness.base.secrets import Secret

__all__ = ["AUTH_PROTOCOLS", "PRIV_PROTOCOLS", "Refusals", "UsmCredentials", "UsmSession",
           "usm_credentials"]

# Names as net-snmp spells them. net-snmp's AES-192/AES-256 localise keys the Blumenthal
# way (draft-blumenthal-aes-usm); the "-C" variants are the Reeder/Cisco key extension.
AUTH_PROTOCOLS: dict[str, Any] = {
    "none": config.USM_AUTH_NONE,
    "MD5": config.USM_AUTH_HMAC96_MD5,
    "SHA": config.USM_AUTH_HMAC96_SHA,
    "SHA-224": config.USM_AUTH_HMAC128_SHA224,
    "SHA-256": config.USM_AUTH_HMAC192_SHA256,
    "SHA-384": config.USM_AUTH_HMAC256_SHA384,
    "SHA-512": config.USM_AUTH_HMAC384_SHA512,
}
PRIV_PROTOCOLS: dict[str, Any] = {
    "none": config.USM_PRIV_NONE,
    "DES": config.USM_PRIV_CBC56_DES,
    "3DES": config.USM_PRIV_CBC168_3DES,
    "AES": config.USM_PRIV_CFB128_AES,
    "AES-128": config.USM_PRIV_CFB128_AES,
    "AES-192": config.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "AES-256": config.USM_PRIV_CFB256_AES_BLUMENTHAL,
    "AES-192-C": config.USM_PRIV_CFB192_AES,
    "AES-256-C": config.USM_PRIV_CFB256_AES,
}

_DENIED: tuple[type[Exception], ...] = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.AuthenticationError,
    errind.AuthenticationFailure,
    errind.UnsupportedSecurityLevel,
    errind.UnknownSecurityName,
    errind.UnknownEngineID,
    errind.NoSuchContext,
)
_TARGET, _PARAMS = "t", "p"
_REFUSAL_COUNTERS = (("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames"),
                     ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests"),
                     ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors"),
                     ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels"),
                     ("__SNMPv2-MIB", "snmpInASNParseErrs"))
_MAX_ARC = 2**32 - 1
# pysnmp reports a Response whose request-id or security data differ from the request's so.
_MISMATCH = ("badResponse", "dataMismatch")


class UsmCredentials:
    """Resolved USM settings: protocol service ids and revealed keys (never logged)."""

    def __init__(self, user: str, auth_protocol: Any, auth_key: str | None,
                 priv_protocol: Any, priv_key: str | None) -> None:
        self.user = user
        self.auth_protocol = auth_protocol
        self.auth_key = auth_key
        self.priv_protocol = priv_protocol
        self.priv_key = priv_key

    @property
    def level(self) -> str:
        """noAuthNoPriv, authNoPriv or authPriv."""
        if self.auth_key is None:
            return "noAuthNoPriv"
        return "authNoPriv" if self.priv_key is None else "authPriv"

    def __repr__(self) -> str:
        return f"UsmCredentials(user={self.user!r}, level={self.level}, keys=***)"


class UsmSession:
    """SNMPv3 requests through pysnmp's command generators; one engine per device."""

    def __init__(self, host: str, port: int, *, credentials: UsmCredentials, context: str,
                 timeout_s: float, retries: int) -> None:
        self._host, self._port = host, port
        self._creds = credentials
        self._context = rfc1902.OctetString(context.encode("utf-8"))
        self._timeout = timeout_s
        self._retries = retries
        self._engine: SnmpEngine | None = None
        self._opening = asyncio.Lock()
        self._pending: set[asyncio.Future[Any]] = set()
        self._names: dict[tuple[int, ...], Any] = {}
        self._rejected = 0
        self._refusals: Refusals | None = None

    async def _open(self) -> SnmpEngine:
        async with self._opening:
            if self._engine is not None:
                return self._engine
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(self._host, self._port, family=socket.AF_INET,
                                               type=socket.SOCK_DGRAM)
            except socket.gaierror as exc:
                raise BadAddress(str(exc)) from None
            address = (str(infos[0][4][0]), int(infos[0][4][1]))
            engine = SnmpEngine()
            c = self._creds
            try:
                config.add_v3_user(engine, c.user, c.auth_protocol, c.auth_key,
                                   c.priv_protocol, c.priv_key)
                config.add_target_parameters(engine, _PARAMS, c.user, c.level, 3)
                config.add_transport(engine, udp.DOMAIN_NAME,
                                     udp.UdpAsyncioTransport().open_client_mode())
                config.add_target_address(engine, _TARGET, udp.DOMAIN_NAME, address, _PARAMS,
                                          timeout=max(1, round(self._timeout * 100)),
                                          retryCount=self._retries)
            except PySnmpError as exc:
                raise Broken(f"cannot set up the SNMPv3 engine: {exc}") from None
            self._engine = engine
            self._refusals = Refusals(engine)
            return engine

    def _name(self, oid: tuple[int, ...]) -> Any:
        name = self._names.get(oid)
        if name is None:
            name = rfc1902.ObjectName(oid)
            if len(self._names) < 100_000:
                self._names[oid] = name
        return name

    async def request(self, pdu: int, varbinds: RequestVarbinds, *, non_repeaters: int = 0,
                      max_repetitions: int = 0) -> Reply:
        """Send one PDU through pysnmp and await its callback."""
        engine = self._engine or await self._open()
        null = rfc1902.Null("")
        vbs = [(self._name(oid), null if value is None else to_pysnmp(value))
               for oid, value in varbinds]
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(_engine: Any, _handle: Any, indication: Any, status: Any, index: Any,
                 answer: Any, _ctx: Any) -> None:
            if not waiter.done():
                waiter.set_result((indication, status, index, answer))

        self._pending.add(waiter)
        refused = self._refusals.total() if self._refusals is not None else 0
        try:
            if pdu == ber.GET:
                cmdgen.GetCommandGenerator().send_varbinds(
                    engine, _TARGET, None, self._context, vbs, done)
            elif pdu == ber.NEXT:
                cmdgen.NextCommandGeneratorSingleRun().send_varbinds(
                    engine, _TARGET, None, self._context, vbs, done)
            elif pdu == ber.BULK:
                cmdgen.BulkCommandGeneratorSingleRun().send_varbinds(
                    engine, _TARGET, None, self._context, non_repeaters, max_repetitions,
                    vbs, done)
            elif pdu == ber.SET:
                cmdgen.SetCommandGenerator().send_varbinds(
                    engine, _TARGET, None, self._context, vbs, done)
            else:
                raise Broken(f"PDU type 0x{pdu:02x} is not a request")
            indication, status, index, answer = await waiter
        except PySnmpError as exc:
            raise Broken(str(exc)) from None
        finally:
            self._pending.discard(waiter)
        if indication:
            if isinstance(indication, errind.RequestTimedOut):
                bad = (self._refusals.total() if self._refusals is not None else 0) - refused
                if bad > 0:
                    self._rejected += bad
                    raise Malformed(f"{bad} undecodable or unauthenticated repl"
                                    f"{'y' if bad == 1 else 'ies'} (wrong digest, broken BER) "
                                    "and no valid one")
                raise NoAnswer()
            if isinstance(indication, _DENIED):
                raise Denied(str(indication))
            if str(indication) in _MISMATCH:
                self._rejected += 1
                raise Malformed(f"a reply that does not match the request ({indication})")
            raise Broken(str(indication))
        reply = Reply(int(status), int(index),
                      [(_arcs(name), _checked(value)) for name, value in answer],
                      tuple(_ber_tag(value) for _name, value in answer))
        problem = check_reply(pdu, [oid for oid, _ in varbinds], reply.error_status,
                              reply.error_index, reply.varbinds, non_repeaters=non_repeaters,
                              max_repetitions=max_repetitions)
        if problem is not None:
            self._rejected += 1
            raise Malformed(problem)
        return reply

    @property
    def rejected(self) -> int:
        """Replies refused so far as malformed or not matching their request."""
        return self._rejected

    def close(self) -> None:
        """Release the engine's socket; waiting requests fail with `Broken`."""
        for waiter in self._pending:
            if not waiter.done():
                waiter.set_exception(Broken("SNMP session closed"))
        if self._engine is not None:
            with contextlib.suppress(PySnmpError):  # never opened: nothing to release
                self._engine.close_dispatcher()
            self._engine = None
            self._refusals = None


def _arcs(name: Any) -> tuple[int, ...]:
    oid = tuple(int(arc) for arc in name.asTuple())
    if any(arc > _MAX_ARC for arc in oid):
        raise Malformed("an OID sub-identifier above 2^32-1")
    return oid


def _ber_tag(value: Any) -> int:
    """The BER tag byte of a pyasn1 value (0x02 Integer32, 0x41 Counter32, 0x80 noSuchObject)."""
    tag = value.tagSet[0]
    return int(tag.tagClass) | int(tag.tagFormat) | int(tag.tagId)


def _checked(value: Any) -> SnmpValue:
    """A pyasn1 value as a plain one; pysnmp's types already range-check everything but OIDs."""
    converted = convert_value(value)
    if isinstance(value, univ.ObjectIdentifier):
        _arcs(value)
    return converted


class Refusals:
    """Messages pysnmp dropped as undecodable or unauthenticated so far: the sum of its parser
    and USM counters (not the engine-id/time-window reports of normal discovery). The counter
    objects are looked up once; reading them is then cheap enough for every request."""

    def __init__(self, engine: SnmpEngine) -> None:
        self._counters: list[Any] = []
        builder = engine.get_mib_builder()
        for module, name in _REFUSAL_COUNTERS:
            with contextlib.suppress(PySnmpError, AttributeError, ValueError):
                self._counters.append(builder.import_symbols(module, name)[0])

    def total(self) -> int:
        """The current sum of the counters."""
        return sum(int(counter.syntax) for counter in self._counters)


def usm_credentials(user: SnmpV3User, device: str) -> UsmCredentials:
    """The USM credentials of a lab's v3 user; ConfigError for an unknown protocol, a key
    shorter than RFC 3414's 8 characters, or privacy without authentication."""
    auth_proto = _lookup(AUTH_PROTOCOLS, user.auth_protocol, "auth", device)
    priv_proto = _lookup(PRIV_PROTOCOLS, user.priv_protocol, "priv", device)
    auth_key = _key(user.auth_key, user.auth_protocol, "auth", device)
    priv_key = _key(user.priv_key, user.priv_protocol, "priv", device)
    if auth_key is None and priv_key is not None:
        raise ConfigError(
            f"device {device}: SNMPv3 privacy needs authentication too: "
            "set an auth protocol and key, or set priv protocol to none"
        )
    return UsmCredentials(user.user, auth_proto, auth_key, priv_proto, priv_key)


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
