"""SNMPv3 replies are checked too: pysnmp verifies the USM digest, msgID, security name and
level, context and request-id; we add the varbind-name and OID-arc checks and report what
pysnmp drops as a malformed reply. A UDP relay between the transport and a real net-snmp snmpd
damages replies on the way back (a FAKE fault: a real agent cannot be made to send them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from drivers.transport.snmp import SnmpTarget, SnmpTransport, SnmpV3User
from harness.base.errors import HarnessError
from harness.base.secrets import Secret
from tests.daemons import running_snmpd, snmpd_binary

pytestmark = pytest.mark.interop
USER, AUTH, PRIV = "strict", "auth-key-1234", "priv-key-5678"
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
Mutate = Callable[[bytes], bytes]


@pytest.fixture(scope="module")
def snmpd_port(tmp_path_factory: pytest.TempPathFactory) -> Any:
    binary = snmpd_binary()
    if binary is None:
        pytest.skip("snmpd not installed (apt-get install snmpd)")
    config = f"createUser {USER} SHA {AUTH} AES {PRIV}\nrouser {USER} authpriv\n"
    with running_snmpd(binary, tmp_path_factory.mktemp("snmpd"), config) as port:
        yield port


class _Relay(asyncio.DatagramProtocol):
    """Client side of the relay: requests go up unchanged; replies after the first (engine
    discovery) come back through `mutate`."""

    def __init__(self, mutate: Mutate) -> None:
        self.mutate = mutate
        self.down: asyncio.DatagramTransport | None = None
        self.up: asyncio.DatagramTransport | None = None
        self.client: tuple[str, int] | None = None
        self.replies = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.down = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.client = addr
        if self.up is not None:
            self.up.sendto(data)

    def reply(self, data: bytes) -> None:
        self.replies += 1
        out = data if self.replies == 1 else self.mutate(data)
        if self.down is not None and self.client is not None and out:
            self.down.sendto(out, self.client)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay.reply(data)


async def through_relay(port: int, mutate: Mutate) -> tuple[Any, int]:
    loop = asyncio.get_running_loop()
    relay = _Relay(mutate)
    down, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
    up, _ = await loop.create_datagram_endpoint(lambda: _Upstream(relay),
                                                remote_addr=("127.0.0.1", port))
    relay.up = up  # type: ignore[assignment]
    target = SnmpTarget("127.0.0.1", down.get_extra_info("sockname")[1], "3",
                        v3=SnmpV3User(USER, "SHA", Secret(AUTH), "AES", Secret(PRIV)),
                        timeout_s=0.7, retries=0)
    transport = SnmpTransport(target, device="v3-gnb")
    try:
        try:
            return await transport.get([SYS_DESCR]), transport.rejected_replies
        except HarnessError as exc:
            return exc, transport.rejected_replies
    finally:
        await transport.close()
        down.close()
        up.close()


def flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes((data[-1] ^ 0x01,))


def test_v3_honest_reply_reads(snmpd_port: int) -> None:
    values, rejected = asyncio.run(through_relay(snmpd_port, lambda d: d))
    assert isinstance(values, dict) and str(values[SYS_DESCR]) and rejected == 0


@pytest.mark.parametrize(("name", "mutate"), [
    ("encrypted PDU altered (digest fails)", flip_last),
    ("truncated", lambda d: d[: len(d) // 2]),
    ("garbage", lambda d: b"\x30\x03\x02\x01"),
])
def test_v3_damaged_replies_are_refused_as_malformed(snmpd_port: int, name: str,
                                                     mutate: Mutate) -> None:
    outcome, rejected = asyncio.run(through_relay(snmpd_port, mutate))
    assert isinstance(outcome, HarnessError), f"{name}: a value was returned: {outcome!r}"
    assert "v3-gnb" in str(outcome) and "malformed reply" in str(outcome), str(outcome)
    assert rejected >= 1
