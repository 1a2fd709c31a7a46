"""Traps are authenticated before they count: real net-snmp `snmptrap` with a forged community
and the right one, malformed v1/v2c traps, unknown senders; per-device and lab-level receivers;
refusals counted in the trial's monitor notes, never raised as alarms.

The old receivers accepted any community (per-device receivers had none configured), listened
on 0.0.0.0 by default and turned a v1 generic-trap of 2^70 or an INTEGER snmpTrapOID into
nonsense trap OIDs.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from drivers.profile import load_profile
from drivers.transport import snmp_ber as ber
from drivers.transport.traps import Trap, TrapReceiver
from harness.base.errors import ConfigError
from harness.base.secrets import Secret
from harness.base.units import Quantity
from harness.config.lab import Lab, TrapSettings
from harness.config.monitors import AlarmMonitorSettings
from harness.engine.bench import Bench
from harness.monitors import TrialScope
from harness.monitors.alarms import AlarmMonitor
from harness.monitors.traps import TrapHub
from tests.conftest import require_tool
from tests.runner_helpers import FAST_LAB
from tests.test_snmp_traps import CELL_DOWN, cli, collect, run

pytestmark = pytest.mark.interop
RIGHT, FORGED = "gnb1-trap-secret", "public"


def v2c_trap(trap_oid_value: bytes, community: bytes = RIGHT.encode()) -> bytes:
    binds = [(ber.encode_oid((1, 3, 6, 1, 2, 1, 1, 3, 0)), b"\x43\x01\x05"),
             (ber.encode_oid((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)), trap_oid_value)]
    return ber.encode_message(1, community, ber.TRAP_V2, 9, binds)


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag, len(content))) + content


def v1_trap(community: bytes, generic: bytes = b"\x06") -> bytes:
    """An SNMPv1 Trap-PDU (enterprise 32473.99, specific-trap 7) with this generic-trap."""
    pdu = (ber.encode_oid((1, 3, 6, 1, 4, 1, 32473, 99)) + tlv(0x40, bytes((127, 0, 0, 1)))
           + tlv(0x02, generic) + tlv(0x02, b"\x07") + tlv(0x43, b"\x37") + tlv(0x30, b""))
    return tlv(0x30, tlv(0x02, b"\x00") + tlv(0x04, community) + tlv(ber.TRAP_V1, pdu))


async def send(address: tuple[str, int], *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for data in datagrams:
            sock.sendto(data, address)
    await asyncio.sleep(0.2)


def test_receiver_refuses_forged_malformed_and_unknown_senders() -> None:
    snmptrap = require_tool("snmptrap")

    async def scenario() -> tuple[list[Trap], TrapReceiver, TrapReceiver]:
        receiver = TrapReceiver("127.0.0.1", 0, sources={"127.0.0.1": [Secret(RIGHT)]})
        elsewhere = TrapReceiver("127.0.0.1", 0, sources={"127.0.0.2": [Secret(RIGHT)]})
        address, other = await receiver.start(), await elsewhere.start()
        try:
            target = f"127.0.0.1:{address[1]}"
            await cli(snmptrap, "-v2c", "-c", FORGED, target, "1", CELL_DOWN)
            await cli(snmptrap, "-v1", "-c", FORGED, target, "1.3.6.1.4.1.32473.99",
                      "127.0.0.1", "6", "7", "55")
            await cli(snmptrap, "-v2c", "-c", RIGHT, target, "4242", CELL_DOWN)
            await send(address, v2c_trap(b"\x02\x01\x05"),  # snmpTrapOID.0 as an INTEGER
                       v1_trap(RIGHT.encode(), generic=b"\x07"),  # generic-trap 7
                       v1_trap(RIGHT.encode(), generic=b"\xfb"),  # generic-trap -5
                       b"\x30\x03\x02\x01")  # truncated
            await cli(snmptrap, "-v2c", "-c", RIGHT, f"127.0.0.1:{other[1]}", "1", CELL_DOWN)
            await cli(snmptrap, "-v1", "-c", RIGHT, target, "1.3.6.1.4.1.32473.99",
                      "127.0.0.1", "6", "7", "56")
            traps = await collect(receiver, 2)
            await asyncio.sleep(0.2)
            return traps, receiver, elsewhere
        finally:
            await receiver.close()
            await elsewhere.close()

    traps, receiver, elsewhere = run(scenario())
    assert [(t.version, t.trap_oid, t.uptime) for t in traps] == [
        ("2c", CELL_DOWN, 4242), ("1", "1.3.6.1.4.1.32473.99.0.7", 56)]
    assert receiver.queue.empty() and receiver.received == 2
    assert dict(receiver.rejections) == {"wrong community": 2, "malformed": 4}
    assert dict(elsewhere.rejections) == {"unknown sender address": 1}


def test_a_receiver_without_communities_accepts_no_v1_v2c_trap() -> None:
    async def scenario() -> TrapReceiver:
        receiver = TrapReceiver("127.0.0.1", 0)
        address = await receiver.start()
        try:
            await send(address, v2c_trap(ber.encode_oid((1, 3, 6, 1, 4, 1, 32473, 1))))
            return receiver
        finally:
            await receiver.close()

    receiver = run(scenario())
    assert receiver.received == 0 and dict(receiver.rejections) == {"wrong community": 1}


def scope(devices: tuple[str, ...]) -> TrialScope:
    return TrialScope("t", 1, devices, 1, "dl", None, {}, lambda samples: None)


def test_device_receiver_counts_forged_traps_in_the_trial_notes_never_as_alarms() -> None:
    snmptrap = require_tool("snmptrap")
    lab = Lab.model_validate({"name": "t", "devices": {"gnb1": {"role": "gnodeb",
                                                                "profile": "sim-gnb"}}})
    bench = Bench(lab=lab)
    bench.gnbs = {"gnb1": SimpleNamespace(profile=load_profile("sim-gnb"))}  # type: ignore[dict-item]

    async def scenario() -> tuple[Any, TrapHub]:
        hub = bench.traps = TrapHub()
        _, port = await hub.listen_device("gnb1", "127.0.0.1", [Secret(RIGHT)])
        monitor = AlarmMonitor(bench, scope(("gnb1",)), AlarmMonitorSettings())
        await monitor.start()
        try:
            for community in (FORGED, FORGED, RIGHT):
                await cli(snmptrap, "-v2c", "-c", community, f"127.0.0.1:{port}", "1", CELL_DOWN)
            for _ in range(50):
                if monitor.traps and hub.rejected == 2:
                    break
                await asyncio.sleep(0.05)
            return await monitor.stop({}), hub
        finally:
            await hub.close()

    report, hub = run(scenario())
    assert report.metrics["alarms.traps"] == Quantity(1.0, "")
    assert report.metrics["alarms.raised"] == Quantity(1.0, "")
    assert "traps refused during the trial (not alarms): 2 wrong community from gnb1" \
        in report.notes
    assert dict(hub.rejections) == {("wrong community", "gnb1"): 2}


def test_lab_receiver_checks_each_device_community_and_address() -> None:
    snmptrap = require_tool("snmptrap")
    lab = Lab.model_validate({"name": "t", "traps": {"listen": "127.0.0.1:0"}, "devices": {
        "gnb1": {"role": "gnodeb", "profile": "sim-gnb", "host": "127.0.0.1"},
        "gnb2": {"role": "gnodeb", "profile": "sim-gnb", "host": "127.0.0.2"}}})
    assert lab.traps is not None
    got: list[tuple[str, Trap]] = []

    async def scenario() -> TrapHub:
        hub = TrapHub()
        hub.subscribe(lambda device, trap: got.append((device, trap)))
        host, port = await hub.listen_lab(lab, lab.traps, {"gnb1": Secret(RIGHT),  # type: ignore[arg-type]
                                                            "gnb2": Secret("gnb2-secret")})
        assert host == "127.0.0.1"
        try:
            target = f"127.0.0.1:{port}"
            await cli(snmptrap, "-v2c", "-c", "gnb2-secret", target, "1", CELL_DOWN)  # gnb2's
            await cli(snmptrap, "-v2c", "-c", FORGED, target, "2", CELL_DOWN)
            await cli(snmptrap, "-v2c", "-c", RIGHT, target, "3", CELL_DOWN)
            for _ in range(50):
                if got and hub.rejected == 2:
                    break
                await asyncio.sleep(0.05)
            return hub
        finally:
            await hub.close()

    hub = run(scenario())
    assert [(device, trap.uptime) for device, trap in got] == [("gnb1", 3)]
    assert dict(hub.rejections) == {("wrong community", "gnb1"): 2}


def test_trap_settings_listen_on_loopback_and_check_the_port() -> None:
    assert TrapSettings().listen == "127.0.0.1:162"
    with pytest.raises((ValueError, ConfigError), match="port number from 1 to 65535"):
        TrapSettings.model_validate({"listen": "127.0.0.1:99999"})


def test_simulated_gnodeb_traps_reach_the_hub_with_its_community(tmp_path: Path) -> None:
    """End to end: the bench gives each simulated gNodeB's receiver that device's community,
    and the virtual gNodeB's real v2c traps are accepted (none refused)."""
    from harness.base.loader import load_model
    from harness.engine.bench import open_bench

    (tmp_path / "lab.yaml").write_text(FAST_LAB, encoding="utf-8")
    lab = load_model(tmp_path / "lab.yaml", Lab)
    got: list[tuple[str, Trap]] = []

    async def scenario() -> int:
        bench = await open_bench(lab, tmp_path)
        try:
            assert bench.traps is not None and bench.sim is not None
            bench.traps.subscribe(lambda device, trap: got.append((device, trap)))
            await bench.sim.fault("gnb1", "alarm", severity="critical", text="trap auth test")
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.05)
            return bench.traps.rejected
        finally:
            await bench.close()

    rejected = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert got and got[0][0] == "gnb1" and rejected == 0
