"""SnmpTransport against real net-snmp snmpd: every v3 protocol pair, IF-MIB table walks,
GETBULK, GETNEXT, SET, split PDUs, engine discovery, counter rates through a profile."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from drivers.gnb import Gnb
from drivers.profile import load_profile
from drivers.transport.snmp import SetValue, SnmpTarget, SnmpTransport, SnmpV3User
from harness.base.errors import AuthFailed, ConfigError, DeviceUnreachable
from harness.base.sample import Sample
from harness.base.secrets import Secret
from harness.monitors.kpi import KpiPoller
from tests.conftest import require_tool
from tests.daemons import (
    AUTH_KEY,
    AUTHS,
    ENGINE_ID,
    PRIV_KEY,
    PRIVS,
    matrix_config,
    running_snmpd,
    user_name,
)

pytestmark = pytest.mark.interop
T = TypeVar("T")
RO, RW = "ops-ro", "ops-rw"
IF_TABLE, IF_INDEX, IF_DESCR, IF_TYPE = ("1.3.6.1.2.1.2.2", "1.3.6.1.2.1.2.2.1.1",
                                         "1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.3")
SYS_CONTACT, SYS_NAME = "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0"


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    binary = require_tool("snmpd")
    config = (f"rocommunity {RO} 127.0.0.1\nrwcommunity {RW} 127.0.0.1\n"
              f"createUser ops-writer SHA-256 {AUTH_KEY} AES {PRIV_KEY}\n"
              "rwuser ops-writer authpriv\nsysName ops-agent\n" + matrix_config())
    with running_snmpd(binary, tmp_path_factory.mktemp("snmpd-ops"), config) as bound:
        yield bound


def community(port: int, name: str = RO, **kw: Any) -> SnmpTransport:
    return SnmpTransport(SnmpTarget("127.0.0.1", port, "2c", community=Secret(name), **kw),
                         device="dut")


def usm(port: int, user: str, auth: str, priv: str, **kw: Any) -> SnmpTransport:
    creds = SnmpV3User(user, auth, Secret(AUTH_KEY) if auth != "none" else None,
                       priv, Secret(PRIV_KEY) if priv != "none" else None)
    return SnmpTransport(SnmpTarget("127.0.0.1", port, "3", v3=creds, **kw), device="dut")


async def closing(transport: SnmpTransport, coro: Coroutine[Any, Any, T]) -> T:
    try:
        return await coro
    finally:
        await transport.close()


@pytest.mark.parametrize("priv", [*PRIVS, "none"])
@pytest.mark.parametrize("auth", AUTHS)
def test_v3_every_auth_and_priv_pair(port: int, auth: str, priv: str) -> None:
    t = usm(port, user_name(auth, priv), auth, priv)
    assert run(closing(t, t.get([SYS_NAME]))) == {SYS_NAME: "ops-agent"}


def test_v3_no_auth_no_priv(port: int) -> None:
    t = usm(port, "u-noauth", "none", "none")
    assert run(closing(t, t.get([SYS_NAME]))) == {SYS_NAME: "ops-agent"}


def test_v3_wrong_key_for_one_pair_is_refused(port: int) -> None:
    creds = SnmpV3User(user_name("SHA-512", "AES-256"), "SHA-512", Secret("not-the-key-1"),
                       "AES-256", Secret(PRIV_KEY))
    t = SnmpTransport(SnmpTarget("127.0.0.1", port, "3", v3=creds, timeout_s=0.5), device="dut")
    with pytest.raises(AuthFailed, match="dut"):
        run(closing(t, t.get([SYS_NAME])))


def test_unknown_v3_context_is_an_error_not_silence(port: int) -> None:
    t = usm(port, "ops-writer", "SHA-256", "AES", context="no-such-context", timeout_s=0.3,
            retries=0)
    with pytest.raises(DeviceUnreachable):
        run(closing(t, t.get([SYS_NAME])))


@pytest.mark.parametrize("version", ["2c", "3"])
def test_if_table_walk_and_column_walk_agree(port: int, version: str) -> None:
    async def scenario(t: SnmpTransport) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        table = await t.walk(IF_TABLE, max_repetitions=7)
        columns = await t.walk_columns([IF_INDEX, IF_DESCR, IF_TYPE], max_repetitions=30)
        return table, columns

    t = community(port) if version == "2c" else usm(port, "ops-writer", "SHA-256", "AES")
    table, columns = run(closing(t, scenario(t)))
    indexes = columns[IF_INDEX]
    assert indexes and set(columns[IF_DESCR]) == set(indexes) == set(columns[IF_TYPE])
    assert "lo" in columns[IF_DESCR].values()
    for index, value in columns[IF_DESCR].items():
        assert table[f"{IF_DESCR}.{index}"] == value
    assert {int(v) for v in indexes.values()} == {int(i) for i in indexes}


def test_bulk_non_repeaters_and_repetitions(port: int) -> None:
    t = community(port)
    got = run(closing(t, t.bulk(["1.3.6.1.2.1.1.5", IF_DESCR], non_repeaters=1,
                                max_repetitions=3)))
    assert got[0] == (SYS_NAME, "ops-agent")
    assert [oid.rsplit(".", 1)[0] for oid, _ in got[1:]] == [IF_DESCR] * 3


def test_get_next_and_v1_bulk_refused(port: int) -> None:
    t = community(port)
    got = run(closing(t, t.get_next(["1.3.6.1.2.1.1.5", SYS_NAME])))
    assert got["1.3.6.1.2.1.1.5"] == (SYS_NAME, "ops-agent")
    assert got[SYS_NAME][0] == "1.3.6.1.2.1.1.6.0"
    v1 = SnmpTransport(SnmpTarget("127.0.0.1", port, "1", community=Secret(RO)), device="dut")
    with pytest.raises(ConfigError, match="GETBULK"):
        run(closing(v1, v1.bulk([IF_DESCR])))


def test_large_get_is_split_into_pdus_with_same_answers(port: int) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        t = community(port, max_varbinds=5, max_in_flight=2)
        try:
            table = await t.walk_columns([IF_INDEX, IF_DESCR, IF_TYPE, "1.3.6.1.2.1.2.2.1.4"])
            oids = [f"{col}.{i}" for col, rows in table.items() for i in rows]
            return {f"{c}.{i}": v for c, rows in table.items() for i, v in rows.items()}, \
                await t.get(oids)
        finally:
            await t.close()

    walked, got = run(scenario())
    assert len(got) > 5 and got == walked


@pytest.mark.parametrize("version", ["2c", "3"])
def test_set_writable_object_and_read_back(port: int, version: str) -> None:
    text = f"noc-{version}@lab.example"

    async def scenario(t: SnmpTransport) -> tuple[dict[str, Any], dict[str, Any]]:
        echoed = await t.set({SYS_CONTACT: SetValue("string", text)})
        return echoed, await t.get([SYS_CONTACT])

    t = community(port, RW) if version == "2c" else usm(port, "ops-writer", "SHA-256", "AES")
    echoed, read = run(closing(t, scenario(t)))
    assert echoed == {SYS_CONTACT: text} and read == {SYS_CONTACT: text}


def test_set_with_read_only_credentials_is_auth_failed(port: int) -> None:
    t = community(port, RO)
    with pytest.raises(AuthFailed, match="write"):
        run(closing(t, t.set([(SYS_CONTACT, SetValue("s", "nope"))])))


def test_set_value_types_are_checked() -> None:
    with pytest.raises(ConfigError, match="whole number"):
        SetValue("i", "ten")
    with pytest.raises(ConfigError, match="unknown SNMP SET type"):
        SetValue("float", 1)
    assert SetValue("x", "0a0b").value == b"\n\x0b"


def test_engine_discovery(port: int) -> None:
    t = community(port)
    info = run(closing(t, t.discover_engine()))
    assert info.engine_id == ENGINE_ID and info.boots >= 1


def test_closed_udp_port_fails_fast_with_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    t = community(closed, timeout_s=2.0, retries=3)
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable, match=str(closed)):
        run(closing(t, t.get([SYS_NAME])))
    assert time.monotonic() - started < 7


def test_counter_rates_through_generic_profile(port: int) -> None:
    """IF-MIB ifHCInOctets of lo rises by at least the bytes we push through loopback, and
    every counter sample carries a non-negative rate."""
    samples: list[Sample] = []

    async def scenario() -> KpiPoller:
        t = community(port)
        gnb = Gnb("dut", load_profile("generic-snmp"), snmp=t, ssh=None)
        try:
            walked = await t.walk_columns([IF_DESCR])
            lo = next(int(i) for i, name in walked[IF_DESCR].items() if name == "lo")
            poller = KpiPoller("dut", gnb, ["IF.HCInOctets", "IF.InOctets"], [lo], 0.2, {},
                               samples.extend)
            task = asyncio.create_task(poller.run())
            await asyncio.sleep(0.1)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as src:
                sink.bind(("127.0.0.1", 0))
                for _ in range(200):
                    src.sendto(b"x" * 1000, sink.getsockname())
            # net-snmp refreshes its interface counters from a cache every few seconds
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                series = poller.series.get(("IF.HCInOctets", lo))
                if series is not None and (series.total() or 0) >= 200_000:
                    break
                await asyncio.sleep(0.2)
            poller.stop()
            await asyncio.wait_for(task, 5)
            return poller
        finally:
            await t.close()

    poller = run(scenario())
    assert poller.error is None and not poller.restarts
    series = poller.series[("IF.HCInOctets", next(iter(poller.cells)))]
    total = series.total()
    assert total is not None and total >= 200 * 1000
    assert series.rates and all(rate >= 0 for _, rate in series.rates)
    assert any("rate" in s.fields for s in samples)
