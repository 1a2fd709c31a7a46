"""Helpers for the simulated gNodeB's management-plane tests: real net-snmp tools (snmpget,
snmpbulkwalk, a foreground snmptrapd), paramiko SSH/SFTP, iperf3, a UDP echo, and an in-process
virtual gNodeB with its servers on free 127.0.0.1 ports."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from drivers.hosts.iperf3 import Iperf3Options, client_argv, parse_result, server_argv
from harness.simlab.server import RunningGnb
from harness.simlab.spec import SimCell, SimCredentials, SimGnbSpec, SimRelay, SimTrapTarget
from tests.conftest import free_port, require_tool

LOCAL = "127.0.0.1"
CREDS = SimCredentials(community="mgmt-community", v3_user="harness", auth_key="auth-key-1234",
                       priv_key="priv-key-5678", ssh_user="admin", ssh_password="gnb-pass-9")
ENV = {**os.environ, "MIBS": ""}

SIM = "1.3.6.1.4.1.32473.1"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
ENT_SW_REV_1 = "1.3.6.1.2.1.47.1.1.1.1.10.1"
CELL_OPER = SIM + ".2.1.15.{cell}"
CELL_CAP_DL = SIM + ".2.1.11.{cell}"
PM_DL_OCTETS = SIM + ".3.1.1.{cell}"
PLMN_DL_OCTETS = SIM + ".4.1.4.{plmn}.{cell}"
ALARM_TEXT = SIM + ".6.2.1.5"
IF_OPER = "1.3.6.1.2.1.2.2.1.8.{index}"
IF_HC_OUT = "1.3.6.1.2.1.31.1.1.1.10.{index}"
IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6.{index}"
SENSOR_BOARD = "1.3.6.1.2.1.99.1.1.1.4.5"
TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
TRAPS = {name: f"{SIM}.0.{n}" for n, name in enumerate((
    "simCellDown", "simCellUp", "simLinkDown", "simLinkUp", "simHighTemperature",
    "simFirmwareInstallResult", "simExcessiveBler", "simAlarmRaised", "simAlarmCleared"), 1)}
LINK_DOWN, COLD_START = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.1"
NOTIF_SEVERITY, NOTIF_TEXT = SIM + ".6.3.3.0", SIM + ".6.3.5.0"
FW_RESULT = SIM + ".5.4.0"


def cell_spec(cell_id: int = 1, bandwidth: int = 20, plmns: tuple[str, ...] = ("452-02",),
              shares: dict[str, float] | None = None) -> SimCell:
    """A 30 kHz DDDSU cell (20 MHz: ≈ 330 Mbit/s DL)."""
    return SimCell(id=cell_id, bandwidth_mhz=bandwidth, scs_khz=30, tdd="DDDSU",
                   special="10:2:2", layers_dl=4, layers_ul=1, modulation_dl="256qam",
                   modulation_ul="64qam", plmns=list(plmns), pci=7,
                   plmn_shares=shares or {})


def gnb_spec(name: str, *, cells: list[SimCell] | None = None,
             relays: list[SimRelay] | None = None, traps: list[SimTrapTarget] | None = None,
             reboot_s: float = 1.0) -> SimGnbSpec:
    """A virtual gNodeB on free loopback ports."""
    return SimGnbSpec(name=name, host=LOCAL, snmp_port=free_port(socket.SOCK_DGRAM),
                      ssh_port=free_port(), credentials=CREDS, cells=cells or [cell_spec()],
                      relays=relays or [], serial="SIM-M-1", firmware="1.0.0",
                      model="SimGNB-1", trap_targets=traps or [], reboot_s=reboot_s)


@contextlib.asynccontextmanager
async def running(tmp: Path, spec: SimGnbSpec) -> AsyncIterator[RunningGnb]:
    """The gNodeB with its SNMP agent, SSH/SFTP server, relays and trap sender, in-process."""
    gnb = RunningGnb(spec, tmp)
    await gnb.start()
    try:
        yield gnb
    finally:
        await gnb.stop()


def snmp(tool: str, port: int, *oids: str, v3: bool = False,
         timeout_s: int = 1) -> subprocess.CompletedProcess[str]:
    """Run a net-snmp tool (numeric OIDs, no retry) against the gNodeB, v2c or v3 authPriv."""
    auth = (["-v3", "-l", "authPriv", "-u", CREDS.v3_user, "-a", "SHA-256", "-A",
             CREDS.auth_key, "-x", "AES", "-X", CREDS.priv_key] if v3
            else ["-v2c", "-c", CREDS.community])
    return subprocess.run([require_tool(tool), *auth, "-On", "-t", str(timeout_s), "-r", "0",
                           f"{LOCAL}:{port}", *oids], capture_output=True, text=True,
                          timeout=30, check=False, env=ENV)


async def aget(port: int, *oids: str, v3: bool = False) -> dict[str, str]:
    """snmpget → {oid: value text}; AssertionError with net-snmp's message on failure."""
    proc = await asyncio.to_thread(snmp, "snmpget", port, *oids, v3=v3)
    assert proc.returncode == 0, proc.stderr
    return parse_snmp_lines(proc.stdout)


