"""Trap and inform receiver: SNMPv1/v2c through our BER codec, SNMPv3 through pysnmp's USM.

One UDP socket. v1/v2c datagrams are decoded right in the socket callback (tens of
microseconds each, so a burst of thousands keeps up) and informs are acknowledged by echoing
them as a Response. v3 datagrams are fed to a pysnmp engine configured with the lab's USM
users, whose replies (inform acks, discovery reports) go back through the same socket. Every
notification becomes a `Trap`, handed to a callback and to `queue`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
from pysnmp.carrier.base import AbstractTransport
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.error import PySnmpError
from pysnmp.proto import rfc1902

from drivers.transport import snmp_ber as ber
from drivers.transport.snmp_usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS, Refusals
from drivers.transport.snmp_values import SnmpValue, convert_value, oid_text
from harness.base.errors import ConfigError, DeviceUnreachable
from harness.base.secrets import Secret

__all__ = ["Trap", "TrapReceiver", "TrapUser"]

_SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
_SYS_UPTIME_T = (1, 3, 6, 1, 2, 1, 1, 3, 0)
_TRAP_OID_T = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
_TIMETICKS_TAG, _OID_TAG = 0x43, 0x06
_TRAP_ENTERPRISE = "1.3.6.1.6.3.1.1.4.3.0"
_GENERIC_TRAPS = "1.3.6.1.6.3.1.1.5"  # RFC 3584 §3.1: coldStart.1 … linkUp.4, egpNeighborLoss.6
_RCVBUF = 8 * 1024 * 1024
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux; root may exceed rmem_max


@dataclass(frozen=True)
class Trap:
    """One notification as received: who sent it, which, and its other varbinds."""

    time: float  # Unix seconds at reception
    source: str  # sender IP address
    port: int
    version: str  # "1", "2c" or "3"
    inform: bool
    trap_oid: str
    uptime: int | None  # the sender's sysUpTime.0 (1/100 s) in the notification
    varbinds: dict[str, SnmpValue] = field(default_factory=dict)
    user: str = ""  # the v3 security name; empty for v1/v2c (communities are never kept)


@dataclass(frozen=True)
class TrapUser:
    """A USM user allowed to send v3 notifications. For traps (not informs) the sender is the
    authoritative engine: give its engine id in hex (net-snmp: `snmptrap -e 0x80…`)."""

    user: str
    auth_protocol: str = "none"
    auth_key: Secret | None = None
    priv_protocol: str = "none"
    priv_key: Secret | None = None
    engine_id: str | None = None


class _FeedTransport(AbstractTransport):  # type: ignore[misc]
    """A pysnmp transport that does no I/O: we feed it datagrams and it replies via `send`."""

    PROTO_TRANSPORT_DISPATCHER = AsyncioDispatcher
    ADDRESS_TYPE = udp.UdpTransportAddress

    def __init__(self, send: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._send = send

    def feed(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._callback_function is not None:
            self._callback_function(self, udp.UdpTransportAddress(addr), data)

    def send_message(self, outgoingMessage: Any, transportAddress: Any) -> None:
        self._send(bytes(outgoingMessage), (str(transportAddress[0]), int(transportAddress[1])))


class TrapReceiver(asyncio.DatagramProtocol):
    """Listens for traps and informs; only authenticated, well-formed ones become `Trap`s.

    A v1/v2c notification is accepted when its community is one of `communities` or of its
    sender's own in `sources`; a v3 one when pysnmp's USM accepts its user and keys. With
    `sources` given, only those sender addresses are accepted at all. Everything refused is
    counted in `rejected` and `rejections` (by reason) and reported to `on_reject`: a forged or
    malformed trap is never delivered, so it can never be taken for an alarm.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 162, *,
                 communities: Sequence[Secret] = (), users: Sequence[TrapUser] = (),
                 sources: Mapping[str, Sequence[Secret]] | None = None,
                 on_trap: Callable[[Trap], None] | None = None,
                 on_reject: Callable[[str, str], None] | None = None,
                 queue_size: int = 100_000) -> None:
        self._listen = (host, port)
        self._communities = [c.reveal().encode("utf-8") for c in communities]
        self._sources = None if sources is None else {
            address: [c.reveal().encode("utf-8") for c in own]
            for address, own in sources.items()}
        self._users = list(users)
        self._on_trap = on_trap
        self._on_reject = on_reject
        self.queue: asyncio.Queue[Trap] = asyncio.Queue(queue_size)
        self.received = 0
        self.rejected = 0  # unknown sender, wrong community, malformed, or refused by USM
        self.rejections: collections.Counter[str] = collections.Counter()
        self.dropped = 0  # the queue was full
        self._udp: asyncio.DatagramTransport | None = None
        self._engine: SnmpEngine | None = None
        self._refusals: Refusals | None = None
        self._feed: _FeedTransport | None = None
        self._log = logging.getLogger(__name__)
        for user in self._users:  # protocol names and keys checked now, not on first trap
            _usm_args(user)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the real port when started with port 0."""
        if self._udp is None:
            return self._listen
        host, port = self._udp.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def start(self) -> tuple[str, int]:
        """Bind the socket (enlarging its receive buffer for bursts) and set up USM."""
        loop = asyncio.get_running_loop()
        try:
            await loop.create_datagram_endpoint(lambda: self, local_addr=self._listen)
        except OSError as exc:
            raise DeviceUnreachable(
                f"cannot listen for traps on {self._listen[0]}:{self._listen[1]}/udp ({exc}): "
                "pick a free port in lab.yaml (traps.listen); ports below 1024 need root"
            ) from None
        sock = self._udp.get_extra_info("socket") if self._udp is not None else None
        if sock is not None:
            for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, _RCVBUF)
                    break
        if self._users:
            self._engine = self._usm_engine()
        return self.address

    def _usm_engine(self) -> SnmpEngine:
        engine = SnmpEngine()
        self._feed = _FeedTransport(self._reply)
        try:
            config.add_transport(engine, udp.DOMAIN_NAME, self._feed)
            for user in self._users:
                config.add_v3_user(engine, user.user, *_usm_args(user))
                if user.engine_id is not None:  # traps: keys localised to the sender's engine
                    engine_id = rfc1902.OctetString(hexValue=user.engine_id.removeprefix("0x"))
                    config.add_v3_user(engine, user.user, *_usm_args(user),
                                       securityEngineId=engine_id)
            ntfrcv.NotificationReceiver(engine, self._v3_notification)
        except PySnmpError as exc:
            raise ConfigError(f"trap receiver: cannot set up SNMPv3 users: {exc}") from None
        return engine

    # ---- asyncio protocol ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._udp = cast(asyncio.DatagramTransport, transport)

    def _reject(self, reason: str, host: str) -> None:
        self.rejected += 1
        self.rejections[reason] += 1
        self._log.debug("notification from %s refused: %s", host, reason)
        if self._on_reject is not None:
            self._on_reject(reason, host)

    def _known(self, host: str) -> bool:
        return self._sources is None or host in self._sources

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        host, port = str(addr[0]), int(addr[1])
        if not self._known(host):
            self._reject("unknown sender address", host)
            return
        try:
            version = ber.message_version(data)
        except ber.BerError:
            self._reject("malformed", host)
            return
        if version == 3:
            self._feed_v3(data, host, port)
            return
        try:
            msg = ber.decode_message(data, with_tags=True)
        except ber.BerError:
            self._reject("malformed", host)
            return
        own = self._sources.get(host, []) if self._sources is not None else []
        if not any(hmac.compare_digest(msg.community, c) for c in (*self._communities, *own)):
            self._reject("wrong community", host)
            return
        if msg.pdu not in (ber.TRAP_V2, ber.INFORM, ber.TRAP_V1):
            self._reject("not a notification", host)
            return
        if msg.pdu != ber.TRAP_V1 and not _v2_header_ok(msg):
            self._reject("malformed", host)  # RFC 3416 §4.2.6: sysUpTime.0, snmpTrapOID.0
            return
        if msg.pdu == ber.INFORM and self._udp is not None:
            self._udp.sendto(ber.response_to(data), (host, port))
        self._deliver(_trap_from_message(msg, host, port))

    def _feed_v3(self, data: bytes, host: str, port: int) -> None:
        if self._feed is None or self._engine is None:
            self._reject("SNMPv3 refused (no v3 users configured)", host)
            return
        refusals = self._refusals or Refusals(self._engine)
        self._refusals = refusals
        before = refusals.total()
        try:
            self._feed.feed(data, (host, port))
        except PySnmpError:
            self._reject("SNMPv3 refused", host)
            return
        if refusals.total() > before:
            self._reject("SNMPv3 refused (unknown user, wrong key or undecodable)", host)

    def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._udp is not None:
            self._udp.sendto(data, addr)

    def _v3_notification(self, engine: Any, state: Any, _ctx_engine: Any, _ctx_name: Any,
                         varbinds: Any, _cb: Any) -> None:
        context = engine.observer.get_execution_context("rfc3412.receiveMessage:request")
        address = context.get("transportAddress") or ("", 0)
        pdu = context.get("pdu")
        inform = pdu is not None and pdu.tagSet == _INFORM_TAG
        host = str(address[0])
        if not self._known(host):  # checked before pysnmp too; kept for a direct feed
            self._reject("unknown sender address", host)
            return
        binds = list(varbinds)
        if (len(binds) < 2 or tuple(binds[0][0]) != _SYS_UPTIME_T
                or tuple(binds[1][0]) != _TRAP_OID_T
                or not isinstance(binds[1][1], univ.ObjectIdentifier)):
            self._reject("malformed", host)
            return
        pairs = [(oid_text(tuple(name.asTuple())), convert_value(value)) for name, value in binds]
        self._deliver(_trap(pairs, host, int(address[1]), "3", inform,
                            user=str(context.get("securityName", ""))))

    def _deliver(self, trap: Trap) -> None:
        self.received += 1
        if self._on_trap is not None:
            self._on_trap(trap)
        try:
            self.queue.put_nowait(trap)
        except asyncio.QueueFull:
            self.dropped += 1

    async def close(self) -> None:
        """Stop listening and release the v3 engine."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._engine is not None:
            with contextlib.suppress(PySnmpError):
                self._engine.close_dispatcher()
            self._engine = None
            self._refusals = None


