"""How close the simulated cell's relay gets to its configured TS 38.306 capacity.

For 20, 50 and 100 MHz cells (30 kHz, DDDSU with S = 10:2:2, DL 4 layers 256QAM, UL 1 layer
64QAM) this starts the simulated lab in its own process, runs iperf3 TCP through the cell's
relay to a local iperf3 server (DL: -R with 4 streams; UL: 1 stream) and prints configured
against measured throughput, plus what the cell's own PM octet counter (read over SNMP) saw.

    .venv/bin/python benchmarks/capacity.py [--duration 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import socket
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from localproc import LOCAL, stop_process, wait_listening

from drivers.hosts.iperf3 import Iperf3Options, client_argv, parse_result, server_argv
from drivers.transport.snmp import SnmpTarget, SnmpTransport
from harness import __version__
from harness.base.errors import HarnessError
from harness.base.ports import free_port
from harness.base.secrets import Secret
from harness.simlab.control import SimLabProcess
from harness.simlab.gnb import CellConfig
from harness.simlab.spec import SimCell, SimCredentials, SimGnbSpec, SimLabSpec, SimRelay

FORMAT_VERSION = 1
BANDWIDTHS_MHZ = (20, 50, 100)
STREAMS = {"dl": 4, "ul": 1}
GNB = "gnb-bench"
PM_OCTETS_OID = {"dl": "1.3.6.1.4.1.32473.1.3.1.1.1", "ul": "1.3.6.1.4.1.32473.1.3.1.2.1"}
_CLIENT_GRACE_S = 30.0


@dataclass(frozen=True)
class Row:
    """One measured direction of one cell."""

    bandwidth_mhz: int
    direction: str
    streams: int
    configured_mbps: float
    measured_mbps: float
    ratio: float
    counted_mbit: float
    iperf3_mbit: float


def cell_config(bandwidth_mhz: int) -> CellConfig:
    """The benchmark cell: 30 kHz, DDDSU 10:2:2, DL 4×256QAM, UL 1×64QAM."""
    return CellConfig(id=1, bandwidth_mhz=bandwidth_mhz, scs_khz=30, tdd="DDDSU",
                      special="10:2:2", layers_dl=4, layers_ul=1, modulation_dl="256qam",
                      modulation_ul="64qam")


def lab_spec(cfg: CellConfig, dn_port: int, state_dir: Path) -> SimLabSpec:
    """A one-gNodeB lab on free loopback ports with throw-away credentials."""
    creds = SimCredentials(community=secrets.token_hex(8), v3_user="bench",
                           auth_key=secrets.token_hex(8), priv_key=secrets.token_hex(8),
                           ssh_user="admin", ssh_password=secrets.token_hex(8))
    cell = SimCell(id=cfg.id, bandwidth_mhz=cfg.bandwidth_mhz, scs_khz=cfg.scs_khz,
                   tdd=cfg.tdd, special=cfg.special, layers_dl=cfg.layers_dl,
                   layers_ul=cfg.layers_ul, modulation_dl=cfg.modulation_dl,
                   modulation_ul=cfg.modulation_ul, plmns=list(cfg.plmns), pci=cfg.pci)
    relay = SimRelay(dn="dn1", target_host=LOCAL, target_port=dn_port,
                     listen_port=free_port(), cell=cfg.id)
    gnb = SimGnbSpec(name=GNB, host=LOCAL, snmp_port=free_port(kind=socket.SOCK_DGRAM),
                     ssh_port=free_port(), credentials=creds, cells=[cell], relays=[relay],
                     serial="SIM-BENCH", firmware="bench", model="SimGNB-1")
    return SimLabSpec(gnbs=[gnb], state_dir=str(state_dir))


async def run_direction(iperf3: str, relay: tuple[str, int], dn_port: int, direction: str,
                        duration_s: int, snmp: SnmpTransport) -> tuple[float, int, int]:
    """One iperf3 run through the relay: (receiver bit/s, iperf3 bytes, counter delta bytes)."""
    server = await asyncio.create_subprocess_exec(
        *server_argv(dn_port, bind=LOCAL, binary=iperf3),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await wait_listening(dn_port)
        before = (await snmp.get([PM_OCTETS_OID[direction]]))[PM_OCTETS_OID[direction]]
        opts = Iperf3Options(host=relay[0], port=relay[1], direction=direction,
                             streams=STREAMS[direction], duration_s=duration_s)
        client = await asyncio.create_subprocess_exec(
            *client_argv(opts, binary=iperf3),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(client.communicate(),
                                              timeout=duration_s + _CLIENT_GRACE_S)
        except TimeoutError:
            raise HarnessError(f"iperf3 {direction} did not finish within "
                               f"{duration_s + _CLIENT_GRACE_S:g} s") from None
        finally:
            await stop_process(client)
        after = (await snmp.get([PM_OCTETS_OID[direction]]))[PM_OCTETS_OID[direction]]
    finally:
        await stop_process(server)
    try:
        result = parse_result(out.decode("utf-8", errors="replace"), direction=direction)
    except HarnessError as exc:
        stderr = err.decode("utf-8", errors="replace").strip()[-300:]
        raise HarnessError(f"iperf3 {direction}: {exc} {stderr}".strip()) from None
    if not isinstance(before, int) or not isinstance(after, int):
        raise HarnessError(f"the cell's {direction} octet counter could not be read over SNMP")
    return result.bits_per_second_received, result.bytes_received, after - before


async def bench_cell(iperf3: str, bandwidth_mhz: int, duration_s: int) -> list[Row]:
    """Start a lab with one cell of `bandwidth_mhz`, measure DL then UL, stop the lab."""
    cfg = cell_config(bandwidth_mhz)
    dn_port = free_port()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ran-harness-bench-") as tmp:
        spec = lab_spec(cfg, dn_port, Path(tmp))
        async with SimLabProcess(spec) as lab:
            ep = lab.gnbs[GNB]
            community = spec.gnbs[0].credentials.community
            snmp = SnmpTransport(SnmpTarget(host=ep.snmp[0], port=ep.snmp[1], version="2c",
                                            community=Secret(community)), device=GNB)
            try:
                for direction in ("dl", "ul"):
                    bps, received, counted = await run_direction(
                        iperf3, ep.relays["dn1"], dn_port, direction, duration_s, snmp)
                    configured = cfg.capacity_bps(direction) / 1e6
                    rows.append(Row(
                        bandwidth_mhz=bandwidth_mhz, direction=direction,
                        streams=STREAMS[direction], configured_mbps=round(configured, 1),
                        measured_mbps=round(bps / 1e6, 1), ratio=round(bps / 1e6 / configured, 4),
                        counted_mbit=round(counted * 8e-6, 1),
                        iperf3_mbit=round(received * 8e-6, 1),
                    ))
            finally:
                await snmp.close()
    return rows


def table(rows: list[Row]) -> str:
    head = (f"{'BW (MHz)':>8}  {'dir':<3}  {'streams':>7}  {'configured (Mbit/s)':>19}  "
            f"{'measured (Mbit/s)':>17}  {'ratio':>6}  {'counter/iperf3 bytes':>20}")
    lines = [head, "-" * len(head)]
    for r in rows:
        agree = r.counted_mbit / r.iperf3_mbit if r.iperf3_mbit else float("nan")
        lines.append(f"{r.bandwidth_mhz:>8}  {r.direction:<3}  {r.streams:>7}  "
                     f"{r.configured_mbps:>19.1f}  {r.measured_mbps:>17.1f}  {r.ratio:>6.3f}  "
                     f"{agree:>20.4f}")
    return "\n".join(lines)


async def main_async(duration_s: int) -> list[Row]:
    iperf3 = shutil.which("iperf3")
    if iperf3 is None:
        raise HarnessError("iperf3 not found: install it (`apt-get install iperf3`)")
    rows: list[Row] = []
    for bandwidth in BANDWIDTHS_MHZ:
        rows.extend(await bench_cell(iperf3, bandwidth, duration_s))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10,
                        help="seconds per iperf3 run (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.duration < 1:
        parser.error("--duration must be at least 1 second")
    try:
        rows = asyncio.run(main_async(args.duration))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"format": FORMAT_VERSION, "harness_version": __version__,
                          "duration_s": args.duration, "rows": [asdict(r) for r in rows]},
                         indent=2))
    else:
        print(f"simulated-cell capacity, iperf3 TCP, {args.duration} s per run "
              f"(30 kHz, DDDSU 10:2:2, DL 4x256QAM, UL 1x64QAM)")
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
