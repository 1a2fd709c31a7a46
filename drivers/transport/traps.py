"""Trap and inform receiver: SNMPv1/v2c through our BER codec, SNMPv3 through pysnmp's USM.

One UDP socket. v1/v2c datagrams are decoded right in the socket callback (tens of
microseconds each, so a burst of thousands keeps up) and informs are acknowledged by echoing
them as a Response. v3 datagrams are fed to a pysnmp engine configured with the lab's USM
users, whose replies (inform acks, discovery reports) go back through the same socket. Every
notification becomes a `Trap`, handed to a callback and to `queue`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
from pysnmp.carrier.base import AbstractTransport
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.error import PySnmpError
from pysnmp.proto import rfc1902

from drivers.transport import snmp_ber as ber
from drivers.transport.snmp_usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS
from drivers.transport.snmp_values import SnmpValue, convert_value, oid_text
from harness.config.secrets import Secret
from harness.errors import ConfigError, DeviceUnreachable

__all__ = ["Trap", "TrapReceiver", "TrapUser"]

_SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
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
    """Listens for traps and informs; v1/v2c communities and v3 users as configured.

    With no communities configured, any v1/v2c community is accepted.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 162, *,
                 communities: Sequence[Secret] = (), users: Sequence[TrapUser] = (),
                 on_trap: Callable[[Trap], None] | None = None,
                 queue_size: int = 100_000) -> None:
        self._listen = (host, port)
        self._communities = [c.reveal().encode("utf-8") for c in communities]
        self._users = list(users)
        self._on_trap = on_trap
        self.queue: asyncio.Queue[Trap] = asyncio.Queue(queue_size)
        self.received = 0
        self.rejected = 0  # wrong community, undecodable, or refused by USM
        self.dropped = 0  # the queue was full
        self._udp: asyncio.DatagramTransport | None = None
        self._engine: SnmpEngine | None = None
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

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        host, port = str(addr[0]), int(addr[1])
        try:
            version = ber.message_version(data)
        except ber.BerError:
            self.rejected += 1
            return
        if version == 3:
            if self._feed is None:
                self.rejected += 1  # no v3 users configured
                return
            try:
                self._feed.feed(data, (host, port))
            except PySnmpError as exc:
                self.rejected += 1
                self._log.debug("v3 notification from %s refused: %s", host, exc)
            return
        try:
            msg = ber.decode_message(data)
        except ber.BerError:
            self.rejected += 1
            return
        if self._communities and not any(hmac.compare_digest(msg.community, c)
                                          for c in self._communities):
            self.rejected += 1
            return
        if msg.pdu == ber.INFORM and self._udp is not None:
            self._udp.sendto(ber.response_to(data), (host, port))
        if msg.pdu in (ber.TRAP_V2, ber.INFORM, ber.TRAP_V1):
            self._deliver(_trap_from_message(msg, host, port))

    def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._udp is not None:
            self._udp.sendto(data, addr)

    def _v3_notification(self, engine: Any, state: Any, _ctx_engine: Any, _ctx_name: Any,
                         varbinds: Any, _cb: Any) -> None:
        context = engine.observer.get_execution_context("rfc3412.receiveMessage:request")
        address = context.get("transportAddress") or ("", 0)
        pdu = context.get("pdu")
        inform = pdu is not None and pdu.tagSet == _INFORM_TAG
        pairs = [(oid_text(tuple(name.asTuple())), convert_value(value))
                 for name, value in varbinds]
        self._deliver(_trap(pairs, str(address[0]), int(address[1]), "3", inform,
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