def parse_snmp_lines(text: str) -> dict[str, str]:
    """`.oid = TYPE: value` lines → {oid: value} (quotes stripped)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            values[name.lstrip(".")] = value.split(": ", 1)[-1].strip('"')
    return values


@dataclass
class Trap:
    """One notification as snmptrapd printed it."""

    version: str
    oid: str
    varbinds: dict[str, str]


@dataclass
class TrapReceiver:
    """A real net-snmp snmptrapd in the foreground on two free UDP ports."""

    tmp: Path
    engine_id: bytes
    ports: tuple[int, int] = field(default_factory=lambda: (free_port(socket.SOCK_DGRAM),
                                                            free_port(socket.SOCK_DGRAM)))
    traps: list[Trap] = field(default_factory=list)
    _proc: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> TrapReceiver:
        conf = self.tmp / "snmptrapd.conf"
        conf.write_text("disableAuthorization yes\n"
                        f"createUser -e 0x{self.engine_id.hex()} {CREDS.v3_user} SHA-256 "
                        f"{CREDS.auth_key} AES {CREDS.priv_key}\n", encoding="utf-8")
        listen = ",".join(f"udp:{LOCAL}:{p}" for p in self.ports)
        self._proc = await asyncio.create_subprocess_exec(
            require_tool("snmptrapd"), "-f", "-Lo", "-C", "-c", str(conf), "-n", "-On",
            "-F", "TRAP|%P|%V~%v\n", listen, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**ENV, "SNMP_PERSISTENT_DIR": str(self.tmp / "snmp-persist")})
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._ready.wait(), timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            await asyncio.wait_for(self._proc.wait(), timeout=5)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout=5)

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := (await self._proc.stdout.readline()).decode(errors="replace"):
            if "NET-SNMP version" in line:
                self._ready.set()
            if not line.startswith("TRAP|"):
                continue
            _, security, binds = line.rstrip("\n").split("|", 2)
            values = parse_snmp_lines("\n".join(binds.split("~")))
            version = "3" if "SNMP v3" in security else "2c"
            self.traps.append(Trap(version, values.get(TRAP_OID, "").lstrip("."), values))

    async def wait(self, oid: str, version: str = "2c", *, timeout_s: float = 5.0,
                   where: Callable[[Trap], bool] = lambda t: True) -> Trap:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for trap in self.traps:
                if trap.oid == oid and trap.version == version and where(trap):
                    return trap
            await asyncio.sleep(0.05)
        seen = [(t.version, t.oid) for t in self.traps]
        raise AssertionError(f"no v{version} trap {oid} within {timeout_s} s (got {seen})")


async def iperf3_run(port: int, *, direction: str = "dl", seconds: int = 2) -> tuple[int, float]:
    """(bytes received, bit/s) of one iperf3 TCP run to LOCAL:port."""
    opts = Iperf3Options(host=LOCAL, port=port, direction=direction, duration_s=seconds)
    client = await asyncio.create_subprocess_exec(
        *client_argv(opts, binary=require_tool("iperf3")),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(client.communicate(), timeout=seconds + 20)
    assert client.returncode == 0, err.decode()[-400:] + out.decode()[-400:]
    result = parse_result(out.decode(), direction=direction)
    return result.bytes_received, result.bits_per_second_received


@contextlib.asynccontextmanager
async def iperf3_server(port: int) -> AsyncIterator[None]:
    proc = await asyncio.create_subprocess_exec(
        *server_argv(port, bind=LOCAL, one_off=False, binary=require_tool("iperf3")),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # listening? (/proc: a probe would be a session)
            if f":{port:04X} 00000000:0000 0A" in Path("/proc/net/tcp").read_text():
                break
            await asyncio.sleep(0.05)
        yield
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=5)


def relay(dn_port: int, cell: int = 1, plmn: str | None = None) -> SimRelay:
    return SimRelay(dn="dn1", target_host=LOCAL, target_port=dn_port, listen_port=free_port(),
                    cell=cell, plmn=plmn)


def ssh_client(port: int) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(LOCAL, port=port, username=CREDS.ssh_user, password=CREDS.ssh_password,
                   look_for_keys=False, allow_agent=False, timeout=5, banner_timeout=5,
                   auth_timeout=5)
    return client


def ssh_run(port: int, command: str) -> tuple[int, str]:
    client = ssh_client(port)
    try:
        _, out, _ = client.exec_command(command, timeout=10)
        text = out.read().decode()
        return out.channel.recv_exit_status(), text
    finally:
        client.close()


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


async def udp_echo_rtts(port: int, count: int, gap_s: float = 0.003) -> list[float]:
    """RTTs (ms) of `count` datagrams echoed through the relay at LOCAL:port (lost: absent)."""
    loop = asyncio.get_running_loop()
    sent: dict[int, float] = {}
    rtts: list[float] = []

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            seq = int.from_bytes(data[:4], "big")
            if seq in sent:
                rtts.append((loop.time() - sent.pop(seq)) * 1000)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=(LOCAL, port))
    try:
        for seq in range(count):
            sent[seq] = loop.time()
            transport.sendto(seq.to_bytes(4, "big") + b"\0" * 60)
            await asyncio.sleep(gap_s)
        await asyncio.sleep(0.3)
    finally:
        transport.close()
    return rtts


def sftp_put(port: int, files: dict[str, bytes]) -> dict[str, str]:
    """Upload each file; {name: "ok" or the error's class name}."""
    client = ssh_client(port)
    try:
        sftp = client.open_sftp()
        results = {}
        for name, data in files.items():
            try:
                sftp.putfo(io.BytesIO(data), name)
                results[name] = "ok"
            except OSError as exc:
                results[name] = type(exc).__name__
        return results
    finally:
        client.close()
