"""The strict SNMP client against a hostile agent: every malformed or lying reply is refused.

`HostileAgent` is a FAKE: a small UDP agent inside the tests standing in for lying or broken
equipment (a buggy firmware, or something else answering on the device's address), which no
real agent can be made to imitate. Each mode answers a request with one kind of bad reply.
"Clean" = no exception other than a HarnessError, no value returned or recorded, and an error
that names the device and says the reply was malformed (never "no SNMP response").
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from drivers.transport import snmp_ber as ber
from drivers.transport.snmp import SnmpTarget, SnmpTransport
from harness.base.errors import HarnessError
from harness.base.secrets import Secret

T = TypeVar("T")
DEVICE = "hostile-gnb"
COMMUNITY = b"public-ro"
FIRMWARE, UPTIME = (1, 3, 6, 1, 4, 1, 32473, 1, 1, 0), (1, 3, 6, 1, 2, 1, 1, 3, 0)
ROOT = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10)
Vb = tuple[bytes, bytes]
Mode = Callable[[ber.Message, "HostileAgent"], list[bytes]]


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    head = bytes((n,)) if n < 0x80 else bytes((0x82,)) + n.to_bytes(2, "big")
    return bytes((tag,)) + head + content


def integer(tag: int, value: int, size: int | None = None) -> bytes:
    size = size or max(1, (value.bit_length() + 8) // 8)
    return tlv(tag, value.to_bytes(size, "big", signed=value < 0))


def counter32(value: int) -> bytes:
    return integer(0x41, value)


def octets(text: str) -> bytes:
    return tlv(0x04, text.encode())


def raw_oid(content: bytes) -> bytes:
    return tlv(0x06, content)


def oid(*arcs: int) -> bytes:
    return ber.encode_oid(arcs)


def reply(msg: ber.Message, vbs: list[Vb] | None = None, *, version: int | None = None,
          community: bytes = COMMUNITY, pdu: int = ber.RESPONSE, rid: int | None = None,
          status: int = 0, index: int = 0) -> bytes:
    """A Response to `msg` (by default a correct one: Counter32 5 for every OID asked)."""
    if vbs is None:
        vbs = [(ber.encode_oid(name), counter32(5)) for name, _ in msg.varbinds]
    vbl = b"".join(tlv(0x30, name + value) for name, value in vbs)
    body = (integer(0x02, msg.request_id if rid is None else rid) + integer(0x02, status)
            + integer(0x02, index) + tlv(0x30, vbl))
    return tlv(0x30, integer(0x02, msg.version if version is None else version)
               + tlv(0x04, community) + tlv(pdu, body))


def with_value(value: bytes) -> Mode:
    """Every requested OID answered with the same (bad) value TLV."""
    return lambda m, _a: [reply(m, [(ber.encode_oid(n), value) for n, _ in m.varbinds])]


def names(m: ber.Message) -> list[bytes]:
    return [ber.encode_oid(n) for n, _ in m.varbinds]


# ---- GET modes: transport.get([FIRMWARE, UPTIME]) -------------------------------------------
GET_MODES: dict[str, Mode] = {
    "wrong request-id": lambda m, _a: [reply(m, rid=m.request_id + 1)],
    "wrong community": lambda m, _a: [reply(m, community=b"other")],
    "wrong version (v1 reply to v2c)": lambda m, _a: [reply(m, version=0)],
    "version 3 header": lambda m, _a: [reply(m, version=3)],
    "GetRequest PDU instead of Response": lambda m, _a: [reply(m, pdu=ber.GET)],
    "SNMPv2-Trap PDU instead of Response": lambda m, _a: [reply(m, pdu=ber.TRAP_V2)],
    "Report PDU instead of Response": lambda m, _a: [reply(m, pdu=ber.REPORT)],
    "OIDs not asked for": lambda m, _a: [reply(m, [(oid(1, 3, 6, 1, 2, 1, 1, 1, 0),
                                                   octets("NOT-ASKED-FOR"))] * 2)],
    "extra varbind": lambda m, _a: [reply(m, [(n, counter32(5)) for n in names(m)]
                                          + [(oid(1, 3, 6, 1, 9), octets("x"))])],
    "missing varbind": lambda m, _a: [reply(m, [(names(m)[0], counter32(5))])],
    "reordered varbinds": lambda m, _a: [reply(m, [(n, counter32(5))
                                                   for n in reversed(names(m))])],
    "empty varbind list": lambda m, _a: [reply(m, [])],
    "Counter32 2^32": with_value(counter32(2**32)),
    "Counter32 2^70": with_value(counter32(2**70)),
    "Counter32 empty": with_value(tlv(0x41, b"")),
    "Gauge32 negative": with_value(tlv(0x42, b"\xff")),
    "Counter64 2^64": with_value(integer(0x46, 2**64)),
    "TimeTicks 2^32": with_value(integer(0x43, 2**32)),
    "INTEGER of 1000 bytes": with_value(tlv(0x02, b"\x7f" + b"\xff" * 999)),
    "INTEGER of 9 bytes": with_value(tlv(0x02, b"\x01" + b"\x00" * 8)),
    "empty INTEGER": with_value(tlv(0x02, b"")),
    "OID value arc 2^32": with_value(raw_oid(b"\x2b\x90\x80\x80\x80\x00")),
    "OID value ends mid-arc": with_value(raw_oid(b"\x2b\x06\x81")),
    "OID value non-minimal arc": with_value(raw_oid(b"\x2b\x80\x06")),
    "OID value of 129 arcs": with_value(raw_oid(b"\x2b" + b"\x01" * 127)),
    "empty OID value": with_value(raw_oid(b"")),
    "IpAddress of 7 bytes": with_value(tlv(0x40, b"\x0a\x00\x00\x01\x00\x00\x00")),
    "IpAddress of 3 bytes": with_value(tlv(0x40, b"\x0a\x00\x00")),
    "unknown value type": with_value(tlv(0x47, b"\x01")),
    "NULL with content": with_value(tlv(0x05, b"\x00")),
    "noSuchObject with content": with_value(tlv(0x80, b"\x01")),
    "varbind name arc 2^32": lambda m, _a: [reply(m, [(raw_oid(b"\x2b\x90\x80\x80\x80\x00"),
                                                       counter32(5))] * 2)],
    "truncated BER": lambda m, _a: [reply(m)[: len(reply(m)) // 2]],
    "garbage bytes": lambda m, _a: [random.Random(7).randbytes(60)],
    "empty datagram": lambda m, _a: [b""],
    "length of 4 GB": lambda m, _a: [b"\x30\x84\xff\xff\xff\xff" + reply(m)[2:]],
    "indefinite length": lambda m, _a: [b"\x30\x80" + reply(m)[2:] + b"\x00\x00"],
    "bytes after the message": lambda m, _a: [reply(m) + b"\x00\x01"],
    "error-status 99": lambda m, _a: [reply(m, status=99, index=1)],
    "error-index past the varbinds": lambda m, _a: [reply(m, status=5, index=9)],
    "request-id of 2^40": lambda m, _a: [reply(m, rid=2**40)],
}


class HostileAgent(asyncio.DatagramProtocol):
    """FAKE lying/broken SNMP agent (see the module docstring): answers with `mode`."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.transport: asyncio.DatagramTransport | None = None
        self.step = 0  # state for modes that walk

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = ber.decode_message(data)
        assert self.transport is not None
        for datagram in self.mode(request, self):
            if datagram:
                self.transport.sendto(datagram, addr)
            else:  # asyncio does not send an empty datagram: the same socket, unwrapped, does
                fd = self.transport.get_extra_info("socket").fileno()
                with socket.fromfd(fd, socket.AF_INET, socket.SOCK_DGRAM) as plain:
                    plain.sendto(datagram, addr)


