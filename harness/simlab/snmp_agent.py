"""The simulated equipment's SNMP agent: v2c and v3 authPriv, values computed live per request.

A pysnmp command responder whose MIB instrumentation answers from a provider snapshot
(taken once per PDU) instead of pysnmp's MIB tree, so counters move between requests.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.proto.api import v2c
from pysnmp.smi import error as smi_error
from pysnmp.smi import instrum

from harness.base.errors import ConfigError, HarnessError

__all__ = ["AgentCredentials", "MibProvider", "MibValue", "SnmpAgent", "make_value"]

MibValue = tuple[str, int | str]
MibProvider = Callable[[], Mapping[tuple[int, ...], MibValue]]
Oid = tuple[int, ...]

_AREA = "sim-area"
_READ_VIEW = (1, 3, 6)


@dataclass(frozen=True)
class AgentCredentials:
    """What the agent accepts: a v2c community and one v3 user (SHA-256 auth, AES-128 priv)."""

    community: str
    v3_user: str
    auth_key: str
    priv_key: str


def make_value(kind: str, value: int | str) -> Any:
    """A pysnmp value object for one `MibValue`; ValueError for an unknown type or bad value."""
    if kind == "Integer":
        return rfc1902.Integer32(int(value))
    if kind == "Counter32":
        return rfc1902.Counter32(int(value) & 0xFFFFFFFF)
    if kind == "Counter64":
        return rfc1902.Counter64(int(value) & 0xFFFFFFFFFFFFFFFF)
    if kind == "Gauge32":
        return rfc1902.Gauge32(min(max(int(value), 0), 0xFFFFFFFF))
    if kind == "TimeTicks":
        return rfc1902.TimeTicks(int(value) & 0xFFFFFFFF)
    if kind == "OctetString":
        raw = value.encode("utf-8") if isinstance(value, str) else str(value).encode()
        return rfc1902.OctetString(raw)
    if kind == "ObjectIdentifier":
        return rfc1902.ObjectIdentifier(str(value).lstrip("."))
    if kind == "HexString":  # binary OCTET STRING given as hex (MAC addresses, DateAndTime)
        return rfc1902.OctetString(hexValue=str(value))
    if kind == "IpAddress":
        return rfc1902.IpAddress(str(value))
    if kind == "Opaque":  # given as hex
        return rfc1902.Opaque(hexValue=str(value))
    raise ValueError(f"unknown SNMP value type {kind!r}")


class _Snapshot:
    """One provider snapshot with its sorted OID list (reused while the OID set is unchanged)."""

    def __init__(self) -> None:
        self.values: Mapping[Oid, MibValue] = {}
        self.keys: list[Oid] = []
        self.objects: frozenset[Oid] = frozenset()
        self._key_set: frozenset[Oid] = frozenset()

    def refresh(self, values: Mapping[Oid, MibValue]) -> None:
        self.values = values
        if values.keys() != self._key_set:
            self._key_set = frozenset(values.keys())
            self.keys = sorted(self._key_set)
            self.objects = frozenset(oid[:-1] for oid in self._key_set)


class _LiveMibController(instrum.AbstractMibInstrumController):  # type: ignore[misc]
    """Answers GET and GETNEXT from the current snapshot: exact lookup and bisect."""

    def __init__(self, snapshot: _Snapshot, log: logging.Logger) -> None:
        self._snap = snapshot
        self._log = log

    def _value(self, oid: Oid, idx: int) -> Any:
        kind, value = self._snap.values[oid]
        try:
            return make_value(kind, value)
        except (ValueError, TypeError) as exc:
            self._log.error("simulated MIB value at %s is bad: %s", ".".join(map(str, oid)), exc)
            raise smi_error.GenError(idx=idx) from None

    def read_variables(self, *var_binds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        """GET: the value, or noSuchInstance (a sibling instance exists) / noSuchObject."""
        out: list[tuple[Any, Any]] = []
        for idx, (name, _val) in enumerate(var_binds):
            oid = tuple(name)
            if oid in self._snap.values:
                out.append((name, self._value(oid, idx)))
            elif oid[:-1] in self._snap.objects:
                out.append((name, rfc1905.noSuchInstance))
            else:
                out.append((name, rfc1905.noSuchObject))
        return out

    def read_next_variables(self, *var_binds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        """GETNEXT: the first OID strictly after each requested one, or endOfMibView."""
        out: list[tuple[Any, Any]] = []
        keys = self._snap.keys
        for idx, (name, _val) in enumerate(var_binds):
            pos = bisect.bisect_right(keys, tuple(name))
            if pos >= len(keys):
                out.append((name, rfc1905.endOfMibView))
                continue
            nxt = keys[pos]
            out.append((rfc1902.ObjectName(nxt), self._value(nxt, idx)))
        return out

    def write_variables(self, *var_binds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        """SET: the simulated MIB is read-only."""
        raise smi_error.NotWritableError(idx=0)


class SnmpAgent:
    """A pysnmp SNMP agent (v2c community + v3 authPriv user) serving a live MIB provider."""

    def __init__(self, *, host: str, port: int, credentials: AgentCredentials,
                 provider: MibProvider, engine_id: bytes | None = None) -> None:
        for kind, key in (("auth", credentials.auth_key), ("priv", credentials.priv_key)):
            if len(key) < 8:
                raise ConfigError(
                    f"simulated SNMP agent {host}:{port}: v3 {kind} key must have at least "
                    "8 characters (RFC 3414)"
                )
        self.host = host
        self.port = port
        self.silent = False
        self.answer_errors = False
        """Fault injection: answer every request with genErr."""
        self._engine_id = engine_id
        self._credentials = credentials
        self._provider = provider
        self._log = logging.getLogger(f"{__name__}.{host}:{port}")
        self._snapshot = _Snapshot()
        self._engine: Any = None
        self._sock: socket.socket | None = None
        self._responders: list[Any] = []
        self.requests_seen = 0
        """PDUs that reached the responder (answered or, when silent, dropped)."""

    def _begin_pdu(self) -> bool:
        """Count the PDU, take a provider snapshot; False when the agent must stay silent."""
        self.requests_seen += 1
        if self.silent:
            return False
        if self.answer_errors:
            raise smi_error.GenError(idx=0)
        try:
            self._snapshot.refresh(self._provider())
        except Exception:
            self._log.exception("MIB provider failed; answering genErr")
            raise smi_error.GenError(idx=0) from None
        return True

    async def start(self) -> None:
        """Bind UDP host:port now (OSError becomes HarnessError) and serve on the running loop."""
        if self._engine is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise HarnessError(
                f"simulated SNMP agent cannot bind udp {self.host}:{self.port}: {exc.strerror}; "
                "choose another port in lab.yaml or stop whatever holds it"
            ) from None
        sock.setblocking(False)
        self._sock = sock
        creds = self._credentials
        snmp_engine = engine.SnmpEngine(
            snmpEngineID=None if self._engine_id is None else rfc1902.OctetString(self._engine_id))
        config.add_transport(snmp_engine, udp.DOMAIN_NAME,
                             udp.UdpAsyncioTransport().open_server_mode(sock=sock))
        config.add_v1_system(snmp_engine, _AREA, creds.community)
        config.add_vacm_user(snmp_engine, 2, _AREA, "noAuthNoPriv", _READ_VIEW)
        config.add_v3_user(snmp_engine, creds.v3_user,
                           config.USM_AUTH_HMAC192_SHA256, creds.auth_key,
                           config.USM_PRIV_CFB128_AES, creds.priv_key)
        config.add_vacm_user(snmp_engine, 3, creds.v3_user, "authPriv", _READ_VIEW)
        snmp_context = context.SnmpContext(snmp_engine)
        snmp_context.unregister_context_name(b"")
        snmp_context.register_context_name(b"", _LiveMibController(self._snapshot, self._log))
        self._responders = []
        for cls in (_LiveGet, _LiveNext, _LiveBulk, _ReadOnlySet):
            responder = cls(snmp_engine, snmp_context)
            responder.begin = self._begin_pdu
            self._responders.append(responder)
        self._engine = snmp_engine
        await asyncio.sleep(0)  # let the datagram endpoint attach to the bound socket

    async def stop(self) -> None:
        """Stop answering and release the UDP port."""
        snmp_engine, self._engine = self._engine, None
        if snmp_engine is None:
            return
        for responder in self._responders:
            responder.close(snmp_engine)
        self._responders = []
        snmp_engine.close_dispatcher()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        await asyncio.sleep(0)


class _SnapshotPerPdu:
    """Mixin: take the provider snapshot once per PDU, or drop the PDU when silent."""

    begin: Callable[[], bool]

    def handle_management_operation(self, snmp_engine: Any, state_reference: Any,
                                    context_name: Any, pdu: Any) -> None:
        if not self.begin():
            self.release_state_information(state_reference)  # type: ignore[attr-defined]
            return
        super().handle_management_operation(  # type: ignore[misc]
            snmp_engine, state_reference, context_name, pdu)


class _LiveGet(_SnapshotPerPdu, cmdrsp.GetCommandResponder):  # type: ignore[misc]
    """GET against the live snapshot."""


class _LiveNext(_SnapshotPerPdu, cmdrsp.NextCommandResponder):  # type: ignore[misc]
    """GETNEXT against the live snapshot."""


class _ReadOnlySet(_SnapshotPerPdu, cmdrsp.SetCommandResponder):  # type: ignore[misc]
    """SET is refused with notWritable, as a read-only agent should, instead of a timeout."""


class _LiveBulk(_SnapshotPerPdu, cmdrsp.BulkCommandResponder):  # type: ignore[misc]
    """GETBULK that stops repeating once a whole row is endOfMibView (RFC 3416 4.2.3)."""

    max_varbinds = 64

    def handle_management_operation(self, snmp_engine: Any, state_reference: Any,
                                    context_name: Any, pdu: Any) -> None:
        if not self.begin():
            self.release_state_information(state_reference)
            return
        request = list(v2c.apiPDU.get_varbinds(pdu))
        non_rep = min(max(int(v2c.apiBulkPDU.get_non_repeaters(pdu)), 0), len(request))
        repeaters = len(request) - non_rep
        reps = max(int(v2c.apiBulkPDU.get_max_repetitions(pdu)), 0)
        reps = min(reps, self.max_varbinds // repeaters) if repeaters else 0
        read_next = self.snmpContext.get_mib_instrum(context_name).read_next_variables
        answer = list(read_next(*request[:non_rep])) if non_rep else []
        row = request[non_rep:]
        for _ in range(reps):
            row = read_next(*row)
            answer.extend(row)
            if all(isinstance(value, rfc1905.EndOfMibView) for _name, value in row):
                break
        self.send_varbinds(snmp_engine, state_reference, 0, 0, answer)
        self.release_state_information(state_reference)