def _usm_args(user: TrapUser) -> tuple[Any, str | None, Any, str | None]:
    def pick(table: dict[str, Any], name: str, kind: str) -> Any:
        for key, proto in table.items():
            if key.lower() == name.strip().lower():
                return proto
        raise ConfigError(f"trap user {user.user}: unknown {kind} protocol {name!r}: "
                          f"use one of {', '.join(table)}")

    def key(secret: Secret | None, protocol: str, kind: str) -> str | None:
        if protocol.strip().lower() == "none":
            return None
        if secret is None or len(secret.reveal()) < 8:
            raise ConfigError(f"trap user {user.user}: {kind} protocol {protocol} needs a key "
                              "of at least 8 characters")
        return secret.reveal()

    return (pick(AUTH_PROTOCOLS, user.auth_protocol, "auth"),
            key(user.auth_key, user.auth_protocol, "auth"),
            pick(PRIV_PROTOCOLS, user.priv_protocol, "priv"),
            key(user.priv_key, user.priv_protocol, "priv"))


def _inform_tag() -> Any:
    from pysnmp.proto.api import v2c

    return v2c.InformRequestPDU.tagSet


_INFORM_TAG = _inform_tag()


def _trap(pairs: list[tuple[str, SnmpValue]], host: str, port: int, version: str,
          inform: bool, user: str = "") -> Trap:
    varbinds = dict(pairs)
    uptime = varbinds.pop(_SYS_UPTIME, None)
    trap_oid = varbinds.pop(_TRAP_OID, "")
    return Trap(time=time.time(), source=host, port=port, version=version, inform=inform,
                trap_oid=str(trap_oid), uptime=uptime if isinstance(uptime, int) else None,
                varbinds=varbinds, user=user)


