"""The simulated lab: the gNodeB CLI and MIB, the shaped relay under real iperf3, the lab process.

Expected capacities are computed here from `Carrier` and `tdd_share`, not read back from the
simulator, so a simulator that drifts from TS 38.306 fails these tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from drivers.hosts.iperf3 import (
    Iperf3Options,
    Iperf3Result,
    client_argv,
    parse_result,
    server_argv,
)
from drivers.transport.snmp import SnmpTarget, SnmpTransport, SnmpV3User
from drivers.transport.ssh import SshTarget, SshTransport
from harness.base.errors import HarnessError
from harness.base.nr_peak import Carrier, tdd_share
from harness.base.secrets import Secret
from harness.simlab.cli import GnbCli
from harness.simlab.control import SimLabProcess
from harness.simlab.gnb import CellConfig, GnbIdentity, VirtualGnb
from harness.simlab.mib import snapshot
from harness.simlab.relay import Direction, RateLimiter, TcpRelay
from harness.simlab.spec import SimCell, SimCredentials, SimGnbSpec, SimLabSpec, SimRelay
from tests.conftest import free_port, require_tool
from tests.processes import stop_process, wait_listening

ROOT = Path(__file__).resolve().parent.parent
LOCAL = "127.0.0.1"

SYS_NAME = "1.3.6.1.2.1.1.5.0"
ENT_SERIAL_1 = "1.3.6.1.2.1.47.1.1.1.1.11.1"
CELL_BW = "1.3.6.1.4.1.32473.1.2.1.2.{cell}"
CELL_CAP_DL_KBPS = "1.3.6.1.4.1.32473.1.2.1.11.{cell}"
PM_DL_OCTETS = "1.3.6.1.4.1.32473.1.3.1.1.{cell}"
PM_UL_OCTETS = "1.3.6.1.4.1.32473.1.3.1.2.{cell}"


def oid(text: str, cell: int = 1) -> tuple[int, ...]:
    return tuple(int(p) for p in text.format(cell=cell).split("."))


def expected_bps(bandwidth: int, direction: str, *, tdd: str = "DDDSU",
                 special: str | None = "10:2:2", layers: int | None = None,
                 modulation: str | None = None) -> float:
    """TS 38.306 peak × TDD share for a 30 kHz FR1 carrier, computed independently."""
    if layers is None:
        layers = 4 if direction == "dl" else 1
    if modulation is None:
        modulation = "256qam" if direction == "dl" else "64qam"
    peak = Carrier(bandwidth, 30, layers, modulation, direction).peak_mbps()
    return peak * tdd_share(tdd, special, direction) * 1e6


def make_gnb(name: str = "gnb-unit") -> VirtualGnb:
    identity = GnbIdentity(name=name, serial="SIM-T-0042", firmware="9.8.7")
    return VirtualGnb(identity, [CellConfig(id=1), CellConfig(id=2, bandwidth_mhz=40)])


# ---- GnbCli ----------------------------------------------------------------------------------

def test_show_version_and_show_cell() -> None:
    cli = GnbCli(make_gnb())
    out, status = cli("show version")
    assert status == 0
    assert "SIM-T-0042" in out and "9.8.7" in out and "SimGNB-1" in out
    out, status = cli("show cell 2")
    assert status == 0
    row = out.splitlines()[1].split()
    assert row[:4] == ["2", "up", "40", "30"]
    assert f"{expected_bps(40, 'dl') / 1e6:.1f}/{expected_bps(40, 'ul') / 1e6:.1f}" in out
    out, status = cli("show cell")
    assert status == 0 and len(out.splitlines()) == 3  # header + two cells


def test_default_cell_capacity_is_ts38306_peak_times_tdd_share() -> None:
    gnb = make_gnb()
    cfg = gnb.cells[1].config
    assert cfg.capacity_bps("dl") == pytest.approx(expected_bps(100, "dl"), rel=1e-9)
    assert cfg.capacity_bps("ul") == pytest.approx(expected_bps(100, "ul"), rel=1e-9)
    # DOMAIN.md §1 worked example: ≈ 1,736 Mbit/s DL, ≈ 107 Mbit/s UL.
    assert cfg.capacity_bps("dl") / 1e6 == pytest.approx(1736, abs=1)
    assert cfg.capacity_bps("ul") / 1e6 == pytest.approx(107, abs=0.5)


def test_set_bandwidth_changes_capacity_and_shapers() -> None:
    gnb = make_gnb()
    cli = GnbCli(gnb)
    out, status = cli("set cell 1 bandwidth 20")
    assert (out, status) == ("Cell 1: bandwidth set\n", 0)
    runtime = gnb.cells[1]
    assert runtime.config.bandwidth_mhz == 20
    for direction in ("dl", "ul"):
        want = expected_bps(20, direction)
        assert runtime.config.capacity_bps(direction) == pytest.approx(want, rel=1e-9)
    assert runtime.downlink.limiter.rate_bps == pytest.approx(expected_bps(20, "dl"), rel=1e-9)
    assert runtime.uplink.limiter.rate_bps == pytest.approx(expected_bps(20, "ul"), rel=1e-9)
    # The other cell is untouched.
    assert gnb.cells[2].config.bandwidth_mhz == 40


@pytest.mark.parametrize("command", [
    "set cell 1 bandwidth 33",          # not an NR channel bandwidth at 30 kHz
    "set cell 1 bandwidth twenty",
    "set cell 9 bandwidth 20",          # unknown cell
    "show cell 9",
    "reboot now",                       # unknown command
    "set cell 1 layers dl 9",           # more than 8 layers
    "set cell 1 layers dl 0",
    "set cell 1 layers both 2",
    "set cell 1 scs 45",
    "set cell 1 modulation dl 512qam",
    "set cell 1 special 10:2:3",        # does not add up to 14 symbols
    "set cell 1 tdd DXSU",
    "set cell 1 admin sideways",
    "set cell 1 bandwidth",
    "set cell 1 'unterminated",
])
def test_refused_command_reports_error_and_changes_nothing(command: str) -> None:
    gnb = make_gnb()
    cli = GnbCli(gnb)
    before = {cid: dataclasses.replace(c.config) for cid, c in gnb.cells.items()}
    rates = {cid: (c.downlink.limiter.rate_bps, c.uplink.limiter.rate_bps)
             for cid, c in gnb.cells.items()}
    out, status = cli(command)
    assert status == 1
    assert out.startswith("% ") and out.endswith("\n") and len(out.strip()) > 4
    assert {cid: c.config for cid, c in gnb.cells.items()} == before
    assert {cid: (c.downlink.limiter.rate_bps, c.uplink.limiter.rate_bps)
            for cid, c in gnb.cells.items()} == rates


def test_error_messages_name_the_problem() -> None:
    cli = GnbCli(make_gnb())
    out, _ = cli("set cell 1 bandwidth 33")
    assert "33" in out and "100" in out  # names the bad value and lists the allowed ones
    out, _ = cli("set cell 9 bandwidth 20")
    assert "no cell 9" in out and "1, 2" in out
    out, _ = cli("set cell 1 layers dl 9")
    assert "1..8" in out


def test_admin_down_and_up() -> None:
    gnb = make_gnb()
    cli = GnbCli(gnb)
    assert cli("set cell 1 admin down")[1] == 0
    cell = gnb.cells[1]
    assert cell.config.capacity_bps("dl") == 0.0 and cell.config.capacity_bps("ul") == 0.0
    assert cell.downlink.limiter.rate_bps == 0.0 and cell.uplink.limiter.rate_bps == 0.0
    assert cli("show cell 1")[0].splitlines()[1].split()[1] == "down"
    assert cell.prb_used("dl") == 0
    assert cli("set cell 1 admin up")[1] == 0
    assert cell.downlink.limiter.rate_bps == pytest.approx(expected_bps(100, "dl"), rel=1e-9)


@pytest.mark.parametrize(("command", "tdd", "special"), [
    ("set cell 1 special 6:4:4", "DDDSU", "6:4:4"),
    ("set cell 1 tdd DDDDU", "DDDDU", None),              # no S slot: the split is dropped
    ("set cell 1 tdd dddsuu 10:2:2", "DDDSUU", "10:2:2"),
    ("set cell 1 tdd DDDSUDDSUU 10:2:2", "DDDSUDDSUU", "10:2:2"),
])
def test_tdd_and_special_change_the_share(command: str, tdd: str, special: str | None) -> None:
    gnb = make_gnb()
    out, status = GnbCli(gnb)(command)
    assert status == 0, out
    cfg = gnb.cells[1].config
    assert (cfg.tdd, cfg.special) == (tdd, special)
    for direction in ("dl", "ul"):
        want = expected_bps(100, direction, tdd=tdd, special=special)
        assert cfg.capacity_bps(direction) == pytest.approx(want, rel=1e-9)
        assert want != pytest.approx(expected_bps(100, direction), rel=1e-3)


def test_layers_and_modulation_change_capacity() -> None:
    gnb = make_gnb()
    cli = GnbCli(gnb)
    assert cli("set cell 1 layers dl 2")[1] == 0
    assert cli("set cell 1 modulation ul 256QAM")[1] == 0
    cfg = gnb.cells[1].config
    assert cfg.capacity_bps("dl") == pytest.approx(expected_bps(100, "dl", layers=2), rel=1e-9)
    assert cfg.capacity_bps("ul") == pytest.approx(
        expected_bps(100, "ul", modulation="256qam"), rel=1e-9)


# ---- MIB snapshot ----------------------------------------------------------------------------

def test_snapshot_identity_and_cell_objects() -> None:
    gnb = make_gnb("gnb-mib")
    oids = snapshot(gnb)
    assert oids[oid(SYS_NAME)] == ("OctetString", "gnb-mib")
    assert oids[oid(ENT_SERIAL_1)] == ("OctetString", "SIM-T-0042")
    assert oids[oid(CELL_BW, 1)] == ("Integer", 100)
    assert oids[oid(CELL_BW, 2)] == ("Integer", 40)
    kind, kbps = oids[oid(CELL_CAP_DL_KBPS, 1)]
    assert kind == "Gauge32" and kbps == round(expected_bps(100, "dl") / 1000)
    assert oids[oid(PM_DL_OCTETS, 1)] == ("Counter64", 0)
    assert oids[oid(PM_UL_OCTETS, 1)] == ("Counter64", 0)


def test_snapshot_counters_follow_direction_count() -> None:
    gnb = make_gnb()
    seen: list[int] = []
    gnb.cells[1].downlink.on_bytes.append(seen.append)
    gnb.cells[1].downlink.count(1500)
    gnb.cells[1].downlink.count(64 * 1024)
    gnb.cells[1].uplink.count(40)
    oids = snapshot(gnb)
    assert oids[oid(PM_DL_OCTETS, 1)] == ("Counter64", 1500 + 64 * 1024)
    assert oids[oid(PM_UL_OCTETS, 1)] == ("Counter64", 40)
    assert oids[oid(PM_DL_OCTETS, 2)] == ("Counter64", 0)
    assert seen == [1500, 64 * 1024]
    # Counter64 wraps like the real thing.
    gnb.cells[2].uplink.count(2**64 + 7)
    assert snapshot(gnb)[oid(PM_UL_OCTETS, 2)] == ("Counter64", 7)


def test_snapshot_follows_cli_changes() -> None:
    gnb = make_gnb()
    GnbCli(gnb)("set cell 1 bandwidth 20")
    assert snapshot(gnb)[oid(CELL_BW, 1)] == ("Integer", 20)


def test_profile_oids_are_all_answered() -> None:
    """Every OID the sim-gnb profile reads exists in the MIB (else KPIs come back empty)."""
    profile = yaml.safe_load((ROOT / "drivers/profiles/sim-gnb.yaml").read_text("utf-8"))
    oids = snapshot(make_gnb())
    wanted = [f["oid"] for f in profile["facts"].values()]
    wanted += [p["oid"] for p in profile["cell_params"].values()]
    wanted += [k["oid"] for k in profile["kpis"].values()]
    missing = [w for w in wanted if oid(w.lstrip("."), 1) not in oids]
    assert not missing
    assert oid(profile["cells_oid"] + ".1") in oids


# ---- RateLimiter + TcpRelay with real iperf3 -------------------------------------------------

async def iperf3_through_relay(iperf3: str, direction: str, rate_bps: float,
                               streams: int = 1) -> tuple[Iperf3Result, Direction, Direction]:
    """One 2 s iperf3 run through an in-process TcpRelay shaped to `rate_bps` in `direction`."""
    server_port, relay_port = free_port(), free_port()
    server = await asyncio.create_subprocess_exec(
        *server_argv(server_port, bind=LOCAL, binary=iperf3),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    other = 2e9  # the opposite direction carries only control-connection bytes
    downlink = Direction(RateLimiter(rate_bps if direction == "dl" else other))
    uplink = Direction(RateLimiter(rate_bps if direction == "ul" else other))
    relay = TcpRelay(listen=(LOCAL, relay_port), target=(LOCAL, server_port),
                     uplink=uplink, downlink=downlink)
    try:
        await wait_listening(server_port)
        await relay.start()
        opts = Iperf3Options(host=LOCAL, port=relay_port, direction=direction, streams=streams,
                             duration_s=2)
        client = await asyncio.create_subprocess_exec(
            *client_argv(opts, binary=iperf3),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(client.communicate(), timeout=20)
        finally:
            await stop_process(client)
    finally:
        await relay.stop()
        await stop_process(server)
    assert client.returncode == 0, (out.decode()[-500:], err.decode())
    return parse_result(out.decode(), direction=direction), uplink, downlink


@pytest.mark.parametrize(("direction", "rate_mbps"), [("dl", 300.0), ("ul", 50.0)])
def test_relay_shapes_iperf3_to_the_limiter_rate(direction: str, rate_mbps: float) -> None:
    iperf3 = require_tool("iperf3")
    result, uplink, downlink = asyncio.run(
        iperf3_through_relay(iperf3, direction, rate_mbps * 1e6))
    measured_mbps = result.bits_per_second_received / 1e6
    assert measured_mbps == pytest.approx(rate_mbps, rel=0.05)
    # The relay counted what it forwarded: at least what iperf3 received, and not much more
    # (the control connection adds a few kB; bytes in flight at the end add a little).
    counted = (downlink if direction == "dl" else uplink).bytes
    assert result.bytes_received <= counted <= result.bytes_received * 1.02
    # The other direction carried only the control connection.
    opposite = uplink if direction == "dl" else downlink
    assert 0 < opposite.bytes < 64 * 1024


def test_relay_shares_one_limiter_between_parallel_streams() -> None:
    iperf3 = require_tool("iperf3")
    result, _, downlink = asyncio.run(iperf3_through_relay(iperf3, "dl", 200e6, streams=4))
    assert result.streams == 4
    assert result.bits_per_second_received / 1e6 == pytest.approx(200, rel=0.05)
    # the relay delivered all iperf3 counted; more only by what was still in the receiving
    # sockets when iperf3 stopped counting (up to ~1 MB seen on a busy machine)
    assert result.bytes_received <= downlink.bytes <= result.bytes_received * 1.02 + (2 << 20)


def test_relay_to_closed_target_closes_the_ue_side() -> None:
    async def scenario() -> bytes:
        relay_port, dead_port = free_port(), free_port()
        relay = TcpRelay(listen=(LOCAL, relay_port), target=(LOCAL, dead_port),
                         uplink=Direction(RateLimiter(1e6)), downlink=Direction(RateLimiter(1e6)))
        await relay.start()
        try:
            reader, writer = await asyncio.open_connection(LOCAL, relay_port)
            data = await asyncio.wait_for(reader.read(100), timeout=5)
            writer.close()
            return data
        finally:
            await relay.stop()

    assert asyncio.run(scenario()) == b""


def test_rate_limiter_paces_acquire() -> None:
    async def scenario() -> float:
        limiter = RateLimiter(8e6)  # 1 MB/s
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(20):
            await limiter.acquire(25_000)  # 500 kB in all
        return loop.time() - start

    elapsed = asyncio.run(scenario())
    # 500 kB at 1 MB/s: never early (beyond the 4 ms burst), a little late on a busy machine.
    assert 0.49 <= elapsed <= 0.7


# ---- SimLabProcess end to end ----------------------------------------------------------------

GNB = "gnb-e2e"
CREDS = SimCredentials(community="sim-community-7", v3_user="harness", auth_key="auth-key-1234",
                       priv_key="priv-key-5678", ssh_user="admin", ssh_password="gnb-pass-9")


def lab_spec(tmp: Path, *, snmp_port: int | None = None, ssh_port: int | None = None,
             relay_port: int | None = None, target_port: int | None = None) -> SimLabSpec:
    cell = SimCell(id=1, bandwidth_mhz=100, scs_khz=30, tdd="DDDSU", special="10:2:2",
                   layers_dl=4, layers_ul=1, modulation_dl="256qam", modulation_ul="64qam",
                   plmns=["452-02"], pci=7)
    relay = SimRelay(dn="dn1", target_host=LOCAL, target_port=target_port or free_port(),
                     listen_port=relay_port or free_port(), cell=1)
    gnb = SimGnbSpec(name=GNB, host=LOCAL,
                     snmp_port=snmp_port or free_port(socket.SOCK_DGRAM),
                     ssh_port=ssh_port or free_port(), credentials=CREDS, cells=[cell],
                     relays=[relay], serial="SIM-E2E-0001", firmware="4.5.6", model="SimGNB-1")
    return SimLabSpec(gnbs=[gnb], state_dir=str(tmp / "simlab"))


def snmpget(port: int, oid_text: str, *version_args: str) -> str:
    binary = require_tool("snmpget")
    proc = subprocess.run(
        [binary, *version_args, "-On", "-t", "2", "-r", "1", f"{LOCAL}:{port}", oid_text],
        capture_output=True, text=True, timeout=15, check=False,
        env={**os.environ, "MIBS": ""})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def v3_args(creds: SimCredentials = CREDS) -> list[str]:
    return ["-v3", "-l", "authPriv", "-u", creds.v3_user, "-a", "SHA-256", "-A", creds.auth_key,
            "-x", "AES", "-X", creds.priv_key]


def simlab_children() -> list[int]:
    """Processes this test process spawned that are a simulated lab (alive or unreaped)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = re.search(r"^PPid:\s+(\d+)", status, re.M)
        if ppid is None or int(ppid.group(1)) != me:
            continue
        zombie = re.search(r"^State:\s+Z", status, re.M) is not None
        if b"harness.simlab" in cmdline or zombie:
            found.append(int(entry.name))
    return found


