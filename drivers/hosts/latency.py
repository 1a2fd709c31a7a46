"""Latency tools on a traffic host: the irtt server and client, and ping (see hosts/host.py).

`TrafficHost` delegates here so that host.py stays about iperf3; these functions take the
host's command runner and never build a shell line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from drivers.hosts.commands import (
    BackgroundCommand,
    CommandResult,
    CommandRunner,
    ToolServer,
    run_tool,
    start_tool,
)
from drivers.hosts.irtt import IrttOptions, IrttResult, client_argv, parse_irtt, server_argv
from drivers.hosts.ping import PingOptions, PingResult, parse_ping, ping_argv
from harness.base.errors import MeasurementError, ToolMissing

_READY_MARK = "[ListenerStart]"


class IrttServer(ToolServer):
    """A running `irtt server`; stop it (or use `async with`) when done."""

    def __init__(self, host_name: str, port: int, command: BackgroundCommand) -> None:
        super().__init__(port, command)
        self.host_name = host_name


async def start_irtt_server(runner: CommandRunner, *, host_name: str, address: str, port: int,
                            binary: str, missing: Callable[[], ToolMissing],
                            ready_timeout_s: float) -> IrttServer:
    """Start `irtt server -b ADDRESS:PORT`; return once it says its listener started."""
    command = await start_tool(runner, server_argv(port, bind=address, binary=binary),
                               missing=missing)
    server = IrttServer(host_name, port, command)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ready_timeout_s
    try:
        while _READY_MARK not in server.output():
            if not server.running:
                raise MeasurementError(f"irtt server on host {host_name} port {port} exited at "
                                       f"start: {server.output().strip()[-300:] or 'no output'}")
            if loop.time() >= deadline:
                raise MeasurementError(f"irtt server on host {host_name} did not start "
                                       f"listening on {address}:{port} within "
                                       f"{ready_timeout_s:g} s")
            await asyncio.sleep(0.05)
    except BaseException:
        await server.stop()
        raise
    return server


async def run_irtt_client(runner: CommandRunner, opts: IrttOptions, *, host_name: str,
                          binary: str, missing: Callable[[], ToolMissing],
                          timeout_s: float) -> tuple[IrttResult, str]:
    """Run `irtt client` with JSON to stdout; the parsed result and the raw JSON."""
    result = await _run_to_end(runner, client_argv(opts, "-", binary=binary), "irtt client",
                               host_name=host_name, missing=missing, timeout_s=timeout_s)
    if result.returncode != 0 or not result.stdout.strip():
        raise MeasurementError(f"irtt client on host {host_name} exited with "
                               f"{result.returncode}: {result.stderr.strip()[-500:]}")
    try:
        return parse_irtt(result.stdout), result.stdout
    except MeasurementError as exc:
        raise MeasurementError(f"host {host_name}: {exc}") from exc


async def run_ping(runner: CommandRunner, opts: PingOptions, *, host_name: str, binary: str,
                   missing: Callable[[], ToolMissing],
                   timeout_s: float) -> tuple[PingResult, str]:
    """Run ping; the parsed result and the raw text (exit 1 with replies missing is a result)."""
    result = await _run_to_end(runner, ping_argv(opts, binary=binary), "ping",
                               host_name=host_name, missing=missing, timeout_s=timeout_s)
    try:
        return parse_ping(result.stdout), result.stdout
    except MeasurementError as exc:
        raise MeasurementError(f"host {host_name}: {exc} {result.stderr.strip()[-200:]}") from exc


async def _run_to_end(runner: CommandRunner, argv: list[str], what: str, *, host_name: str,
                      missing: Callable[[], ToolMissing], timeout_s: float) -> CommandResult:
    """`run_tool`, and a MeasurementError naming `what` when it had to be stopped."""
    result = await run_tool(runner, argv, timeout_s=timeout_s, missing=missing)
    if result.timed_out:
        raise MeasurementError(f"{what} on host {host_name} did not finish within "
                               f"{timeout_s:g} s: stopped it")
    return result
