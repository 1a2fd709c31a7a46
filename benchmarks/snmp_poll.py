"""KPI polling capacity: varbinds/s of our SNMP transport vs ezsnmp (net-snmp's C library) and
plain pysnmp hlapi, against one net-snmp snmpd on loopback, in the same run.

    .venv/bin/python benchmarks/snmp_poll.py [--seconds 3] [--reps 25] [--in-flight 4] [--json]

Workload: GETBULK (non-repeaters 0, max-repetitions --reps) of IF-MIB ifTable, repeated for
--seconds, with SNMPv2c and with SNMPv3 authPriv (SHA/AES-128); each client keeps one session.
ezsnmp is optional (`.venv/bin/pip install -e '.[bench]'`); without it the ratio is omitted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.transport.snmp import SnmpTarget, SnmpTransport, SnmpV3User
from harness import __version__
from harness.base.secrets import Secret
from tests.daemons import running_snmpd, snmpd_binary

FORMAT_VERSION = 1
START = "1.3.6.1.2.1.2.2.1"  # IF-MIB::ifEntry
COMMUNITY, USER, AUTH_KEY, PRIV_KEY = "bench-ro", "bench", "bench-auth-key", "bench-priv-key"
INSTALL_EZSNMP = "install it with: .venv/bin/pip install -e '.[bench]'  (or pip install ezsnmp)"


@dataclass
class Row:
    """One client × SNMP version measurement."""

    client: str
    version: str
    varbinds_per_s: float
    pdus_per_s: float
    cpu_s_per_1k_varbinds: float  # this process's user+system CPU
    cpu_share: float  # CPU seconds per wall second (1.0 = one core busy)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _row(client: str, version: str, varbinds: int, pdus: int, wall: float, cpu: float) -> Row:
    return Row(client, version, varbinds / wall, pdus / wall,
               cpu / max(varbinds, 1) * 1000, cpu / wall)


async def _ours(port: int, version: str, seconds: float, reps: int, in_flight: int) -> Row:
    v3 = SnmpV3User(USER, "SHA", Secret(AUTH_KEY), "AES-128", Secret(PRIV_KEY))
    target = SnmpTarget("127.0.0.1", port, version, community=Secret(COMMUNITY),
                        v3=v3 if version == "3" else None, max_in_flight=in_flight)
    transport = SnmpTransport(target, device="bench")
    counts = [0, 0]

    async def worker(deadline: float) -> None:
        while time.perf_counter() < deadline:
            got = await transport.bulk([START], 0, reps)
            counts[0] += len(got)
            counts[1] += 1

    try:
        await transport.bulk([START], 0, reps)  # discovery / socket setup outside the clock
        started, cpu = time.perf_counter(), _cpu()
        await asyncio.gather(*(worker(started + seconds) for _ in range(in_flight)))
        wall, cpu = time.perf_counter() - started, _cpu() - cpu
    finally:
        await transport.close()
    label = "ran-harness" + (f" ({in_flight} in flight)" if in_flight > 1 else "")
    return _row(label, version, counts[0], counts[1], wall, cpu)


async def _pysnmp_hlapi(port: int, version: str, seconds: float, reps: int) -> Row:
    """The pre-optimisation approach: pysnmp's hlapi bulk_cmd, lookupMib=False."""
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        UsmUserData,
        bulk_cmd,
        usmAesCfb128Protocol,
        usmHMACSHAAuthProtocol,
    )

    auth: Any = (CommunityData(COMMUNITY) if version == "2c" else
                 UsmUserData(USER, AUTH_KEY, PRIV_KEY, authProtocol=usmHMACSHAAuthProtocol,
                             privProtocol=usmAesCfb128Protocol))
    engine = SnmpEngine()
    udp = await UdpTransportTarget.create(("127.0.0.1", port))
    start = ObjectType(ObjectIdentity(START))
    varbinds = pdus = 0
    try:
        await bulk_cmd(engine, auth, udp, ContextData(), 0, reps, start, lookupMib=False)
        started, cpu = time.perf_counter(), _cpu()
        while time.perf_counter() < started + seconds:
            _, _, _, answer = await bulk_cmd(engine, auth, udp, ContextData(), 0, reps, start,
                                             lookupMib=False)
            varbinds += len(answer)
            pdus += 1
        wall, cpu = time.perf_counter() - started, _cpu() - cpu
    finally:
        engine.close_dispatcher()
    return _row("pysnmp hlapi", version, varbinds, pdus, wall, cpu)


