"""One request/response channel to an agent: community (v1/v2c) over our own UDP socket.

A session sends a PDU and returns the agent's reply or raises one of the internal errors
below; `drivers.transport.snmp.SnmpTransport` turns those into `harness.base.errors` exceptions
with the device's name. The v3 session (pysnmp USM) lives in `snmp_usm.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from drivers.transport import snmp_ber as ber
from drivers.transport.snmp_check import check_reply
from drivers.transport.snmp_probe import EngineProbe, decode_probe_reply, encode_probe
from drivers.transport.snmp_values import SetValue, SnmpValue

Oid = tuple[int, ...]
RequestVarbinds = Sequence[tuple[Oid, SetValue | None]]


@dataclass(frozen=True)
class Reply:
    """An agent's Response PDU."""

    error_status: int
    error_index: int
    varbinds: list[tuple[Oid, SnmpValue]]
    tags: tuple[int, ...] = ()  # each value's BER tag (0x41 Counter32…), in varbind order


class SessionError(Exception):
    """Base of what a session raises; the transport adds the device and a hint."""


class NoAnswer(SessionError):
    """No response within timeout × tries."""


class Refused(SessionError):
    """The host answered with ICMP port unreachable: nothing listens on that port."""


class Denied(SessionError):
    """The agent rejected our credentials (v3 USM report, unknown user, wrong digest…)."""


class BadAddress(SessionError):
    """The host name does not resolve."""


class Broken(SessionError):
    """Any other failure (encoding, a closed session, an unexpected pysnmp error)."""


class Session(Protocol):
    """What the transport needs from a v1/v2c or v3 session."""

    async def request(self, pdu: int, varbinds: RequestVarbinds, *, non_repeaters: int = 0,
                      max_repetitions: int = 0) -> Reply: ...

    def close(self) -> None: ...

    @property
    def rejected(self) -> int:
        """Replies dropped as malformed or not matching their request."""


class Malformed(SessionError):
    """Replies came, but none valid: undecodable, out of range, or not answering the request."""


@dataclass
class _Pending:
    """A request waiting for its Response, with what a valid answer must match."""

    waiter: asyncio.Future[ber.Message]
    pdu: int
    oids: list[Oid]
    non_repeaters: int
    max_repetitions: int


class _Channel(asyncio.DatagramProtocol):
    """The connected UDP socket's protocol: accepts a datagram as the answer to a waiting request
    only if its version, community, PDU type, request-id and varbind names all match; anything
    else is dropped and counted (`rejected`, `last_problem`)."""

    def __init__(self, version: int, community: bytes) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, _Pending] = {}
        self.finished: dict[int, None] = {}  # recent request-ids: late duplicates are not lies
        self.version = version
        self.community = community
        self.rejected = 0
        self.last_problem = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def _reject(self, problem: str) -> None:
        self.rejected += 1
        self.last_problem = problem

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            msg = ber.decode_message(data, with_tags=True)
        except ber.BerError as exc:
            self._reject(f"undecodable reply ({exc})")
            return
        if msg.version != self.version:
            self._reject(f"reply in SNMP version {'1' if msg.version == 0 else '2c'}, "
                         f"not the version asked in")
            return
        if not hmac.compare_digest(msg.community, self.community):
            self._reject("reply with another community than the request's")
            return
        if msg.pdu != ber.RESPONSE:
            self._reject(f"PDU type 0x{msg.pdu:02x} instead of a Response")
            return
        pending = self.pending.get(msg.request_id)
        if pending is None:
            if msg.request_id not in self.finished:
                self._reject(f"request-id {msg.request_id} answers no request sent")
            return
        problem = check_reply(pending.pdu, pending.oids, msg.error_status, msg.error_index,
                              msg.varbinds, non_repeaters=pending.non_repeaters,
                              max_repetitions=pending.max_repetitions)
        if problem is not None:
            self._reject(problem)
            return
        if not pending.waiter.done():
            pending.waiter.set_result(msg)

    def done(self, request_id: int) -> None:
        """Forget a request; a late duplicate of its reply is then ignored, not counted."""
        pending = self.pending.pop(request_id, None)
        if pending is not None and not pending.waiter.done():
            pending.waiter.cancel()
        self.finished[request_id] = None
        if len(self.finished) > 1024:
            del self.finished[next(iter(self.finished))]

    def error_received(self, exc: Exception) -> None:
        for pending in self.pending.values():
            if not pending.waiter.done():
                pending.waiter.set_exception(Refused(str(exc)))

    def connection_lost(self, exc: Exception | None) -> None:
        for pending in self.pending.values():
            if not pending.waiter.done():
                pending.waiter.set_exception(Broken("SNMP socket closed"))


