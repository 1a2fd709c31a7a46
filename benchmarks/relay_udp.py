"""The UDP half of benchmarks/relay.py: iperf3 UDP (1,400-byte datagrams, DL) through the relay.

Rows, all in one run so that they share the machine's load:

- **direct**: iperf3 straight to the local server (no relay), offered `--max-rate`: what iperf3
  itself carries on this machine right now;
- **uncapped**: the same through the simulator's UDP relay (with its TCP twin for iperf3's
  control connection) at 100 Gbit/s with the slot model on: the relay's own ceiling;
- **capped** at 100 Mbit/s … 1.7 Gbit/s: offered 0.9 × the capacity (loss must be zero) and
  1.2 × (received must be the capacity: error = |received − capacity| / capacity; loss must be
  1 − 1/1.2 ≈ 16.7 %).

Every run gives iperf3 4 MiB socket buffers (`-w`, `--udp-window`), the relay's own size.
The relay is the C core where it is built (`--udp-relay native`), else or with
`--udp-relay python` the Python relay (issue 10's "before"); its CPU per datagram is the native
thread's own (user + system) or, for the Python relay, this whole process's.
"""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from localproc import LOCAL, run_client, stop_process, wait_listening

from drivers.hosts.iperf3 import Iperf3Options, client_argv, parse_result, server_argv
from harness.base.errors import HarnessError
from harness.base.ports import free_port
from harness.simlab.radio import AirParams, RadioLink
from harness.simlab.relay import Direction, RateLimiter, TcpRelay
from harness.simlab.udp_relay import UdpRelay

DATAGRAM = 1400
UNCAPPED_BPS = 100e9
RATES_BPS = (100e6, 500e6, 1e9, 1.7e9)
BELOW, ABOVE = 0.9, 1.2
TARGET_RATIO = 0.9  # uncapped through the relay vs direct, same run
TARGET_ERROR = 0.03
TARGET_LOSS_BELOW = 0.1  # percent: what iperf3's own start-up burst may cost
# iperf3's socket buffers (`-w`): its default 208 KiB receive buffer holds ~0.6 ms at 1.7 Gbit/s,
# so on a busy machine iperf3's own receiver loses datagrams, with or without a relay.
WINDOW = 4 * 1024 * 1024

Stopper = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class UdpRow:
    """One iperf3 UDP run."""

    relay: str  # direct, uncapped or capped
    capacity_mbps: float | None
    offered_mbps: float
    received_mbps: float
    datagrams_per_s: float
    lost_percent: float
    error: float | None  # |received - capacity| / capacity, for runs offered above capacity
    relay_cpu_us: float | None  # the relay's CPU (user + system) per datagram it relayed
    relay_drops: int | None  # datagrams the cell model dropped (queue full)
    mode: str = "-"  # the UDP relay: native (C core) or python
    relay_user_us: float | None = None  # of relay_cpu_us, user time (native only)
    relay_lost: int | None = None  # datagrams the relay itself lost (not the cell: the machine)
    relay_late_percent: float | None = None  # of those relayed, sent > 2 ms after due
    iperf3_cores: float | None = None  # iperf3's client and server: CPU seconds per second


def _cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def machine_cores() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0))


async def _relay(listen: tuple[str, int], target: tuple[str, int], native: bool,
                 up: Direction, down: Direction, cpu: list[float]) -> Stopper:
    udp = UdpRelay(listen=listen, target=target, uplink=up, downlink=down, native=native)
    relays: list[TcpRelay | UdpRelay] = [
        TcpRelay(listen=listen, target=target, uplink=up, downlink=down), udp]
    for r in relays:
        await r.start()

    async def stop() -> None:
        if udp.core is not None:
            udp.core.stop()
            raw = udp.core.counters()
            cpu[:] = [raw["cpu_user_s"], raw["cpu_sys_s"]]
        for r in relays:
            await r.stop()

    return stop