async def against(mode: Mode, call: Callable[[SnmpTransport], Coroutine[Any, Any, T]],
                  **target: Any) -> tuple[T | HarnessError, int]:
    """Run `call` on a transport to a hostile agent: (its result or HarnessError, replies
    the transport rejected)."""
    loop = asyncio.get_running_loop()
    udp, _agent = await loop.create_datagram_endpoint(lambda: HostileAgent(mode),
                                                     local_addr=("127.0.0.1", 0))
    port = udp.get_extra_info("sockname")[1]
    settings: dict[str, Any] = {"timeout_s": 0.5, "retries": 0, **target}
    transport = SnmpTransport(SnmpTarget("127.0.0.1", port, "2c",
                                         community=Secret(COMMUNITY.decode()), **settings),
                              device=DEVICE)
    try:
        try:
            return await call(transport), transport.rejected_replies
        except HarnessError as exc:
            return exc, transport.rejected_replies
    finally:
        await transport.close()
        udp.close()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30))


def assert_clean(outcome: object, rejected: int) -> None:
    assert isinstance(outcome, HarnessError), f"a value was returned: {outcome!r}"
    text = str(outcome)
    assert DEVICE in text and "malformed reply" in text, text
    assert "no SNMP response" not in text
    assert rejected >= 1


