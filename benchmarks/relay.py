"""How fast and how exactly the air-interface relay carries TCP and UDP on this machine.

Runs iperf3 TCP (DL: `-R`) through an in-process relay to a local iperf3 server:

- **reference**: a plain asyncio read/write relay (256 KiB reads, no shaping), the ceiling
  Python's event loop gives on this machine;
- **uncapped**: the simulator's `TcpRelay` with its rate set to 100 Gbit/s (the shaper never
  binds), with the radio model of a 30 kHz DDDSU 10:2:2 cell (slot timing, 1 ms core delay);
- **capped** at 100 Mbit/s, 500 Mbit/s, 1 Gbit/s and 1.7 Gbit/s (≈ a 100 MHz 4-layer 256QAM
  DDDSU cell), reporting |measured − configured| / configured.

and iperf3 UDP the same way (`relay_udp.py`: direct vs uncapped in the same run, capped runs
below and above the capacity).

    .venv/bin/python benchmarks/relay.py [--protocol both] [--duration 5] [--streams 1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from localproc import LOCAL, run_client, stop_process, wait_listening
from relay_udp import WINDOW, UdpRow, udp_rows, udp_table, udp_verdict

from drivers.hosts.iperf3 import Iperf3Options, client_argv, parse_result, server_argv
from harness import __version__
from harness.base.errors import HarnessError
from harness.base.ports import free_port
from harness.simlab.radio import AirParams, RadioLink
from harness.simlab.relay import Direction, RateLimiter, TcpRelay

FORMAT_VERSION = 2  # 2: udp_rows
UNCAPPED_BPS = 100e9
RATES_BPS = (100e6, 500e6, 1e9, 1.7e9)
TARGET_UNCAPPED_BPS = 2.5e9
TARGET_ERROR = 0.05
_PLAIN_READ = 256 * 1024

Stopper = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Row:
    """One iperf3 run through one relay."""

    relay: str
    configured_mbps: float | None
    measured_mbps: float
    error: float | None


async def plain_relay(listen: tuple[str, int], target: tuple[str, int]) -> Stopper:
    """The reference: read 256 KiB, write, drain; nothing else."""
    tasks: set[asyncio.Task[None]] = set()

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_PLAIN_READ):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dn_reader, dn_writer = await asyncio.open_connection(*target)
        for coro in (pump(reader, dn_writer), pump(dn_reader, writer)):
            task = asyncio.create_task(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(accept, *listen)

    async def stop() -> None:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return stop


def cell_direction(rate_bps: float, direction: str, radio: bool) -> Direction:
    """A shaped direction with the latency model of a 30 kHz DDDSU 10:2:2 cell."""
    link = RadioLink(direction, AirParams()) if radio else None
    return Direction(RateLimiter(rate_bps), radio=link)


async def sim_relay(listen: tuple[str, int], target: tuple[str, int], rate_bps: float,
                    radio: bool) -> Stopper:
    relay = TcpRelay(listen=listen, target=target,
                     uplink=cell_direction(rate_bps, "ul", radio),
                     downlink=cell_direction(rate_bps, "dl", radio))
    await relay.start()
    return relay.stop


async def run_once(iperf3: str, kind: str, rate_bps: float | None, duration_s: int,
                   streams: int, radio: bool) -> Row:
    """One iperf3 DL run through a freshly started relay of `kind`."""
    server_port, relay_port = free_port(), free_port()
    server = await asyncio.create_subprocess_exec(
        *server_argv(server_port, bind=LOCAL, binary=iperf3),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await wait_listening(server_port)
        listen, target = (LOCAL, relay_port), (LOCAL, server_port)
        if kind == "reference":
            stop = await plain_relay(listen, target)
        else:
            stop = await sim_relay(listen, target, rate_bps or UNCAPPED_BPS, radio)
        try:
            opts = Iperf3Options(host=LOCAL, port=relay_port, direction="dl", streams=streams,
                                 duration_s=duration_s)
            out, err = await run_client(client_argv(opts, binary=iperf3), duration_s)
        finally:
            await stop()
    finally:
        await stop_process(server)
    try:
        result = parse_result(out.decode("utf-8", errors="replace"), direction="dl")
    except HarnessError as exc:
        stderr = err.decode("utf-8", errors="replace").strip()[-300:]
        raise HarnessError(f"iperf3 through the {kind} relay: {exc} {stderr}".strip()) from None
    measured = result.bits_per_second_received
    error = abs(measured - rate_bps) / rate_bps if rate_bps else None
    return Row(relay=kind, configured_mbps=round(rate_bps / 1e6, 1) if rate_bps else None,
               measured_mbps=round(measured / 1e6, 1),
               error=round(error, 4) if error is not None else None)


async def main_async(args: argparse.Namespace) -> tuple[list[Row], list[UdpRow]]:
    iperf3 = shutil.which("iperf3")
    if iperf3 is None:
        raise HarnessError("iperf3 not found: install it (`apt-get install iperf3`)")
    duration_s, streams, radio = args.duration, args.streams, not args.no_radio
    rows: list[Row] = []
    if args.protocol in ("tcp", "both"):
        rows += [await run_once(iperf3, "reference", None, duration_s, streams, radio),
                 await run_once(iperf3, "uncapped", None, duration_s, streams, radio)]
        for rate in RATES_BPS:
            rows.append(await run_once(iperf3, "capped", rate, duration_s, streams, radio))
    udp: list[UdpRow] = []
    if args.protocol in ("udp", "both"):
        udp = await udp_rows(iperf3, duration_s, args.udp_max_rate * 1e6,
                             args.udp_window or None, native=args.udp_relay == "native")
    return rows, udp


def table(rows: list[Row]) -> str:
    head = f"{'relay':<10}  {'configured (Mbit/s)':>19}  {'measured (Mbit/s)':>17}  {'error':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        configured = f"{r.configured_mbps:.1f}" if r.configured_mbps is not None else "-"
        error = f"{r.error * 100:.2f} %" if r.error is not None else "-"
        lines.append(f"{r.relay:<10}  {configured:>19}  {r.measured_mbps:>17.1f}  {error:>7}")
    return "\n".join(lines)


def verdict(rows: list[Row]) -> list[str]:
    """Which targets were missed (empty: all met)."""
    missed: list[str] = []
    uncapped = next((r for r in rows if r.relay == "uncapped"), None)
    if uncapped is not None and uncapped.measured_mbps * 1e6 < TARGET_UNCAPPED_BPS:
        missed.append(f"uncapped {uncapped.measured_mbps:.0f} Mbit/s < "
                      f"{TARGET_UNCAPPED_BPS / 1e6:.0f} Mbit/s")
    for r in rows:
        if r.error is not None and r.error > TARGET_ERROR:
            missed.append(f"error {r.error * 100:.1f} % at {r.configured_mbps} Mbit/s > "
                          f"{TARGET_ERROR * 100:.0f} %")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=5,
                        help="seconds per iperf3 run (default 5)")
    parser.add_argument("--streams", type=int, default=1, help="parallel TCP streams (default 1)")
    parser.add_argument("--no-radio", action="store_true",
                        help="shape only: leave out the slot/core-delay model")
    parser.add_argument("--protocol", choices=("tcp", "udp", "both"), default="both",
                        help="which relays to measure (default both)")
    parser.add_argument("--udp-max-rate", type=float, default=0.0, metavar="MBPS",
                        help="what the direct and uncapped UDP runs offer, Mbit/s "
                        "(default 0: as fast as iperf3 sends)")
    parser.add_argument("--udp-window", type=int, default=WINDOW, metavar="BYTES",
                        help="iperf3 -w for the UDP runs (default 4 MiB; 0: iperf3's default)")
    parser.add_argument("--udp-relay", choices=("native", "python"), default="native",
                        help="the UDP relay: its C core (default) or the Python relay (before)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.streams < 1:
        parser.error("--duration and --streams must be at least 1")
    try:
        rows, udp = asyncio.run(main_async(args))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    missed = verdict(rows) + udp_verdict(udp)
    if args.json:
        print(json.dumps({"format": FORMAT_VERSION, "harness_version": __version__,
                          "duration_s": args.duration, "streams": args.streams,
                          "radio": not args.no_radio, "rows": [asdict(r) for r in rows],
                          "udp_rows": [asdict(r) for r in udp],
                          "targets_missed": missed}, indent=2))
    else:
        model = "slot model on" if not args.no_radio else "shaping only"
        if rows:
            print(f"relay throughput, iperf3 TCP DL, {args.duration} s per run, "
                  f"{args.streams} stream(s), {model}")
            print(table(rows))
        if udp:
            print(f"relay throughput, iperf3 UDP DL, {args.duration} s per run, "
                  f"1,400-byte datagrams, slot model on")
            print(udp_table(udp))
        print("targets met" if not missed else "targets missed: " + "; ".join(missed))
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
