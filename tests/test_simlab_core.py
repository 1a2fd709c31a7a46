"""The virtual 5G core: registrations and sessions over SNMP and its CLI, and UPF N3 counters
that follow the traffic a gNodeB relay really carried (faults: test_simlab_control.py).

Expected counts are derived here from the lab plan (subscribers spread round-robin over the
PLMNs, then the slices), not read back from the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.core import Core
from drivers.profile import load_profile
from drivers.transport.snmp import SnmpTarget, SnmpTransport, SnmpV3User
from drivers.transport.ssh import SshTarget, SshTransport
from harness.base.secrets import Secret
from harness.simlab.cli import GnbCli
from harness.simlab.control import SimLabProcess
from harness.simlab.core import TCP_MSS, CoreIdentity, CorePlan, VirtualCore
from harness.simlab.core_cli import CoreCli
from harness.simlab.core_mib import snapshot
from harness.simlab.gnb import CellConfig, GnbIdentity, VirtualGnb
from harness.simlab.relay import Direction, RateLimiter
from harness.simlab.spec import (
    SimCell,
    SimCoreSpec,
    SimCredentials,
    SimGnbSpec,
    SimLabSpec,
    SimRelay,
)
from tests.conftest import free_port, require_tool
from tests.processes import wait_listening

ROOT = Path(__file__).resolve().parent.parent
LOCAL = "127.0.0.1"
PLMNS = ["452-02", "452-04", "452-07"]
SLICES = ["1-000001", "2-00000A"]
SUBSCRIBERS = 12
CELL_PLMNS = ["452-02", "452-04"]  # 452-07 has no coverage: its UEs stay deregistered

CORE = "1.3.6.1.4.1.32473.2"
AMF_REGISTERED = f"{CORE}.2.1.0"
SMF_SESSIONS = f"{CORE}.3.1.0"
UPF_IN_OCT, UPF_OUT_OCT, UPF_IN_PKT, UPF_OUT_PKT = (f"{CORE}.4.{c}.0" for c in (1, 2, 3, 4))
SLICE_REGISTERED = f"{CORE}.5.1.7"
SYS_NAME = "1.3.6.1.2.1.1.5.0"

CREDS = SimCredentials(community="core-community-3", v3_user="harness",
                       auth_key="core-auth-key-1", priv_key="core-priv-key-2",
                       ssh_user="admin", ssh_password="core-pass-4")


def expected_rows(plmns: list[str], slices: list[str], subscribers: int) -> dict[tuple[str, str],
                                                                                   int]:
    """Subscribers per (PLMN, slice): i-th subscriber on plmns[i % P], slices[(i // P) % S]."""
    rows = {(p, s): 0 for p in plmns for s in slices}
    for i in range(subscribers):
        rows[(plmns[i % len(plmns)], slices[(i // len(plmns)) % len(slices)])] += 1
    return rows


# ---- the core model --------------------------------------------------------------------------

class Coverage:
    """Stands in for a gNodeB's cells: the PLMNs they serve, switchable by the test."""

    def __init__(self, plmns: list[str]) -> None:
        self.plmns = set(plmns)

    def __call__(self) -> set[str]:
        return set(self.plmns)


def make_core(coverage: Coverage, subscribers: int = SUBSCRIBERS
              ) -> tuple[VirtualCore, Direction, Direction]:
    core = VirtualCore(CoreIdentity(name="core-unit", serial="SIMC-T-9"),
                       CorePlan(plmns=tuple(PLMNS), slices=tuple(SLICES),
                                subscribers=subscribers))
    uplink, downlink = Direction(RateLimiter(1e9)), Direction(RateLimiter(1e9))
    core.attach("gnb-unit", LOCAL, coverage, [(uplink, downlink)])
    core.refresh()
    return core, uplink, downlink


def test_subscribers_register_where_a_cell_serves_their_plmn() -> None:
    core, _, _ = make_core(Coverage(CELL_PLMNS))
    rows = expected_rows(PLMNS, SLICES, SUBSCRIBERS)
    served = sum(n for (plmn, _), n in rows.items() if plmn in CELL_PLMNS)
    assert core.registered() == core.sessions() == served == 8
    for row in core.slice_rows():
        assert row.subscribers == rows[(row.plmn, row.snssai)]
        assert row.registered == (row.subscribers if row.plmn in CELL_PLMNS else 0)
    assert core.counters.reg_init_succ == core.counters.pdu_succ == served
    # SUPIs are 15-digit IMSIs of the subscriber's own PLMN.
    for ue in core.ues:
        digits = ue.supi.removeprefix("imsi-")
        assert len(digits) == 15 and digits.startswith(ue.plmn.replace("-", ""))


def test_ues_follow_coverage_and_amf_fault() -> None:
    coverage = Coverage(CELL_PLMNS)
    core, _, _ = make_core(coverage)
    coverage.plmns = {"452-02"}
    core.refresh()
    assert core.registered() == 4  # 452-04's UEs lost coverage
    assert core.counters.deregistrations == 4
    coverage.plmns = set(PLMNS)
    core.refresh()
    assert core.registered() == SUBSCRIBERS
    assert core.counters.reg_init_req == 8 + 8  # first 8, then 452-04 again and 452-07
    assert core.counters.registered_max == SUBSCRIBERS
    core.amf_down = True
    core.refresh()
    assert core.registered() == core.sessions() == 0
    assert core.counters.registered_max == SUBSCRIBERS


def test_n3_counters_follow_relay_directions() -> None:
    core, uplink, downlink = make_core(Coverage(CELL_PLMNS))
    uplink.count(3000)  # a TCP chunk: ceil(3000 / 1448) = 3 segments
    uplink.count(1200, packets=1)  # one datagram
    downlink.count(10 * TCP_MSS)
    total = core.n3_totals()
    assert (total.in_octets, total.in_packets) == (4200, 4)
    assert (total.out_octets, total.out_packets) == (10 * TCP_MSS, 10)
    oids = snapshot(core)
    value = {o: v for o, v in ((".".join(map(str, k)), v[1]) for k, v in oids.items())}
    assert value[UPF_IN_OCT] == 4200 and value[UPF_IN_PKT] == 4
    assert value[UPF_OUT_OCT] == 10 * TCP_MSS and value[UPF_OUT_PKT] == 10
    assert value[f"{CORE}.6.1.2.1"] == "gnb-unit"
    assert value[f"{CORE}.6.1.4.1"] == 4200


def test_core_cli_show_commands() -> None:
    core, uplink, _ = make_core(Coverage(CELL_PLMNS))
    uplink.count(5000)
    cli = CoreCli(core)
    out, status = cli("show ue")
    assert status == 0
    assert out.count("REGISTERED") - out.count("DEREGISTERED") == 8
    assert out.count("DEREGISTERED") == 4 and "Registered: 8 of 12" in out
    assert "imsi-452020000000001" in out
    out, status = cli("show pdu-sessions")
    assert status == 0 and "PDU sessions: 8" in out and "internet" in out
    assert "10.45.0.1 " in out and "imsi-452070000000003" not in out
    out, _ = cli("show upf")
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.split()[1:3] == ["-", "4"] and total.split()[3] == "5000"
    out, _ = cli("show slices")
    assert "452-07  2-00000A" in out
    out, status = cli("show bogus")
    assert status == 1 and out.startswith("% ")


def test_gnb_and_core_cli_read_lines_and_show_version_alike() -> None:
    core, _, _ = make_core(Coverage(CELL_PLMNS))
    gnb = VirtualGnb(GnbIdentity("gnb1", serial="SIM-9"), [CellConfig(1)])
    for cli, first in ((GnbCli(gnb), "ran-harness simulator SimGNB-1"),
                       (CoreCli(core), "ran-harness simulator SimCore-1 (AMF, SMF, UPF)")):
        assert cli("   ") == ("", 0)
        assert cli('show "open') == ("% Invalid input: No closing quotation\n", 1)
        assert cli("frobnicate now") == ("% Invalid input: 'frobnicate now' (type 'help')\n", 1)
        out, status = cli("show version")
        lines = out.splitlines()
        assert status == 0 and lines[0] == first and len(lines) == 4
        assert lines[1].startswith("Software version : ") and lines[3].endswith(" s")


def test_profile_oids_are_answered_and_defined_in_the_mib() -> None:
    core, _, _ = make_core(Coverage(CELL_PLMNS))
    answered = {".".join(map(str, oid)) for oid in snapshot(core)}
    profile = load_profile("sim-core")
    for name, kpi in profile.kpis.items():
        assert kpi.oid in answered, name
    for name, fact in profile.facts.items():
        assert fact.oid in answered, name
    base = ROOT / "drivers" / "smi"
    if not (base / "SNMPv2-SMI.txt").exists():
        pytest.skip("drivers/smi base MIBs absent: cannot compile the core MIB")
    objects = compile_core_mib(base)
    columns = {oid for oid in objects.values()}
    for oid in answered:
        if oid.startswith(CORE + "."):
            assert oid.rsplit(".", 1)[0] in columns, f"{oid} is not in the MIB"


def compile_core_mib(base: Path) -> dict[str, str]:
    """name → OID of every object in RAN-HARNESS-SIM-CORE-MIB, compiled by pysmi."""
    from pysmi.codegen import JsonCodeGen
    from pysmi.compiler import MibCompiler
    from pysmi.parser import SmiStarParser
    from pysmi.reader import FileReader
    from pysmi.writer import CallbackWriter

    out: dict[str, str] = {}
    compiler = MibCompiler(SmiStarParser(), JsonCodeGen(),
                           CallbackWriter(lambda name, text, ctx: out.__setitem__(name, text)))
    compiler.add_sources(FileReader(str(ROOT / "harness" / "simlab" / "mibs")),
                         FileReader(str(base)))
    result = compiler.compile("RAN-HARNESS-SIM-CORE-MIB", ignoreErrors=False)
    assert result["RAN-HARNESS-SIM-CORE-MIB"] == "compiled", result
    doc = json.loads(out["RAN-HARNESS-SIM-CORE-MIB"])
    return {name: str(obj["oid"]) for name, obj in doc.items()
            if isinstance(obj, dict) and "oid" in obj}


# ---- the lab process: SNMP, CLI, relay traffic, faults ---------------------------------------

def lab_spec(state_dir: Path, dn_port: int) -> SimLabSpec:
    cell = SimCell(id=1, bandwidth_mhz=100, scs_khz=30, tdd="DDDSU", special="10:2:2",
                   layers_dl=4, layers_ul=1, modulation_dl="256qam", modulation_ul="64qam",
                   plmns=list(CELL_PLMNS), pci=11)
    relay = SimRelay(dn="dn1", target_host=LOCAL, target_port=dn_port,
                     listen_port=free_port(), cell=1)
    gnb = SimGnbSpec(name="gnb1", host=LOCAL, snmp_port=free_port(socket.SOCK_DGRAM),
                     ssh_port=free_port(), credentials=CREDS, cells=[cell], relays=[relay],
                     serial="SIM-C-1", firmware="1.0.0", model="SimGNB-1", core="core1")
    core = SimCoreSpec(name="core1", host=LOCAL, snmp_port=free_port(socket.SOCK_DGRAM),
                       ssh_port=free_port(), credentials=CREDS, plmns=list(PLMNS),
                       slices=list(SLICES), subscribers=SUBSCRIBERS, dnn="internet",
                       serial="SIMC-E2E-1", firmware="2.3.4", model="SimCore-1")
    return SimLabSpec(gnbs=[gnb], cores=[core], state_dir=str(state_dir))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimLabProcess]:
    """One running lab for the module (the process is driven from each test's own loop)."""
    process = SimLabProcess(lab_spec(tmp_path_factory.mktemp("core"), free_port()))
    asyncio.run(process.start())
    try:
        yield process
    finally:
        asyncio.run(process.stop())


def net_snmp(tool: str, port: int, *args: str, timeout_s: float = 2,
             version: str = "3") -> subprocess.CompletedProcess[str]:
    auth = (["-v3", "-l", "authPriv", "-u", CREDS.v3_user, "-a", "SHA-256", "-A",
             CREDS.auth_key, "-x", "AES", "-X", CREDS.priv_key] if version == "3"
            else ["-v2c", "-c", CREDS.community])
    return subprocess.run(
        [require_tool(tool), *auth, "-On", "-t", str(timeout_s), "-r", "0", f"{LOCAL}:{port}",
         *args], capture_output=True, text=True, timeout=30, check=False,
        env={**os.environ, "MIBS": ""})


def walk_values(out: str) -> dict[str, str]:
    values = {}
    for line in out.splitlines():
        oid, _, value = line.partition(" = ")
        values[oid.lstrip(".")] = value.split(": ", 1)[-1].strip('"')
    return values


def core_snmp(lab: SimLabProcess) -> SnmpTransport:
    user = SnmpV3User(user=CREDS.v3_user, auth_protocol="SHA-256",
                      auth_key=Secret(CREDS.auth_key), priv_protocol="AES-128",
                      priv_key=Secret(CREDS.priv_key))
    target = SnmpTarget(host=LOCAL, port=lab.cores["core1"].snmp[1], version="3", v3=user,
                        timeout_s=1.0, retries=0)
    return SnmpTransport(target, device="core1")


def core_ssh(lab: SimLabProcess, tmp: Path, password: str = CREDS.ssh_password) -> SshTransport:
    ep = lab.cores["core1"]
    known = tmp / "known_hosts"
    known.write_text(f"[{LOCAL}]:{ep.ssh[1]} {ep.ssh_host_key}\n", encoding="utf-8")
    return SshTransport(SshTarget(host=LOCAL, port=ep.ssh[1], user=CREDS.ssh_user,
                                  password=Secret(password), known_hosts=str(known),
                                  timeout_s=5.0, command_timeout_s=5.0), device="core1")


@pytest.mark.e2e
def test_registrations_and_sessions_over_snmpwalk_and_ssh(lab: SimLabProcess,
                                                         tmp_path: Path) -> None:
    port = lab.cores["core1"].snmp[1]
    walked = net_snmp("snmpwalk", port, CORE)
    assert walked.returncode == 0, walked.stderr
    values = walk_values(walked.stdout)
    assert values[AMF_REGISTERED] == values[SMF_SESSIONS] == "8"
    rows = expected_rows(PLMNS, SLICES, SUBSCRIBERS)
    for i, (plmn, snssai) in enumerate(rows, start=1):
        assert values[f"{CORE}.5.1.2.{i}"] == plmn
        assert values[f"{CORE}.5.1.3.{i}"] == snssai
        assert values[f"{CORE}.5.1.6.{i}"] == str(rows[(plmn, snssai)])
        served = rows[(plmn, snssai)] if plmn in CELL_PLMNS else 0
        assert values[f"{SLICE_REGISTERED}.{i}"] == str(served)
    v2c = net_snmp("snmpget", port, SYS_NAME, version="2c")
    assert v2c.returncode == 0 and '"core1"' in v2c.stdout

    async def over_ssh() -> tuple[str, str, str]:
        async with core_ssh(lab, tmp_path) as ssh:
            ues = await ssh.run("show ue")
            sessions = await ssh.run("show pdu-sessions")
            version = await ssh.run("show version")
        assert ues.ok and sessions.ok and version.ok
        return ues.stdout, sessions.stdout, version.stdout

    ues, sessions, version = asyncio.run(over_ssh())
    assert "Registered: 8 of 12" in ues and ues.count("DEREGISTERED") == 4
    assert "PDU sessions: 8" in sessions and "2-00000A" in sessions
    assert "2.3.4" in version and "SIMC-E2E-1" in version


@pytest.mark.e2e
def test_core_driver_reads_facts_and_kpis(lab: SimLabProcess) -> None:
    async def scenario() -> tuple[Any, dict[str, float]]:
        core = Core("core1", load_profile("sim-core"), snmp=core_snmp(lab))
        try:
            facts = await core.facts()
            readings = await core.read_kpis(["RM.RegisteredSubNbrMean", "SM.SessionNbrMean",
                                             "GTP.InDataPktN3UPF"], [1])
        finally:
            await core.close()
        return facts, {r.name: r.raw for r in readings}

    facts, kpis = asyncio.run(scenario())
    assert (facts.model, facts.serial, facts.firmware) == ("SimCore-1", "SIMC-E2E-1", "2.3.4")
    assert kpis["RM.RegisteredSubNbrMean"] == kpis["SM.SessionNbrMean"] == 8


async def counters(snmp: SnmpTransport, oids: list[str]) -> dict[str, int]:
    values = await snmp.get(oids)
    out = {}
    for oid, value in values.items():
        assert isinstance(value, int), (oid, value)
        out[oid] = value
    return out


Counts = dict[str, int]


def iperf3_through_core_lab(tmp_path: Path, *client_args: str
                            ) -> tuple[dict[str, Any], Counts, Counts, dict[str, Any]]:
    """iperf3 (2 s) from the UE side through gnb1's relay to dn1: the report, the UPF's N3
    counters before and after, and gnb1's cell counters after."""
    iperf3 = require_tool("iperf3")
    dn_port = free_port()
    oids = [UPF_IN_OCT, UPF_OUT_OCT, UPF_IN_PKT, UPF_OUT_PKT]

    async def scenario() -> tuple[dict[str, Any], Counts, Counts, dict[str, Any]]:
        async with SimLabProcess(lab_spec(tmp_path / "lab", dn_port)) as sim:
            snmp = core_snmp(sim)
            server = await asyncio.create_subprocess_exec(
                iperf3, "-s", "-1", "-B", LOCAL, "-p", str(dn_port),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            try:
                await wait_listening(dn_port)
                before = await counters(snmp, oids)
                relay_host, relay_port = sim.gnbs["gnb1"].relays["dn1"]
                client = await asyncio.create_subprocess_exec(
                    iperf3, "-c", relay_host, "-p", str(relay_port), "-t", "2", "-J",
                    *client_args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(client.communicate(), timeout=20)
                assert client.returncode == 0, err.decode()
                await asyncio.sleep(0.3)  # the last bytes of the closing connections
                after = await counters(snmp, oids)
                status = await sim.status()
            finally:
                with contextlib.suppress(ProcessLookupError):
                    server.kill()
                await server.wait()
                await snmp.close()
            return json.loads(out), before, after, status["devices"]["gnb1"]["cells"]["1"]

    return asyncio.run(scenario())


@pytest.mark.e2e
def test_gtp_counters_follow_iperf3_tcp_through_the_gnodeb_relay(tmp_path: Path) -> None:
    report, before, after, cell = iperf3_through_core_lab(tmp_path, "--bidir", "-b", "40M")
    delta = {oid: after[oid] - before[oid] for oid in after}
    end = report["end"]
    ul_bytes = end["sum_received"]["bytes"]  # UE → DN: uplink at the gNodeB, In at the UPF
    dl_bytes = end["sum_received_bidir_reverse"]["bytes"]
    assert ul_bytes > 5e6 and dl_bytes > 5e6
    # Octets: what the relay delivered, i.e. what iperf3 received plus its control connection
    # and the bytes still in flight when it stopped counting: within 2 %.
    assert ul_bytes <= delta[UPF_IN_OCT] <= ul_bytes * 1.02
    assert dl_bytes <= delta[UPF_OUT_OCT] <= dl_bytes * 1.02
    # Packets: TCP segments of at most 1448 payload bytes, counted per relayed chunk as
    # ceil(bytes / 1448): never fewer than the bytes need (2 % margin), more only by the
    # rounding of each chunk ...
    for pkts, octets in ((UPF_IN_PKT, UPF_IN_OCT), (UPF_OUT_PKT, UPF_OUT_OCT)):
        floor = delta[octets] / TCP_MSS
        assert floor * 0.98 <= delta[pkts] <= floor * 1.5, (pkts, delta[pkts], floor)
    # ... and exactly the packets the gNodeB's relay counted (its cell was idle before).
    assert after[UPF_IN_PKT] == cell["ul_packets"]
    assert after[UPF_OUT_PKT] == cell["dl_packets"]


@pytest.mark.e2e
def test_gtp_packets_are_the_udp_datagrams_the_relay_carried(tmp_path: Path) -> None:
    report, before, after, _ = iperf3_through_core_lab(tmp_path, "-u", "-b", "20M", "-l", "1200")
    delta = {oid: after[oid] - before[oid] for oid in after}
    udp = report["end"]["sum"]
    datagrams = udp["packets"] - udp["lost_packets"]  # as the DN-side server received them
    assert datagrams > 3000
    # Each datagram is one GTP-U packet; the rest is iperf3's TCP control connection (2 %).
    assert datagrams <= delta[UPF_IN_PKT] <= datagrams * 1.02
    assert datagrams * 1200 <= delta[UPF_IN_OCT] <= datagrams * 1200 * 1.02
    assert delta[UPF_OUT_PKT] < 50  # downlink: only control-connection replies