def port_free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            # As a restarted server would bind: TIME_WAIT leftovers do not count as taken.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOCAL, port))
        except OSError:
            return False
        return True


def ssh_target(tmp: Path, port: int, host_key_line: str) -> SshTarget:
    known = tmp / "known_hosts"
    known.write_text(f"[{LOCAL}]:{port} {host_key_line}\n", encoding="utf-8")
    return SshTarget(host=LOCAL, port=port, user=CREDS.ssh_user,
                     password=Secret(CREDS.ssh_password), host_key="verify",
                     known_hosts=str(known), timeout_s=5.0, command_timeout_s=5.0)


def snmp_v3_target(port: int) -> SnmpTarget:
    user = SnmpV3User(user=CREDS.v3_user, auth_protocol="SHA-256",
                      auth_key=Secret(CREDS.auth_key), priv_protocol="AES-128",
                      priv_key=Secret(CREDS.priv_key))
    return SnmpTarget(host=LOCAL, port=port, version="3", v3=user, timeout_s=2.0, retries=1)


@pytest.mark.e2e
def test_lab_answers_snmp_v3_and_v2c(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with SimLabProcess(lab_spec(tmp_path)) as lab:
            ep = lab.gnbs[GNB]
            port = ep.snmp[1]
            out = await asyncio.to_thread(snmpget, port, SYS_NAME, *v3_args())
            assert out == f'.{SYS_NAME} = STRING: "{GNB}"'
            out = await asyncio.to_thread(snmpget, port, ENT_SERIAL_1, "-v2c", "-c",
                                          CREDS.community)
            assert out == f'.{ENT_SERIAL_1} = STRING: "SIM-E2E-0001"'
            out = await asyncio.to_thread(snmpget, port, PM_DL_OCTETS.format(cell=1),
                                          *v3_args())
            assert "Counter64: 0" in out
            # A wrong community gets no answer at all, as on a real agent.
            bad = await asyncio.to_thread(
                subprocess.run,
                [require_tool("snmpget"), "-v2c", "-c", "wrong-community", "-On", "-t", "1",
                 "-r", "0", f"{LOCAL}:{port}", SYS_NAME],
                capture_output=True, text=True, timeout=10, check=False,
                env={**os.environ, "MIBS": ""})
            assert bad.returncode != 0 and "Timeout" in bad.stderr

    asyncio.run(scenario())
    # net-snmp kept its persistent state (engine boots) in the suite's directory, not in the
    # machine's /var/lib/snmp, where a stale file once broke every later `snmpget -v3`
    persist = Path(os.environ["SNMP_PERSISTENT_DIR"])
    assert persist != Path("/var/lib/snmp") and (persist / "cert_indexes").is_dir()


@pytest.mark.e2e
def test_lab_cli_over_ssh_changes_what_snmp_reads(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with SimLabProcess(lab_spec(tmp_path)) as lab:
            ep = lab.gnbs[GNB]
            assert ep.ssh_host_key.startswith("ssh-")
            target = ssh_target(tmp_path, ep.ssh[1], ep.ssh_host_key)
            snmp = SnmpTransport(snmp_v3_target(ep.snmp[1]), device=GNB)
            try:
                async with SshTransport(target, device=GNB) as ssh:
                    version = await ssh.run("show version")
                    assert version.ok and "4.5.6" in version.stdout
                    assert "SIM-E2E-0001" in version.stdout
                    bw, cap = CELL_BW.format(cell=1), CELL_CAP_DL_KBPS.format(cell=1)
                    assert (await snmp.get([bw]))[bw] == 100
                    changed = await ssh.run("set cell 1 bandwidth 20")
                    assert changed.ok, changed.stdout + changed.stderr
                    values = await snmp.get([bw, cap])
                    assert values[bw] == 20
                    assert values[cap] == round(expected_bps(20, "dl") / 1000)
                    refused = await ssh.run("set cell 1 bandwidth 33")
                    assert refused.exit_status == 1
                    assert (refused.stdout + refused.stderr).startswith("% ")
                    assert (await snmp.get([bw]))[bw] == 20
            finally:
                await snmp.close()

    asyncio.run(scenario())


@pytest.mark.e2e
def test_lab_stop_leaves_no_process_and_frees_ports(tmp_path: Path) -> None:
    iperf3 = require_tool("iperf3")

    async def scenario() -> None:
        dn_port = free_port()
        spec = lab_spec(tmp_path, target_port=dn_port)
        g = spec.gnbs[0]
        lab = SimLabProcess(spec)
        assert simlab_children() == []
        await lab.start()
        try:
            assert len(simlab_children()) == 1
            assert not port_free(g.snmp_port, socket.SOCK_DGRAM)
            assert not port_free(g.ssh_port, socket.SOCK_STREAM)
            assert not port_free(g.relays[0].listen_port, socket.SOCK_STREAM)
            # Use every service once, so stop() has live sockets and sessions to close.
            ep = lab.gnbs[GNB]
            async with SshTransport(ssh_target(tmp_path, ep.ssh[1], ep.ssh_host_key),
                                    device=GNB) as ssh:
                assert (await ssh.run("show cell 1")).ok
            await asyncio.to_thread(snmpget, ep.snmp[1], SYS_NAME, *v3_args())
            server = await asyncio.create_subprocess_exec(
                *server_argv(dn_port, bind=LOCAL, binary=iperf3),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            try:
                await wait_listening(dn_port)
                opts = Iperf3Options(host=LOCAL, port=ep.relays["dn1"][1], direction="dl",
                                     duration_s=1)
                client = await asyncio.create_subprocess_exec(
                    *client_argv(opts, binary=iperf3),
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
                out, _ = await asyncio.wait_for(client.communicate(), timeout=15)
                assert parse_result(out.decode(), direction="dl").bytes_received > 0
            finally:
                await stop_process(server)
        finally:
            started = time.monotonic()
            await lab.stop()
            stop_s = time.monotonic() - started
        assert stop_s < 10
        assert simlab_children() == []
        assert port_free(g.snmp_port, socket.SOCK_DGRAM)
        assert port_free(g.ssh_port, socket.SOCK_STREAM)
        assert port_free(g.relays[0].listen_port, socket.SOCK_STREAM)
        await lab.stop()  # idempotent

    asyncio.run(scenario())


@pytest.mark.e2e
@pytest.mark.parametrize("taken", ["snmp", "ssh", "relay"])
def test_lab_that_cannot_start_raises_and_leaves_nothing(tmp_path: Path, taken: str) -> None:
    kind = socket.SOCK_DGRAM if taken == "snmp" else socket.SOCK_STREAM
    blocker = socket.socket(socket.AF_INET, kind)
    blocker.bind((LOCAL, 0))
    if kind == socket.SOCK_STREAM:
        blocker.listen(1)
    port = blocker.getsockname()[1]
    spec = lab_spec(tmp_path, **{f"{taken}_port": port})

    async def scenario() -> str:
        lab = SimLabProcess(spec)
        with pytest.raises(HarnessError) as info:
            await lab.start()
        await lab.stop()  # harmless after a failed start
        return str(info.value)

    try:
        started = time.monotonic()
        message = asyncio.run(scenario())
        elapsed = time.monotonic() - started
    finally:
        blocker.close()
    assert elapsed < 15
    assert "failed to start" in message
    # Useful: says what went wrong and where.
    assert "in use" in message.lower()
    assert str(port) in message
    assert simlab_children() == []