def _trap_from_message(msg: ber.Message, host: str, port: int) -> Trap:
    pairs = [(oid_text(oid), value) for oid, value in msg.varbinds]
    if msg.trap_v1 is None:
        return _trap(pairs, host, port, "2c", msg.pdu == ber.INFORM)
    enterprise, _agent, generic, specific, stamp = msg.trap_v1
    if generic != 6:
        trap_oid = f"{_GENERIC_TRAPS}.{generic + 1}"
    else:
        trap_oid = f"{oid_text(enterprise)}.0.{specific}"
    head: list[tuple[str, SnmpValue]] = [(_SYS_UPTIME, stamp), (_TRAP_OID, trap_oid)]
    tail: list[tuple[str, SnmpValue]] = [(_TRAP_ENTERPRISE, oid_text(enterprise))]
    return _trap(head + pairs + tail, host, port, "1", False)


def _v2_header_ok(msg: ber.Message) -> bool:
    """An SNMPv2 notification starts with sysUpTime.0 (TimeTicks), snmpTrapOID.0 (an OID)."""
    return (len(msg.varbinds) >= 2 and msg.varbinds[0][0] == _SYS_UPTIME_T
            and msg.varbinds[1][0] == _TRAP_OID_T
            and msg.tags[:2] == (_TIMETICKS_TAG, _OID_TAG))
