"""Latency tools on a traffic host: the irtt server and client, and ping (see hosts/host.py).

`TrafficHost` delegates here so that host.py stays about iperf3; these functions take the
host's command runner and never build a shell line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from drivers.hosts.irtt import IrttOptions, IrttResult, client_argv, parse_irtt, server_argv
from drivers.hosts.ping import PingOptions, PingResult, parse_ping, ping_argv
from harness.base.errors import MeasurementError, ToolMissing

if TYPE_CHECKING:
    from drivers.hosts.host import BackgroundCommand, CommandRunner

_READY_MARK = "[ListenerStart]"


class IrttServer:
    """A running `irtt server`; stop it (or use `async with`) when done."""

    def __init__(self, host_name: str, port: int, command: BackgroundCommand) -> None:
        self.host_name = host_name
        self.port = port
        self._command = command
        self._stopped = False

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._command.running

    def output(self) -> str:
        """What the server printed so far."""
        return self._command.output()

    async def stop(self) -> None:
        """Terminate the server (kill after 2 s); safe to call more than once."""
        if not self._stopped:
            await self._command.stop(2.0)
            self._stopped = True

    async def __aenter__(self) -> IrttServer:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()


async def start_irtt_server(runner: CommandRunner, *, host_name: str, address: str, port: int,
                            binary: str, missing: Callable[[], ToolMissing],
                            ready_timeout_s: float) -> IrttServer:
    """Start `irtt server -b ADDRESS:PORT`; return once it says its listener started."""
    try:
        command = await runner.start(server_argv(port, bind=address, binary=binary))
    except FileNotFoundError as exc:
        raise missing() from exc
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
    try:
        result = await runner.run(client_argv(opts, "-", binary=binary), timeout_s=timeout_s)
    except FileNotFoundError as exc:
        raise missing() from exc
    if result.returncode == 127 and not result.stdout.strip():
        raise missing()
    if result.timed_out:
        raise MeasurementError(f"irtt client on host {host_name} did not finish within "
                               f"{timeout_s:g} s: stopped it")
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
    try:
        result = await runner.run(ping_argv(opts, binary=binary), timeout_s=timeout_s)
    except FileNotFoundError as exc:
        raise missing() from exc
    if result.returncode == 127 and not result.stdout.strip():
        raise missing()
    if result.timed_out:
        raise MeasurementError(f"ping on host {host_name} did not finish within "
                               f"{timeout_s:g} s: stopped it")
    try:
        return parse_ping(result.stdout), result.stdout
    except MeasurementError as exc:
        raise MeasurementError(f"host {host_name}: {exc} {result.stderr.strip()[-200:]}") from exc
