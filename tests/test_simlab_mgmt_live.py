"""The simulated gNodeB's management plane seen from the outside: traps received by a real
snmptrapd (v2c and v3), PM and IF-MIB counters against iperf3, every fault kind observed with
snmpget/ssh/traffic and cleared, firmware over SFTP and the CLI in the lab process.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
from pathlib import Path

import paramiko
import pytest

from harness.simlab.cli import GnbCli
from harness.simlab.control import SimLabProcess
from harness.simlab.firmware import build_image
from harness.simlab.mib_std import FLASH_SYSTEM_BYTES
from harness.simlab.spec import SimLabSpec, SimTrapTarget
from harness.simlab.traps import engine_id_for
from tests.conftest import free_port
from tests.simlab_mgmt_tools import (
    ALARM_TEXT,
    CELL_CAP_DL,
    CELL_OPER,
    COLD_START,
    ENT_SW_REV_1,
    FW_RESULT,
    IF_HC_IN,
    IF_HC_OUT,
    IF_OPER,
    LINK_DOWN,
    LOCAL,
    NOTIF_SEVERITY,
    NOTIF_TEXT,
    PLMN_DL_OCTETS,
    PM_DL_OCTETS,
    SENSOR_BOARD,
    SIM,
    SYS_UPTIME,
    TRAPS,
    Echo,
    TrapReceiver,
    aget,
    cell_spec,
    gnb_spec,
    iperf3_run,
    iperf3_server,
    parse_snmp_lines,
    relay,
    running,
    sftp_put,
    snmp,
    ssh_client,
    ssh_run,
    udp_echo_rtts,
)

# The live simulated lab, datagrams through its relay (the loss/latency faults are measured):
# with `pytest -n 2` this file runs on the measuring worker (tests/conftest.py).
pytestmark = pytest.mark.e2e

# ---- real tools against a running gNodeB ------------------------------------------------------


def test_traps_reach_snmptrapd_over_v2c_and_v3(tmp_path: Path) -> None:
    async def scenario() -> None:
        name = "gnb-traps"
        async with TrapReceiver(tmp_path, engine_id_for(name)) as trapd:
            targets = [SimTrapTarget(LOCAL, trapd.ports[0], "2c"),
                       SimTrapTarget(LOCAL, trapd.ports[1], "3")]
            async with running(tmp_path, gnb_spec(name, traps=targets)) as g:
                await trapd.wait(COLD_START, "2c")
                await trapd.wait(COLD_START, "3")
                cli = GnbCli(g.gnb)
                assert cli("set cell 1 admin down")[1] == 0
                for version in ("2c", "3"):
                    down = await trapd.wait(TRAPS["simCellDown"], version)
                    assert down.varbinds[NOTIF_SEVERITY] == "2"  # major
                    assert "administratively down" in down.varbinds[NOTIF_TEXT]
                await trapd.wait(LINK_DOWN, "3", where=lambda t: "101" in str(t.varbinds))
                assert cli("set cell 1 admin up")[1] == 0
                up = await trapd.wait(TRAPS["simCellUp"], "3")
                assert up.varbinds[NOTIF_SEVERITY] == "5"  # cleared
                assert cli("set cell 1 bler 0.25")[1] == 0
                await trapd.wait(TRAPS["simExcessiveBler"], "3")
                g.gnb.inject_fault("overheat", celsius=60)
                await trapd.wait(TRAPS["simHighTemperature"], "2c")
                g.gnb.inject_fault("link-down")
                await trapd.wait(TRAPS["simLinkDown"], "3")
                await trapd.wait(LINK_DOWN, "2c", where=lambda t: any(
                    k.endswith(".2") and k.startswith("1.3.6.1.2.1.2.2.1.1.")
                    for k in t.varbinds))
                g.gnb.inject_fault("alarm", text="door open")
                raised = await trapd.wait(TRAPS["simAlarmRaised"], "3")
                assert raised.varbinds[NOTIF_TEXT] == "door open"
                g.gnb.clear_faults()
                await trapd.wait(TRAPS["simLinkUp"], "2c")
                await trapd.wait(TRAPS["simAlarmCleared"], "3")
                # The trap target table is visible over SNMP, and the CLI can remove one.
                walk = await asyncio.to_thread(snmp, "snmpwalk", g.spec.snmp_port, SIM + ".7")
                assert str(trapd.ports[1]) in walk.stdout
                assert cli(f"no snmp trap-target {LOCAL} {trapd.ports[0]}")[1] == 0
                before = list(trapd.traps)
                assert cli("set cell 1 admin down")[1] == 0
                await trapd.wait(TRAPS["simCellDown"], "3", where=lambda t: t not in before)
                await asyncio.sleep(0.3)
                assert all(t.version == "3" for t in trapd.traps[len(before):])

    asyncio.run(scenario())


def test_counters_and_if_mib_agree_with_iperf3(tmp_path: Path) -> None:
    async def scenario() -> None:
        dn_port = free_port()
        spec = gnb_spec("gnb-counters", relays=[relay(dn_port)])
        async with running(tmp_path, spec) as g, iperf3_server(dn_port):
            received, _ = await iperf3_run(spec.relays[0].listen_port, seconds=3)
            port = spec.snmp_port
            values = await aget(port, PM_DL_OCTETS.format(cell=1), IF_HC_OUT.format(index=101),
                                IF_HC_IN.format(index=2), v3=True)
            for oid, text in values.items():
                assert received <= int(text) <= received * 1.02, (oid, text, received)
            walk = await asyncio.to_thread(snmp, "snmpbulkwalk", port, "1.3.6.1.2.1.31.1.1.1.1")
            names = sorted(parse_snmp_lines(walk.stdout).values())
            assert names == ["cell1", "mgmt0", "n3"]
            table = parse_snmp_lines((await asyncio.to_thread(
                snmp, "snmpbulkwalk", port, "1.3.6.1.2.1.2.2.1")).stdout)
            assert [table[IF_OPER.format(index=i)] for i in (1, 2, 101)] == ["1", "1", "1"]
            assert int(table["1.3.6.1.2.1.2.2.1.16.101"]) == int(values[
                IF_HC_OUT.format(index=101)]) % 2**32
            for subtree, expect in (("1.3.6.1.2.1.47.1.1.1.1.7", "RU1"),
                                    ("1.3.6.1.2.1.25.2.3.1.3", "Physical memory"),
                                    ("1.3.6.1.2.1.99.1.1.1.6", "degrees C")):
                out = (await asyncio.to_thread(snmp, "snmpbulkwalk", port, subtree)).stdout
                assert expect in out, subtree
            g.gnb.tick()
            after = await aget(port, SIM + ".3.1.11.1", "1.3.6.1.2.1.25.2.3.1.6.2")
            assert int(after["1.3.6.1.2.1.25.2.3.1.6.2"]) == FLASH_SYSTEM_BYTES // 4096

    asyncio.run(scenario())


def test_per_plmn_counters_split_as_configured(tmp_path: Path) -> None:
    async def scenario() -> None:
        ports = free_port(), free_port()
        cells = [cell_spec(plmns=("452-01", "452-02"), shares={"452-01": 0.7, "452-02": 0.3})]
        relays = [relay(ports[0], plmn="452-01"), relay(ports[1], plmn="452-02")]
        spec = gnb_spec("gnb-mocn", cells=cells, relays=relays)
        async with running(tmp_path, spec), iperf3_server(ports[0]), iperf3_server(ports[1]):
            runs = await asyncio.gather(*(iperf3_run(r.listen_port, seconds=3) for r in relays))
            values = await aget(spec.snmp_port, PM_DL_OCTETS.format(cell=1),
                                *(PLMN_DL_OCTETS.format(plmn=i, cell=1) for i in (1, 2)))
            cell_total, first, second = (int(v) for v in values.values())
            assert first + second == cell_total
            for counted, (received, _) in zip((first, second), runs, strict=True):
                assert received <= counted <= received * 1.02
            assert first / cell_total == pytest.approx(0.7, abs=0.05)

    asyncio.run(scenario())


# ---- faults seen from the outside ----------------------------------------------------------------


def test_snmp_faults_time_out_or_answer_errors_then_clear(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, gnb_spec("gnb-snmp-faults")) as g:
            port = g.spec.snmp_port
            g.gnb.inject_fault("snmp-silent", duration_s=1.0)
            silent = await asyncio.to_thread(snmp, "snmpget", port, SYS_UPTIME)
            assert silent.returncode != 0 and "Timeout" in silent.stderr
            await asyncio.sleep(0.5)
            assert (await aget(port, SYS_UPTIME))  # cleared by itself
            assert g.gnb.active_faults() == []
            g.gnb.inject_fault("snmp-error")
            error = await asyncio.to_thread(snmp, "snmpget", port, SYS_UPTIME, v3=True)
            assert error.returncode != 0 and "genError" in error.stderr
            g.gnb.clear_faults("snmp-error")
            assert (await aget(port, SYS_UPTIME, v3=True))

    asyncio.run(scenario())


def test_ssh_faults_refuse_and_drop_then_clear(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, gnb_spec("gnb-ssh-faults")) as g:
            port = g.spec.ssh_port
            g.gnb.inject_fault("ssh-refuse", duration_s=0.8)
            with pytest.raises(paramiko.AuthenticationException):
                await asyncio.to_thread(ssh_client, port)
            await asyncio.sleep(1.1)  # expiry is checked every 0.25 s
            assert (await asyncio.to_thread(ssh_run, port, "show version"))[0] == 0
            session = await asyncio.to_thread(ssh_client, port)
            try:
                g.gnb.inject_fault("ssh-drop")
                await asyncio.sleep(0.3)
                transport = session.get_transport()
                assert transport is None or not transport.is_active()
                with pytest.raises((paramiko.SSHException, OSError, EOFError)):
                    await asyncio.to_thread(ssh_run, port, "show version")
            finally:
                session.close()
            g.gnb.clear_faults()
            assert (await asyncio.to_thread(ssh_run, port, "show version"))[0] == 0

    asyncio.run(scenario())


def test_cell_faults_stop_and_slow_the_user_plane(tmp_path: Path) -> None:
    async def scenario() -> None:
        dn_port = free_port()
        spec = gnb_spec("gnb-cell-faults", relays=[relay(dn_port)])
        async with running(tmp_path, spec) as g, iperf3_server(dn_port):
            port, relay_port = spec.snmp_port, spec.relays[0].listen_port
            capacity = g.gnb.cells[1].config.capacity_bps("dl")
            g.gnb.inject_fault("cell-outage", cell=1)
            down = await aget(port, CELL_OPER.format(cell=1), IF_OPER.format(index=101),
                              CELL_CAP_DL.format(cell=1))
            assert list(down.values()) == ["2", "2", "0"]
            g.gnb.clear_faults()
            g.gnb.inject_fault("degrade", factor=0.25)
            _, bps = await iperf3_run(relay_port)
            assert bps == pytest.approx(capacity * 0.25, rel=0.08)
            g.gnb.clear_faults("degrade")
            assert (await aget(port, CELL_OPER.format(cell=1)))[CELL_OPER.format(cell=1)] == "1"

    asyncio.run(scenario())


def test_loss_and_latency_faults_on_datagrams(tmp_path: Path) -> None:
    async def scenario() -> None:
        dn_port = free_port(socket.SOCK_DGRAM)
        spec = gnb_spec("gnb-udp-faults", relays=[relay(dn_port)])
        loop = asyncio.get_running_loop()
        echo, _ = await loop.create_datagram_endpoint(Echo, local_addr=(LOCAL, dn_port))
        try:
            async with running(tmp_path, spec) as g:
                relay_port = spec.relays[0].listen_port
                g.gnb.inject_fault("loss", ratio=0.3, duration_s=3)
                lossy = await udp_echo_rtts(relay_port, 300)
                assert 0.35 <= len(lossy) / 300 <= 0.63  # 0.7 × 0.7 = 0.49 arrive
                g.gnb.tick()
                ppm = await aget(spec.snmp_port, SIM + ".3.1.13.1")
                assert 200_000 <= int(ppm[SIM + ".3.1.13.1"]) <= 400_000  # 30 % of the UL
                g.gnb.clear_faults("loss")
                await asyncio.sleep(0.05)  # faults reach the relay's C core within 10 ms
                base = await udp_echo_rtts(relay_port, 100)
                assert len(base) >= 98
                g.gnb.inject_fault("latency", delay_ms=20)
                slow = await udp_echo_rtts(relay_port, 60)
                # One-way core delay in each direction: the RTT grows by 2 × 20 ms.
                grown = statistics.median(slow) - statistics.median(base)
                assert grown == pytest.approx(40, abs=6)
                g.gnb.clear_faults()
                assert len(await udp_echo_rtts(relay_port, 60)) >= 58
        finally:
            echo.close()

    asyncio.run(scenario())


def test_alarm_link_and_overheat_faults_show_in_the_mib(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, gnb_spec("gnb-mib-faults")) as g:
            port = g.spec.snmp_port
            g.gnb.inject_fault("alarm", severity="critical", text="fan tray missing",
                               duration_s=1.0)
            g.gnb.inject_fault("link-down", duration_s=1.0)
            g.gnb.inject_fault("overheat", celsius=45, duration_s=1.0)
            walk = await asyncio.to_thread(snmp, "snmpwalk", port, ALARM_TEXT)
            assert "fan tray missing" in walk.stdout and "n3 link down" in walk.stdout
            assert "temperature" in walk.stdout
            values = await aget(port, IF_OPER.format(index=2), SENSOR_BOARD)
            assert values[IF_OPER.format(index=2)] == "2"
            assert int(values[SENSOR_BOARD]) >= 750
            await asyncio.sleep(1.3)
            after = await asyncio.to_thread(snmp, "snmpwalk", port, ALARM_TEXT)
            assert after.returncode == 0 and ALARM_TEXT + "." not in after.stdout  # no rows
            assert (await aget(port, IF_OPER.format(index=2)))[IF_OPER.format(index=2)] == "1"

    asyncio.run(scenario())


# ---- firmware upgrade end to end, in the lab process ---------------------------------------------


def test_firmware_upgrade_over_sftp_and_cli(tmp_path: Path) -> None:
    async def scenario() -> None:
        name = "gnb-fw"
        async with TrapReceiver(tmp_path, engine_id_for(name)) as trapd:
            spec = gnb_spec(name, traps=[SimTrapTarget(LOCAL, trapd.ports[0], "3")],
                            reboot_s=1.5)
            lab_spec = SimLabSpec(gnbs=[spec], state_dir=str(tmp_path / "lab"))
            async with SimLabProcess(lab_spec) as lab:
                ssh_port, snmp_port = lab.gnbs[name].ssh[1], lab.gnbs[name].snmp[1]
                # Faults reach the lab process over its control channel.
                await lab.fault(name, "snmp-error")
                error = await asyncio.to_thread(snmp, "snmpget", snmp_port, SYS_UPTIME)
                assert error.returncode != 0 and "genError" in error.stderr
                await lab.clear(name)
                good = build_image("2.0.0", os.urandom(200_000))
                bad = bytearray(good)
                bad[1000] ^= 0xFF
                uploaded = await asyncio.to_thread(sftp_put, ssh_port, {
                    "fw-2.0.0.img": good, "fw-bad.img": bytes(bad), "../escape.img": b"x"})
                assert uploaded == {"fw-2.0.0.img": "ok", "fw-bad.img": "ok",
                                    "../escape.img": "PermissionError"}
                assert not (tmp_path / "lab" / "escape.img").exists()
                # A corrupt image: refused, alarm + trap, the version stays.
                status, out = await asyncio.to_thread(ssh_run, ssh_port,
                                                      "install firmware fw-bad.img")
                assert status == 1 and "refused" in out
                trap = await trapd.wait(TRAPS["simFirmwareInstallResult"], "3")
                assert trap.varbinds[FW_RESULT] == "3"  # failure
                alarms = await asyncio.to_thread(snmp, "snmpwalk", snmp_port, ALARM_TEXT)
                assert "fw-bad.img refused" in alarms.stdout
                assert (await aget(snmp_port, ENT_SW_REV_1))[ENT_SW_REV_1] == "1.0.0"
                # A good one: verified, reboot (SNMP away), back with the new version.
                status, out = await asyncio.to_thread(ssh_run, ssh_port,
                                                      "install firmware fw-2.0.0.img")
                assert status == 0 and "2.0.0 verified" in out
                await asyncio.sleep(0.6)
                away = await asyncio.to_thread(snmp, "snmpget", snmp_port, SYS_UPTIME)
                assert away.returncode != 0 and "Timeout" in away.stderr
                ok = await trapd.wait(TRAPS["simFirmwareInstallResult"], "3", timeout_s=8,
                                      where=lambda t: t.varbinds.get(FW_RESULT) == "2")
                assert ok.varbinds[SIM + ".5.1.0"] == "2.0.0"
                values = await aget(snmp_port, ENT_SW_REV_1, SYS_UPTIME, v3=True)
                assert values[ENT_SW_REV_1] == "2.0.0"
                ticks = int(values[SYS_UPTIME].split(")")[0].lstrip("("))  # "(57) 0:00:00.57"
                assert ticks < 500  # sysUpTime restarted with the reboot
                alarms = await asyncio.to_thread(snmp, "snmpwalk", snmp_port, ALARM_TEXT)
                assert "refused" not in alarms.stdout
                assert "2.0.0" in (await asyncio.to_thread(ssh_run, ssh_port, "show version"))[1]

    asyncio.run(scenario())