async def run_udp(iperf3: str, kind: str, capacity_bps: float | None, offered_bps: float,
                  duration_s: int, window: int | None = WINDOW, native: bool = True) -> UdpRow:
    """One iperf3 UDP DL run, direct or through a fresh relay (the C core, or the Python relay
    with `native` False); offered 0 means unlimited."""
    server_port, relay_port = free_port(), free_port()
    server = await asyncio.create_subprocess_exec(
        *server_argv(server_port, bind=LOCAL, binary=iperf3),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    stop: Stopper | None = None
    rate = capacity_bps or UNCAPPED_BPS
    up = Direction(RateLimiter(rate), radio=RadioLink("ul", AirParams()))
    down = Direction(RateLimiter(rate), radio=RadioLink("dl", AirParams()))
    cpu = _cpu_s()
    tools_cpu = _cpu_s(resource.RUSAGE_CHILDREN)  # iperf3's: both are children, both waited for
    native_cpu: list[float] = []
    try:
        await wait_listening(server_port)
        port = server_port
        if kind != "direct":
            stop = await _relay((LOCAL, relay_port), (LOCAL, server_port), native, up, down,
                                native_cpu)
            port = relay_port
        opts = Iperf3Options(host=LOCAL, port=port, direction="dl", protocol="udp",
                             duration_s=duration_s, bitrate_bps=offered_bps,
                             length_bytes=DATAGRAM, window_bytes=window)
        out, err = await run_client(client_argv(opts, binary=iperf3), duration_s)
    finally:
        if stop is not None:
            await stop()
        await stop_process(server)
    cpu = sum(native_cpu) if native_cpu else _cpu_s() - cpu
    tools_cpu = _cpu_s(resource.RUSAGE_CHILDREN) - tools_cpu
    relayed = up.packets + down.packets
    try:
        result = parse_result(out.decode("utf-8", errors="replace"), direction="dl")
    except HarnessError as exc:
        stderr = err.decode("utf-8", errors="replace").strip()[-300:]
        raise HarnessError(f"iperf3 UDP ({kind}): {exc} {stderr}".strip()) from None
    received = result.bits_per_second_received
    error = (abs(received - capacity_bps) / capacity_bps
             if capacity_bps and offered_bps > capacity_bps else None)
    return UdpRow(relay=kind, capacity_mbps=round(capacity_bps / 1e6, 1) if capacity_bps else None,
                  offered_mbps=round(offered_bps / 1e6, 1), received_mbps=round(received / 1e6, 1),
                  datagrams_per_s=round(received / 8 / DATAGRAM),
                  lost_percent=round(result.lost_percent or 0.0, 3),
                  error=round(error, 4) if error is not None else None,
                  relay_cpu_us=round(cpu / relayed * 1e6, 2) if stop and relayed else None,
                  relay_drops=down.drops if stop else None,
                  mode="-" if kind == "direct" else "native" if native_cpu else "python",
                  relay_user_us=round(native_cpu[0] / relayed * 1e6, 2)
                  if native_cpu and relayed else None,
                  relay_lost=up.relay_lost + down.relay_lost if stop else None,
                  relay_late_percent=round(100 * (up.relay_late + down.relay_late) / relayed, 2)
                  if stop and relayed else None,
                  iperf3_cores=round(tools_cpu / duration_s, 2))


def cores_needed(rows: list[UdpRow], offered: float) -> tuple[float, float, float] | None:
    """CPU the machine needs to carry `TARGET_RATIO` × what iperf3 carried directly at
    `offered`, through the relay: (iperf3's cores, the relay's cores, total), scaling iperf3's
    direct cores and the relay's measured CPU per datagram to that rate; None without both."""
    direct = [r for r in rows if r.relay == "direct" and r.offered_mbps == offered
              and r.iperf3_cores is not None]
    relayed = [r for r in rows if r.relay == "uncapped" and r.offered_mbps == offered
               and r.relay_cpu_us is not None]
    if not direct or not relayed:
        return None
    tools = TARGET_RATIO * sum(r.iperf3_cores or 0.0 for r in direct) / len(direct)
    rate = TARGET_RATIO * sum(r.datagrams_per_s for r in direct) / len(direct)
    per_datagram_s = min(r.relay_cpu_us or 0.0 for r in relayed) / 1e6
    relay = rate * per_datagram_s
    return round(tools, 2), round(relay, 2), round(tools + relay, 2)


async def udp_rows(iperf3: str, duration_s: int, max_rate_bps: float,
                   window: int | None = WINDOW, native: bool = True,
                   anchor_rate_bps: float = RATES_BPS[-1]) -> list[UdpRow]:
    """Direct and uncapped (interleaved twice, so a load change shows), direct and through
    the relay at `anchor_rate_bps` uncapped (twice), then the capped runs."""
    rows = []
    for rate in (max_rate_bps, anchor_rate_bps):
        for _ in range(2):
            rows.append(await run_udp(iperf3, "direct", None, rate, duration_s, window))
            rows.append(await run_udp(iperf3, "uncapped", None, rate, duration_s, window,
                                      native))
    for rate in RATES_BPS:
        for factor in (BELOW, ABOVE):
            rows.append(await run_udp(iperf3, "capped", rate, rate * factor, duration_s, window,
                                      native))
    return rows


def udp_table(rows: list[UdpRow]) -> str:
    head = (f"{'relay':<9}  {'mode':<6}  {'capacity':>9}  {'offered':>8}  {'received':>9}  "
            f"{'dgram/s':>8}  {'loss':>7}  {'error':>7}  {'CPU/dgram':>9}  {'drops':>7}  "
            f"{'relay lost':>10}  {'late':>7}  {'iperf3 CPU':>10}")
    lines = [head + "   (Mbit/s)", "-" * len(head)]
    for r in rows:
        cap = f"{r.capacity_mbps:.0f}" if r.capacity_mbps is not None else "-"
        offered = f"{r.offered_mbps:.0f}" if r.offered_mbps else "max"
        error = f"{r.error * 100:.2f} %" if r.error is not None else "-"
        cpu = f"{r.relay_cpu_us:.1f} us" if r.relay_cpu_us is not None else "-"
        drops = str(r.relay_drops) if r.relay_drops is not None else "-"
        lost = str(r.relay_lost) if r.relay_lost is not None else "-"
        late = f"{r.relay_late_percent:.1f} %" if r.relay_late_percent is not None else "-"
        tools = f"{r.iperf3_cores:.2f}" if r.iperf3_cores is not None else "-"
        lines.append(f"{r.relay:<9}  {r.mode:<6}  {cap:>9}  {offered:>8}  {r.received_mbps:>9.1f}  "
                     f"{r.datagrams_per_s:>8.0f}  {r.lost_percent:>5.2f} %  {error:>7}  "
                     f"{cpu:>9}  {drops:>7}  {lost:>10}  {late:>7}  {tools:>10}")
    return "\n".join(lines)


def udp_verdict(rows: list[UdpRow]) -> list[str]:
    """Which UDP targets were missed (empty: all met)."""
    missed = []
    for offered in sorted({r.offered_mbps for r in rows if r.relay == "direct"}):
        direct = sum(r.received_mbps for r in rows
                     if r.relay == "direct" and r.offered_mbps == offered)
        uncapped = sum(r.received_mbps for r in rows
                       if r.relay == "uncapped" and r.offered_mbps == offered)
        if direct and uncapped < TARGET_RATIO * direct:
            what = f"offered {offered:.0f} Mbit/s" if offered else "unlimited"
            budget = cores_needed(rows, offered)
            why = "" if budget is None else (
                f": {TARGET_RATIO} × direct needs ≈ {budget[2]:.2f} CPUs (iperf3's client and "
                f"server {budget[0]:.2f}, the relay {budget[1]:.2f} at its measured CPU per "
                f"datagram), this machine has {machine_cores()}")
            missed.append(f"uncapped UDP {uncapped / direct:.2f} × direct < {TARGET_RATIO} "
                          f"({what}){why}")
    for r in rows:
        if r.relay != "capped" or r.capacity_mbps is None:
            continue
        if r.error is not None and r.error > TARGET_ERROR:
            missed.append(f"UDP error {r.error * 100:.1f} % at {r.capacity_mbps:.0f} Mbit/s")
        if r.offered_mbps < r.capacity_mbps and r.lost_percent > TARGET_LOSS_BELOW:
            missed.append(f"UDP loss {r.lost_percent:.2f} % below capacity "
                          f"({r.offered_mbps:.0f} of {r.capacity_mbps:.0f} Mbit/s)")
    return missed
