"""TrafficHost running real iperf3 servers and clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest

from drivers.hosts.commands import LocalRunner
from drivers.hosts.host import TrafficHost
from drivers.hosts.iperf3 import Iperf3Options, Iperf3Result
from drivers.hosts.irtt import IrttOptions
from drivers.hosts.ping import PingOptions
from harness.base.errors import MeasurementError, ToolMissing
from tests.conftest import free_port, require_tool


@pytest.fixture(autouse=True)
def _iperf3() -> None:
    require_tool("iperf3")


def _client_server(opts: Iperf3Options, timeout_s: float = 15.0) -> tuple[Iperf3Result, str]:
    async def go() -> tuple[Iperf3Result, str]:
        dn, ue = TrafficHost("dn1"), TrafficHost("ue1")
        async with await dn.start_iperf3_server(opts.port) as server:
            assert server.running
            outcome = await ue.run_iperf3_client(opts, timeout_s=timeout_s)
        assert not server.running
        return outcome

    return asyncio.run(go())


def _assert_consistent(result: Iperf3Result) -> None:
    measured = result.measured_intervals
    assert result.bytes_received > 0 and result.bits_per_second_received > 0
    assert all(i.bytes > 0 for i in measured)
    assert sum(i.bytes for i in measured) == pytest.approx(result.bytes_received, rel=0.02)


@pytest.mark.parametrize("direction", ["ul", "dl"])
def test_tcp_throughput(direction: str) -> None:
    opts = Iperf3Options(host="127.0.0.1", port=free_port(), direction=direction,
                         duration_s=2, omit_s=1, streams=2)
    before = time.time()
    result, raw = _client_server(opts)
    assert result.direction == direction and result.protocol == "tcp" and result.streams == 2
    assert '"start"' in raw and '"server_output_json"' in raw
    assert before - 1 <= result.start_unix_s <= time.time()
    assert len(result.measured_intervals) == 2
    assert [i.omitted for i in result.intervals] == [True, False, False]
    assert result.retransmits is not None and result.mean_rtt_ms is not None
    _assert_consistent(result)


@pytest.mark.parametrize("direction", ["ul", "dl"])
@pytest.mark.parametrize("rate", [50e6, 400e6], ids=["50M", "400M-in-bursts-of-3"])
def test_udp_rate_is_what_was_asked(direction: str, rate: float) -> None:
    """50 Mbit/s: `-b` as asked; 400 Mbit/s of 1,400 bytes: `-b 400000000/3` (udp_burst),
    which iperf3 takes and keeps the rate of, in both directions (DL: the server sends)."""
    opts = Iperf3Options(host="127.0.0.1", port=free_port(), direction=direction,
                         protocol="udp", bitrate_bps=rate, duration_s=2,
                         length_bytes=1400 if rate > 100e6 else None)
    result, _ = _client_server(opts)
    assert result.bits_per_second_received == pytest.approx(rate, rel=0.10)
    assert result.lost_percent is not None and result.lost_percent < 5
    assert result.jitter_ms is not None
    assert all(i.packets for i in result.intervals)
    _assert_consistent(result)


def test_one_server_serves_consecutive_clients() -> None:
    port = free_port()

    async def go() -> list[int]:
        host = TrafficHost("dn1")
        opts = Iperf3Options(host="127.0.0.1", port=port, direction="ul", duration_s=1)
        async with await host.start_iperf3_server(port):
            return [(await host.run_iperf3_client(opts, timeout_s=10))[0].bytes_received
                    for _ in range(2)]

    assert all(n > 0 for n in asyncio.run(go()))


def test_client_without_server_quotes_iperf3() -> None:
    opts = Iperf3Options(host="127.0.0.1", port=free_port(), duration_s=1)
    with pytest.raises(MeasurementError, match=r"ue1.*Connection refused"):
        asyncio.run(TrafficHost("ue1").run_iperf3_client(opts, timeout_s=10))


def test_timeout_stops_the_client() -> None:
    port = free_port()

    async def go() -> None:
        dn = TrafficHost("dn1")
        async with await dn.start_iperf3_server(port):
            opts = Iperf3Options(host="127.0.0.1", port=port, direction="ul", duration_s=10)
            started = time.monotonic()
            with pytest.raises(MeasurementError, match="did not finish within 1 s"):
                await TrafficHost("ue1").run_iperf3_client(opts, timeout_s=1.0)
            assert time.monotonic() - started < 4.0
        await asyncio.sleep(0.1)
        assert not _iperf3_on_port(port)

    asyncio.run(go())


def test_cancelled_client_leaves_no_process() -> None:
    port = free_port()

    async def go() -> None:
        dn = TrafficHost("dn1")
        async with await dn.start_iperf3_server(port):
            opts = Iperf3Options(host="127.0.0.1", port=port, direction="ul", duration_s=10)
            task = asyncio.create_task(TrafficHost("ue1").run_iperf3_client(opts, timeout_s=30))
            await asyncio.sleep(0.8)
            assert _iperf3_on_port(port, client=True)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not _iperf3_on_port(port, client=True)

    asyncio.run(go())


def test_server_stop_is_idempotent_and_frees_the_port() -> None:
    port = free_port()

    async def go() -> None:
        server = await TrafficHost("dn1").start_iperf3_server(port)
        assert server.running and server.port == port and server.address == "127.0.0.1"
        await server.stop()
        await server.stop()
        assert not server.running
        with socket.create_server(("127.0.0.1", port)):
            pass

    asyncio.run(go())


def test_server_on_busy_port_reports_iperf3_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(MeasurementError, match=r"dn1.*exited at start.*Address already in use"):
            asyncio.run(TrafficHost("dn1", ready_timeout_s=2).start_iperf3_server(port))


def test_server_waits_for_a_port_released_a_moment_later() -> None:
    """A server of a run stopped a moment ago may still hold the port (`--resume` right after
    Ctrl-C met it under load): the start retries for a few seconds. Old code: MeasurementError
    'Address already in use' at once."""
    busy = socket.create_server(("127.0.0.1", 0))
    port = busy.getsockname()[1]

    async def go() -> None:
        asyncio.get_running_loop().call_later(1.0, busy.close)
        server = await TrafficHost("dn1", ready_timeout_s=2).start_iperf3_server(port)
        try:
            assert server.running and server.port == port
        finally:
            await server.stop()

    try:
        asyncio.run(go())
    finally:
        busy.close()


def test_tool_version() -> None:
    version = asyncio.run(TrafficHost("ue1").tool_version("iperf3"))
    assert version.startswith("3.")


def test_missing_binary_is_tool_missing() -> None:
    host = TrafficHost("ue1", tools={"iperf3": "/nonexistent/iperf3"})
    opts = Iperf3Options(host="127.0.0.1", port=free_port(), duration_s=1)
    with pytest.raises(ToolMissing, match=r"iperf3 not found on host ue1.*apt-get install iperf3"):
        asyncio.run(host.tool_version("iperf3"))
    with pytest.raises(ToolMissing, match="ue1"):
        asyncio.run(host.start_iperf3_server(free_port()))
    with pytest.raises(ToolMissing, match="ue1"):
        asyncio.run(host.run_iperf3_client(opts, timeout_s=5))


def test_missing_latency_tools_are_tool_missing() -> None:
    """irtt and ping take the same runner path as iperf3: a missing program is ToolMissing
    naming the host and how to install it, for the server and for each client."""
    host = TrafficHost("dn1", tools={"irtt": "/nonexistent/irtt", "ping": "/nonexistent/ping"})
    with pytest.raises(ToolMissing, match=r"irtt not found on host dn1.*apt-get install irtt"):
        asyncio.run(host.start_irtt_server(free_port()))
    with pytest.raises(ToolMissing, match=r"irtt not found on host dn1.*apt-get install irtt"):
        asyncio.run(host.run_irtt_client(IrttOptions(host="127.0.0.1", port=free_port(),
                                                     duration_s=1), timeout_s=5))
    with pytest.raises(ToolMissing, match=r"ping not found on host dn1.*iputils-ping"):
        asyncio.run(host.run_ping(PingOptions(host="127.0.0.1", count=1), timeout_s=5))


def test_local_runner_reports_timeout_and_output() -> None:
    async def go() -> None:
        runner = LocalRunner()
        done = await runner.run(["iperf3", "--version"], timeout_s=5)
        assert done.returncode == 0 and not done.timed_out and "iperf" in done.stdout
        slow = await runner.run(["sleep", "5"], timeout_s=0.2, grace_s=0.5)
        assert slow.timed_out and slow.returncode is not None and slow.returncode < 0

    asyncio.run(go())


def _iperf3_on_port(port: int, *, client: bool = False) -> bool:
    """True if a live iperf3 process has PORT on its command line (client: with -c)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z" or not args or not args[0].endswith(b"iperf3"):
            continue
        if str(port).encode() in args and (not client or b"-c" in args):
            return True
    return False