def get_firmware_and_uptime(t: SnmpTransport) -> Coroutine[Any, Any, dict[str, Any]]:
    return t.get(["1.3.6.1.4.1.32473.1.1.0", "1.3.6.1.2.1.1.3.0"])


@pytest.mark.parametrize("name", list(GET_MODES))
def test_get_refuses_each_hostile_reply(name: str) -> None:
    assert_clean(*run(against(GET_MODES[name], get_firmware_and_uptime)))


def test_the_honest_reply_still_reads() -> None:
    values, rejected = run(against(lambda m, _a: [reply(m)], get_firmware_and_uptime))
    assert values == {"1.3.6.1.4.1.32473.1.1.0": 5, "1.3.6.1.2.1.1.3.0": 5}
    assert rejected == 0


def test_a_forged_reply_before_the_real_one_is_dropped_and_counted() -> None:
    forged: Mode = lambda m, _a: [  # noqa: E731
        reply(m, [(n, octets("NOT-ASKED-FOR")) for n in names(m)], community=b"x"),
        reply(m, [(oid(1, 3, 6, 1, 2, 1, 1, 1, 0), octets("NOT-ASKED-FOR"))] * 2),
        reply(m)]
    values, rejected = run(against(forged, get_firmware_and_uptime))
    assert values == {"1.3.6.1.4.1.32473.1.1.0": 5, "1.3.6.1.2.1.1.3.0": 5}
    assert rejected == 2


# ---- GETNEXT / GETBULK / walk modes ---------------------------------------------------------
def bulk_rows(m: ber.Message, rows: list[tuple[int, ...]]) -> bytes:
    return reply(m, [(ber.encode_oid(r), counter32(1)) for r in rows])


WALK_MODES: dict[str, Mode] = {
    "GETBULK repetitions go backwards": lambda m, _a: [bulk_rows(m, [(*ROOT, 5), (*ROOT, 3)])],
    "GETBULK repeats one OID (loop)": lambda m, _a: [bulk_rows(m, [(*ROOT, 1), (*ROOT, 1)])],
    "GETBULK answers before the cursor": lambda m, _a: [bulk_rows(m, [ROOT])],
    "GETBULK beyond max-repetitions": lambda m, _a: [bulk_rows(
        m, [(*ROOT, i) for i in range(1, 40)])],
}


def walk(t: SnmpTransport) -> Coroutine[Any, Any, dict[str, Any]]:
    return t.walk(".".join(map(str, ROOT)), max_repetitions=25)


@pytest.mark.parametrize("name", list(WALK_MODES))
def test_walk_refuses_each_hostile_reply(name: str) -> None:
    assert_clean(*run(against(WALK_MODES[name], walk)))


def test_getnext_that_goes_backwards_is_refused() -> None:
    back: Mode = lambda m, _a: [reply(m, [(oid(1, 3, 6, 1, 2, 1, 1, 1, 0), counter32(1))])]  # noqa: E731
    assert_clean(*run(against(back, lambda t: t.get_next(["1.3.6.1.2.1.2"]))))


def test_a_walk_that_never_ends_is_stopped_in_time() -> None:
    def endless(m: ber.Message, agent: HostileAgent) -> list[bytes]:
        agent.step += 1
        return [bulk_rows(m, [(*ROOT, agent.step, i) for i in range(1, 26)])]

    outcome, _ = run(against(endless, walk, walk_timeout_s=0.5))
    assert isinstance(outcome, HarnessError)
    assert DEVICE in str(outcome) and "still running after 0.5s" in str(outcome)


class _RawAgent(asyncio.DatagramProtocol):
    """FAKE broken agent: answers anything (here the v3 discovery probe) with fixed bytes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.answer, addr)


@pytest.mark.parametrize("answer", [b"\x30\x03\x02\x01\x01", b"\x30\x03\x02\x01\x03",
                                    random.Random(3).randbytes(40)])
def test_engine_discovery_refuses_a_malformed_report(answer: bytes) -> None:
    async def scenario() -> object:
        loop = asyncio.get_running_loop()
        udp, _ = await loop.create_datagram_endpoint(lambda: _RawAgent(answer),
                                                     local_addr=("127.0.0.1", 0))
        port = udp.get_extra_info("sockname")[1]
        transport = SnmpTransport(SnmpTarget("127.0.0.1", port, "2c", community=Secret("c"),
                                             timeout_s=0.5, retries=0), device=DEVICE)
        try:
            return await transport.discover_engine()
        except HarnessError as exc:
            return exc
        finally:
            await transport.close()
            udp.close()

    outcome = run(scenario())
    assert isinstance(outcome, HarnessError) and DEVICE in str(outcome)
    assert "malformed reply" in str(outcome)