def _ezsnmp(port: int, version: str, seconds: float, reps: int) -> Row | None:
    try:
        import ezsnmp  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    options: dict[str, Any] = {"community": COMMUNITY} if version == "2c" else {
        "security_level": "authPriv", "security_username": USER, "auth_protocol": "SHA",
        "auth_passphrase": AUTH_KEY, "privacy_protocol": "AES", "privacy_passphrase": PRIV_KEY}
    session = ezsnmp.Session(hostname="127.0.0.1", port_number=str(port), version=version,
                             set_max_repeaters_to_num=reps, print_oids_numerically=True,
                             **options)
    session.bulk_get([START])
    varbinds = pdus = 0
    started, cpu = time.perf_counter(), _cpu()
    while time.perf_counter() < started + seconds:
        varbinds += len(session.bulk_get([START]))
        pdus += 1
    wall, cpu = time.perf_counter() - started, _cpu() - cpu
    return _row("ezsnmp (net-snmp C)", version, varbinds, pdus, wall, cpu)


def measure(port: int, seconds: float, reps: int, in_flight: int) -> list[Row]:
    """Every client on v2c and v3, one after the other against the same agent."""
    rows: list[Row] = []
    for version in ("2c", "3"):
        jobs: list[Callable[[], Awaitable[Row]]] = [
            lambda v=version: _ours(port, v, seconds, reps, 1),
            lambda v=version: _ours(port, v, seconds, reps, in_flight),
            lambda v=version: _pysnmp_hlapi(port, v, seconds, reps),
        ]
        for job in jobs:
            rows.append(asyncio.run(job()))
        ez = _ezsnmp(port, version, seconds, reps)
        if ez is not None:
            rows.append(ez)
    return rows


def _print(rows: list[Row], reps: int) -> None:
    print(f"GETBULK max-repetitions {reps} of IF-MIB ifTable, net-snmp snmpd on loopback")
    print(f"{'client':28} {'SNMP':5} {'varbinds/s':>11} {'PDU/s':>8} {'CPU ms/1k vb':>13} "
          f"{'CPU':>5} {'vs ezsnmp':>10}")
    for row in rows:
        ez = next((r for r in rows if r.client.startswith("ezsnmp")
                   and r.version == row.version), None)
        ratio = f"{row.varbinds_per_s / ez.varbinds_per_s:9.2f}x" if ez else "         -"
        print(f"{row.client:28} {'v' + row.version:5} {row.varbinds_per_s:11,.0f} "
              f"{row.pdus_per_s:8,.0f} {row.cpu_s_per_1k_varbinds * 1000:13.1f} "
              f"{row.cpu_share:5.2f} {ratio}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per client and version")
    parser.add_argument("--reps", type=int, default=25, help="GETBULK max-repetitions")
    parser.add_argument("--in-flight", type=int, default=4, help="concurrent PDUs (ours)")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    args = parser.parse_args()
    binary = snmpd_binary()
    if binary is None:
        print("snmpd not found: apt-get install snmpd", file=sys.stderr)
        return 2
    config = (f"rocommunity {COMMUNITY} 127.0.0.1\n"
              f"createUser {USER} SHA {AUTH_KEY} AES {PRIV_KEY}\nrouser {USER} authpriv\n")
    with tempfile.TemporaryDirectory(prefix="snmp-poll-") as tmp, \
            running_snmpd(binary, Path(tmp), config) as port:
        rows = measure(port, args.seconds, args.reps, args.in_flight)
    if args.json:
        print(json.dumps({"format_version": FORMAT_VERSION, "harness_version": __version__,
                          "reps": args.reps, "rows": [asdict(r) for r in rows]}, indent=2))
    else:
        _print(rows, args.reps)
    if not any(r.client.startswith("ezsnmp") for r in rows):
        print(f"ezsnmp is not installed, so there is no reference to compare with: "
              f"{INSTALL_EZSNMP}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
