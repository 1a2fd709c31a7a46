"""SnmpTransport against a real net-snmp snmpd started on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from pysnmp.proto import rfc1902

from drivers.transport.snmp import (
    NoSuchValue,
    SnmpTarget,
    SnmpTransport,
    SnmpV3User,
    convert_value,
)
from harness.base.errors import AuthFailed, ConfigError, DeviceUnreachable
from harness.base.secrets import Secret
from tests.conftest import free_port, require_tool
from tests.daemons import AUTH_KEY, PRIV_KEY, matrix_config, running_snmpd

pytestmark = pytest.mark.interop

T = TypeVar("T")
COMMUNITY, RW_COMMUNITY = "lab-ro-community", "lab-rw-community"
USER, RW_USER = "harness", "writer"
SYS_DESCR, SYS_UPTIME, SYS_CONTACT = "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.4.0"
SYS_NAME, SYS_LOCATION, SYSTEM = "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.1"


@dataclass(frozen=True)
class Snmpd:
    port: int


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run one coroutine in a fresh event loop, bounded by `timeout` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    """net-snmp snmpd: v1/v2c read and write communities, a SHA-256/AES user, a writable
    v3 user, one user per auth × priv pair, fixed system values and engine id."""
    binary = require_tool("snmpd")
    config = (
        f"rocommunity {COMMUNITY} 127.0.0.1\n"
        f"rwcommunity {RW_COMMUNITY} 127.0.0.1\n"
        f"createUser {USER} SHA-256 {AUTH_KEY} AES {PRIV_KEY}\n"
        f"rouser {USER} authpriv\n"
        f"createUser {RW_USER} SHA-512 {AUTH_KEY} AES-256 {PRIV_KEY}\n"
        f"rwuser {RW_USER} authpriv\n"
        "sysContact noc@lab.example\n"
        "sysLocation Rack 7, Hanoi lab\n"
        "sysName gnb-under-test\n" + matrix_config()
    )
    with running_snmpd(binary, tmp_path_factory.mktemp("snmpd"), config) as port:
        yield Snmpd(port)


def v2c(port: int, community: str = COMMUNITY, **kw: Any) -> SnmpTransport:
    target = SnmpTarget("127.0.0.1", port, "2c", community=Secret(community), **kw)
    return SnmpTransport(target, device="gnb1")


def v3(port: int, auth: str = AUTH_KEY, priv: str = PRIV_KEY, user: str = USER,
       **kw: Any) -> SnmpTransport:
    creds = SnmpV3User(user, "SHA-256", Secret(auth), "AES-128", Secret(priv))
    return SnmpTransport(SnmpTarget("127.0.0.1", port, "3", v3=creds, **kw), device="gnb1")


async def _get_close(transport: SnmpTransport, oids: list[str]) -> dict[str, Any]:
    try:
        return await transport.get(oids)
    finally:
        await transport.close()


async def _walk_close(transport: SnmpTransport, oid: str, reps: int = 25) -> dict[str, Any]:
    try:
        return await transport.walk(oid, max_repetitions=reps)
    finally:
        await transport.close()


def test_v2c_get_system_values(snmpd: Snmpd) -> None:
    got = run(_get_close(v2c(snmpd.port), [SYS_DESCR, "." + SYS_NAME, SYS_UPTIME]))
    assert list(got) == [SYS_DESCR, SYS_NAME, SYS_UPTIME]  # requested order, no leading dot
    assert isinstance(got[SYS_DESCR], str) and got[SYS_DESCR]
    assert got[SYS_NAME] == "gnb-under-test"
    assert isinstance(got[SYS_UPTIME], int) and got[SYS_UPTIME] >= 0


def test_v2c_walk_system_subtree_in_order(snmpd: Snmpd) -> None:
    walked = run(_walk_close(v2c(snmpd.port), SYSTEM))
    small_pdus = run(_walk_close(v2c(snmpd.port), SYSTEM, reps=2))
    assert walked[SYS_CONTACT] == "noc@lab.example"
    assert walked[SYS_LOCATION] == "Rack 7, Hanoi lab"
    assert walked["1.3.6.1.2.1.1.2.0"].startswith("1.3.6.1.4.1.8072.")  # sysObjectID as OID
    assert all(oid.startswith(SYSTEM + ".") for oid in walked)
    keys = [tuple(int(p) for p in oid.split(".")) for oid in walked]
    assert keys == sorted(keys)
    assert set(small_pdus) == set(walked)  # many small GETBULKs reach the same end


def test_v3_authpriv_sha256_aes128_get(snmpd: Snmpd) -> None:
    got = run(_get_close(v3(snmpd.port), [SYS_NAME, SYS_CONTACT]))
    assert got == {SYS_NAME: "gnb-under-test", SYS_CONTACT: "noc@lab.example"}


def test_v3_walk(snmpd: Snmpd) -> None:
    walked = run(_walk_close(v3(snmpd.port), SYSTEM))
    assert walked[SYS_LOCATION] == "Rack 7, Hanoi lab"


def test_v1_get_with_missing_oid_and_walk(snmpd: Snmpd) -> None:
    target = SnmpTarget("127.0.0.1", snmpd.port, "1", community=Secret(COMMUNITY))
    got = run(_get_close(SnmpTransport(target, device="gnb1"),
                         [SYS_NAME, "1.3.6.1.2.1.1.99.0", SYS_CONTACT]))
    assert got[SYS_NAME] == "gnb-under-test"
    assert got[SYS_CONTACT] == "noc@lab.example"
    assert got["1.3.6.1.2.1.1.99.0"] == NoSuchValue("noSuchName")
    walked = run(_walk_close(SnmpTransport(target, device="gnb1"), SYSTEM))
    assert walked[SYS_LOCATION] == "Rack 7, Hanoi lab"


def test_missing_oid_is_no_such_value_not_zero(snmpd: Snmpd) -> None:
    got = run(_get_close(v2c(snmpd.port), [SYS_NAME, "1.3.6.1.2.1.1.99.0",
                                           "1.3.6.1.4.1.32473.9.9.0"]))
    assert got[SYS_NAME] == "gnb-under-test"
    assert isinstance(got["1.3.6.1.2.1.1.99.0"], NoSuchValue)
    assert isinstance(got["1.3.6.1.4.1.32473.9.9.0"], NoSuchValue)


def test_walk_of_empty_subtree_is_empty(snmpd: Snmpd) -> None:
    assert run(_walk_close(v2c(snmpd.port), "1.3.6.1.4.1.32473.77")) == {}


def test_wrong_community_is_unreachable_with_hint(snmpd: Snmpd) -> None:
    transport = v2c(snmpd.port, community="wrong-community", timeout_s=0.3, retries=0)
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable) as info:
        run(_get_close(transport, [SYS_NAME]))
    assert time.monotonic() - started < 3
    message = str(info.value)
    for part in ("gnb1", "127.0.0.1", str(snmpd.port), "v2c", "community"):
        assert part in message
    assert "wrong-community" not in message


def test_wrong_v3_auth_key_is_auth_failed(snmpd: Snmpd) -> None:
    with pytest.raises(AuthFailed) as info:
        run(_get_close(v3(snmpd.port, auth="not-the-auth-key", timeout_s=0.5), [SYS_NAME]))
    assert "gnb1" in str(info.value) and "auth" in str(info.value)
    assert "not-the-auth-key" not in str(info.value)


def test_unknown_v3_user_is_auth_failed(snmpd: Snmpd) -> None:
    with pytest.raises(AuthFailed, match="user"):
        run(_get_close(v3(snmpd.port, user="nobody", timeout_s=0.5), [SYS_NAME]))


def test_wrong_v3_priv_key_times_out_with_priv_hint(snmpd: Snmpd) -> None:
    # net-snmp drops a PDU it cannot decrypt: the client only sees a timeout.
    with pytest.raises(DeviceUnreachable, match="privacy key"):
        run(_get_close(v3(snmpd.port, priv="not-the-priv-key", timeout_s=0.3, retries=0),
                       [SYS_NAME]))


def test_closed_port_unreachable_within_timeout() -> None:
    port = free_port(socket.SOCK_DGRAM)
    transport = v2c(port, timeout_s=0.3, retries=1)
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable, match=str(port)):
        run(_get_close(transport, [SYS_NAME]))
    assert time.monotonic() - started < 0.3 * 2 + 1.5


def test_closed_transport_refuses_requests(snmpd: Snmpd) -> None:
    async def scenario() -> None:
        transport = v2c(snmpd.port)
        await transport.get([SYS_NAME])
        await transport.close()
        await transport.close()
        with pytest.raises(DeviceUnreachable, match="closed"):
            await transport.get([SYS_NAME])

    run(scenario())


def test_concurrent_requests_share_one_engine(snmpd: Snmpd) -> None:
    async def scenario() -> list[dict[str, Any]]:
        transport = v2c(snmpd.port)
        try:
            return await asyncio.gather(*(transport.get([SYS_NAME]) for _ in range(20)))
        finally:
            await transport.close()

    assert all(r == {SYS_NAME: "gnb-under-test"} for r in run(scenario()))


@pytest.mark.parametrize(
    ("auth", "priv"), [("SHA-999", "AES-128"), ("SHA-256", "AES-512"), ("none", "AES-128")]
)
def test_bad_v3_settings_are_config_errors(auth: str, priv: str) -> None:
    creds = SnmpV3User(USER, auth, Secret(AUTH_KEY), priv, Secret(PRIV_KEY))
    with pytest.raises(ConfigError):
        SnmpTransport(SnmpTarget("127.0.0.1", 161, "3", v3=creds), device="gnb1")


def test_short_key_missing_community_and_bad_oid_are_config_errors() -> None:
    creds = SnmpV3User(USER, "SHA-256", Secret("short"), "none", None)
    with pytest.raises(ConfigError, match="8 characters"):
        SnmpTransport(SnmpTarget("127.0.0.1", 161, "3", v3=creds), device="gnb1")
    with pytest.raises(ConfigError, match="community"):
        SnmpTransport(SnmpTarget("127.0.0.1", 161, "2c"), device="gnb1")
    with pytest.raises(ConfigError, match="numeric OID"):
        run(v2c(161).get(["SNMPv2-MIB::sysName.0"]))


def test_unresolvable_secret_is_config_error_and_target_repr_hides_secret() -> None:
    target = SnmpTarget("127.0.0.1", 161, community=Secret("${env:NOPE_NOT_SET_X}"))
    with pytest.raises(ConfigError, match="NOPE_NOT_SET_X"):
        SnmpTransport(target, device="gnb1")
    assert "***" in repr(SnmpTarget("h", community=Secret("topsecret")))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (rfc1902.OctetString(b"gNB-01"), "gNB-01"),
        (rfc1902.OctetString(b"\x00\x1b\x21\xaa\xbb\xcc"), "0x001b21aabbcc"),
        (rfc1902.OctetString(b"\xff\xfe"), "0xfffe"),
        (rfc1902.IpAddress("10.0.0.7"), "10.0.0.7"),
        (rfc1902.Counter64(2**40 + 5), 2**40 + 5),
        (rfc1902.Gauge32(7), 7),
        (rfc1902.Integer32(-3), -3),
        (rfc1902.ObjectIdentifier("1.3.6.1.4.1.32473"), "1.3.6.1.4.1.32473"),
    ],
)
def test_convert_value(value: Any, expected: Any) -> None:
    assert convert_value(value) == expected

