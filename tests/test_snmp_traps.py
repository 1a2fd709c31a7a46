"""TrapReceiver against real net-snmp snmptrap/snmpinform (v1, v2c, v3) and a 1,000-trap burst;
traps mapped to alarm events by a profile."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from pyasn1.codec.ber import encoder
from pysnmp.proto.api import v2c

from drivers.alarms import AlarmSpec, alarm_from_trap
from drivers.profile import load_profile
from drivers.transport.traps import Trap, TrapReceiver, TrapUser
from harness.base.secrets import Secret
from tests.conftest import require_tool

pytestmark = pytest.mark.interop
T = TypeVar("T")
COMMUNITY = "trap-community"
ENGINE = "0x8000000001020304"
CELL_DOWN = "1.3.6.1.4.1.32473.99.2.1"
TEXT_OID, SEV_OID = "1.3.6.1.4.1.32473.99.1.2.0", "1.3.6.1.4.1.32473.99.1.1.1.4"
USERS = [TrapUser("trapper", "SHA", Secret("auth-key-1234"), "AES", Secret("priv-key-5678"),
                  engine_id=ENGINE),
         TrapUser("informer", "SHA-512", Secret("auth-key-1234"), "AES-256",
                  Secret("priv-key-5678"))]


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def cli(*argv: str) -> tuple[int, str]:
    """Run a net-snmp command line tool; (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=dict(os.environ, MIBS=""), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    return proc.returncode or 0, err.decode()


async def collect(receiver: TrapReceiver, count: int, timeout: float = 10.0) -> list[Trap]:
    return [await asyncio.wait_for(receiver.queue.get(), timeout) for _ in range(count)]


def test_v2c_v1_and_inform_from_net_snmp() -> None:
    snmptrap, snmpinform = require_tool("snmptrap"), require_tool("snmpinform")

    async def scenario() -> tuple[list[Trap], int, int]:
        receiver = TrapReceiver("127.0.0.1", 0, communities=[Secret(COMMUNITY)])
        _, port = await receiver.start()
        target = f"127.0.0.1:{port}"
        try:
            await cli(snmptrap, "-v2c", "-c", COMMUNITY, target, "4242", CELL_DOWN,
                      TEXT_OID, "s", "Cell 3 down: S1 link lost", f"{SEV_OID}.3", "i", "4")
            await cli(snmptrap, "-v1", "-c", COMMUNITY, target, "1.3.6.1.4.1.32473.99",
                      "127.0.0.1", "6", "7", "55", TEXT_OID, "s", "v1 text")
            code, _ = await cli(snmpinform, "-v2c", "-c", COMMUNITY, "-t", "2", "-r", "0",
                                  target, "77", CELL_DOWN)
            await cli(snmptrap, "-v2c", "-c", "wrong-community", target, "1", CELL_DOWN)
            traps = await collect(receiver, 3)
            await asyncio.sleep(0.2)
            return traps, code, receiver.rejected
        finally:
            await receiver.close()

    (trap, v1, inform), inform_exit, rejected = run(scenario())
    assert (trap.version, trap.trap_oid, trap.uptime, trap.inform) == ("2c", CELL_DOWN, 4242,
                                                                       False)
    assert trap.varbinds == {TEXT_OID: "Cell 3 down: S1 link lost", f"{SEV_OID}.3": 4}
    assert trap.source == "127.0.0.1" and trap.user == ""
    assert (v1.version, v1.trap_oid, v1.uptime) == ("1", "1.3.6.1.4.1.32473.99.0.7", 55)
    assert v1.varbinds[TEXT_OID] == "v1 text"
    assert inform_exit == 0 and inform.inform and inform.uptime == 77  # acknowledged
    assert rejected == 1


def test_v3_trap_and_inform_from_net_snmp() -> None:
    snmptrap, snmpinform = require_tool("snmptrap"), require_tool("snmpinform")

    async def scenario() -> tuple[list[Trap], int, int]:
        receiver = TrapReceiver("127.0.0.1", 0, users=USERS)
        _, port = await receiver.start()
        target = f"127.0.0.1:{port}"
        try:
            await cli(snmptrap, "-v3", "-e", ENGINE, "-u", "trapper", "-l", "authPriv",
                      "-a", "SHA", "-A", "auth-key-1234", "-x", "AES", "-X", "priv-key-5678",
                      target, "99", CELL_DOWN, TEXT_OID, "s", "v3 trap text")
            code, _ = await cli(snmpinform, "-v3", "-u", "informer", "-l", "authPriv",
                                "-a", "SHA-512", "-A", "auth-key-1234", "-x", "AES-256",
                                "-X", "priv-key-5678", "-t", "2", "-r", "0", target, "100",
                                CELL_DOWN, TEXT_OID, "s", "v3 inform text")
            await cli(snmptrap, "-v3", "-e", ENGINE, "-u", "trapper", "-l", "authPriv",
                      "-a", "SHA", "-A", "wrong-auth-key", "-x", "AES", "-X", "priv-key-5678",
                      target, "1", CELL_DOWN)
            traps = await collect(receiver, 2)
            await asyncio.sleep(0.2)
            return traps, code, receiver.received
        finally:
            await receiver.close()

    (trap, inform), inform_exit, received = run(scenario())
    assert (trap.version, trap.user, trap.trap_oid, trap.uptime) == ("3", "trapper",
                                                                     CELL_DOWN, 99)
    assert trap.varbinds == {TEXT_OID: "v3 trap text"} and not trap.inform
    assert inform_exit == 0 and inform.inform and inform.user == "informer"
    assert inform.varbinds == {TEXT_OID: "v3 inform text"}
    assert received == 2  # the trap with a wrong key never became an event


def _encoded_trap(seq: int) -> bytes:
    """A v2c trap encoded by pysnmp/pyasn1 (not by our codec), carrying `seq`."""
    pdu = v2c.SNMPv2TrapPDU()
    v2c.apiTrapPDU.set_defaults(pdu)
    v2c.apiTrapPDU.set_request_id(pdu, seq + 1)
    v2c.apiTrapPDU.set_varbinds(pdu, [
        (v2c.ObjectIdentifier("1.3.6.1.2.1.1.3.0"), v2c.TimeTicks(seq)),
        (v2c.ObjectIdentifier("1.3.6.1.6.3.1.1.4.1.0"), v2c.ObjectIdentifier(CELL_DOWN)),
        (v2c.ObjectIdentifier(f"{SEV_OID}.{seq}"), v2c.Integer(seq))])
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, COMMUNITY)
    v2c.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