class CommunitySession:
    """SNMPv1/v2c requests encoded by `snmp_ber`, one connected UDP socket, retries by resend."""

    def __init__(self, host: str, port: int, *, version: int, community: str,
                 timeout_s: float, retries: int) -> None:
        self._addr = (host, port)
        self._version = version
        self._community = community.encode("utf-8")
        self._timeout = timeout_s
        self._tries = retries + 1
        self._channel = _Channel(version, self._community)
        self._opening = asyncio.Lock()
        self._next_id = random.randrange(1, 2**30)
        self._oids: dict[Oid, bytes] = {}  # encoded OIDs, reused by repeated polls

    async def _open(self) -> asyncio.DatagramTransport:
        async with self._opening:
            if self._channel.transport is None:
                loop = asyncio.get_running_loop()
                try:
                    await loop.create_datagram_endpoint(lambda: self._channel,
                                                        remote_addr=self._addr)
                except socket.gaierror as exc:
                    raise BadAddress(str(exc)) from None
                except OSError as exc:
                    raise Refused(str(exc)) from None
            if self._channel.transport is None:  # pragma: no cover - asyncio always sets it
                raise Broken("UDP endpoint did not open")
            return self._channel.transport

    def _encoded_oid(self, oid: Oid) -> bytes:
        encoded = self._oids.get(oid)
        if encoded is None:
            encoded = ber.encode_oid(oid)
            if len(self._oids) < 100_000:
                self._oids[oid] = encoded
        return encoded

    async def request(self, pdu: int, varbinds: RequestVarbinds, *, non_repeaters: int = 0,
                      max_repetitions: int = 0) -> Reply:
        """Send one PDU and await the matching Response, resending on each timeout."""
        transport = self._channel.transport or await self._open()
        request_id = self._next_id
        self._next_id = request_id + 1 if request_id < 2**31 - 1 else 1
        try:
            data = ber.encode_message(
                self._version, self._community, pdu, request_id,
                [(self._encoded_oid(oid), None if value is None else ber.encode_value(value))
                 for oid, value in varbinds],
                error_status=non_repeaters, error_index=max_repetitions)
        except ber.BerError as exc:
            raise Broken(str(exc)) from None
        waiter: asyncio.Future[ber.Message] = asyncio.get_running_loop().create_future()
        self._channel.pending[request_id] = _Pending(
            waiter, pdu, [oid for oid, _ in varbinds], non_repeaters, max_repetitions)
        rejected = self._channel.rejected
        try:
            for _ in range(self._tries):
                transport.sendto(data)
                with contextlib.suppress(TimeoutError):
                    msg = await asyncio.wait_for(asyncio.shield(waiter), self._timeout)
                    return Reply(msg.error_status, msg.error_index, msg.varbinds, msg.tags)
            if self._channel.rejected > rejected:
                count = self._channel.rejected - rejected
                raise Malformed(f"{count} invalid repl{'y' if count == 1 else 'ies'} and no "
                                f"valid one (last: {self._channel.last_problem})")
            raise NoAnswer()
        finally:
            self._channel.done(request_id)

    @property
    def rejected(self) -> int:
        """Replies dropped so far as malformed or not matching their request."""
        return self._channel.rejected

    def close(self) -> None:
        """Close the socket; waiting requests fail with `Broken`."""
        if self._channel.transport is not None:
            self._channel.transport.close()


class _Probe(asyncio.DatagramProtocol):
    def __init__(self, answer: asyncio.Future[bytes]) -> None:
        self.answer = answer

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(Refused(str(exc)))


async def probe_engine(host: str, port: int, *, timeout_s: float,
                       retries: int) -> EngineProbe:
    """RFC 3414 §4 discovery: an agent's engine id, boots and time, without credentials.
    Raises session errors, or `ber.BerError` when the reply is not SNMPv3."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()
    try:
        udp, _ = await loop.create_datagram_endpoint(lambda: _Probe(answer),
                                                     remote_addr=(host, port))
    except socket.gaierror as exc:
        raise BadAddress(str(exc)) from None
    except OSError as exc:
        raise Refused(str(exc)) from None
    try:
        for _ in range(retries + 1):
            udp.sendto(encode_probe(1, 1))
            with contextlib.suppress(TimeoutError):
                data = await asyncio.wait_for(asyncio.shield(answer), timeout_s)
                return decode_probe_reply(data)
        raise NoAnswer()
    finally:
        udp.close()