def test_burst_of_1000_traps_none_lost() -> None:
    """1,000 distinct v2c traps sent back to back from one socket (no pacing) all arrive."""
    datagrams = [_encoded_trap(i) for i in range(1000)]

    async def scenario() -> list[Trap]:
        receiver = TrapReceiver("127.0.0.1", 0, communities=[Secret(COMMUNITY)])
        address = await receiver.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for data in datagrams:
                    sender.sendto(data, address)
            return await collect(receiver, 1000)
        finally:
            await receiver.close()

    traps = run(scenario())
    assert sorted(t.uptime or 0 for t in traps) == list(range(1000))
    assert all(t.varbinds == {f"{SEV_OID}.{t.uptime}": t.uptime} for t in traps)


def test_parallel_net_snmp_senders_none_lost() -> None:
    """1,000 traps from net-snmp's snmptrap, 4 sender loops in parallel (one process per
    trap, so ~100-200 traps/s): all arrive, each exactly once."""
    snmptrap = require_tool("snmptrap")

    async def sender(target: str, worker: int) -> None:
        for i in range(250):
            await cli(snmptrap, "-v2c", "-c", COMMUNITY, target, str(worker * 1000 + i),
                      CELL_DOWN)

    async def scenario() -> list[Trap]:
        receiver = TrapReceiver("127.0.0.1", 0, communities=[Secret(COMMUNITY)])
        _, port = await receiver.start()
        try:
            await asyncio.gather(*(sender(f"127.0.0.1:{port}", w) for w in range(4)))
            return await collect(receiver, 1000)
        finally:
            await receiver.close()

    traps = run(scenario(), timeout=90)
    assert sorted(t.uptime or 0 for t in traps) == [w * 1000 + i for w in range(4)
                                                   for i in range(250)]


def _trap(oid: str, varbinds: dict[str, Any]) -> Trap:
    return Trap(time=1.0, source="10.0.0.9", port=162, version="2c", inform=False,
                trap_oid=oid, uptime=1, varbinds=varbinds)


def test_alarm_events_from_profile_rules() -> None:
    generic = load_profile("generic-snmp")
    link = alarm_from_trap("sw1", _trap("1.3.6.1.6.3.1.1.5.3",
                                        {"1.3.6.1.2.1.2.2.1.1.7": 7}), generic.alarms)
    assert (link.severity, link.text, link.source, link.device) == ("major", "link down", "7",
                                                                     "sw1")
    assert link.trap_oid == "1.3.6.1.6.3.1.1.5.3" and link.time == 1.0
    spec = AlarmSpec(traps={CELL_DOWN: {"severity": "minor", "text": "cell down"}},
                     severity_varbind=SEV_OID, severity_values={4: "critical"},
                     text_varbind=TEXT_OID)
    by_varbind = alarm_from_trap("gnb1", _trap(CELL_DOWN, {f"{SEV_OID}.3": 4,
                                                           TEXT_OID: "S1 lost"}), spec)
    assert (by_varbind.severity, by_varbind.text) == ("critical", "S1 lost")
    by_oid = alarm_from_trap("gnb1", _trap(CELL_DOWN, {}), spec)
    assert (by_oid.severity, by_oid.text, by_oid.source) == ("minor", "cell down", "10.0.0.9")
    unknown = alarm_from_trap("gnb1", _trap("1.3.6.1.4.1.9.9.9", {}), None)
    assert (unknown.severity, unknown.text) == ("indeterminate", "trap 1.3.6.1.4.1.9.9.9")
