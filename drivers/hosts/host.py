"""Traffic hosts: UE-side and data-network-side machines that run iperf3, irtt and ping.

A host runs argv lists through a `CommandRunner` (`drivers.hosts.commands`): `LocalRunner` runs
them on this machine (no shell), `drivers.hosts.ssh_runner.SshRunner` on a remote host over SSH
(every argument quoted). iperf3's control-connection details are in `iperf3_control.py`, irtt
and ping in `latency.py`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping

from drivers.capabilities import Closable, Reachability, TransportStatus
from drivers.hosts import latency as host_latency
from drivers.hosts.commands import CommandRunner, LocalRunner, output_of, run_tool, start_tool
from drivers.hosts.iperf3 import (
    Iperf3Options,
    Iperf3Result,
    client_argv,
    parse_result,
    server_argv,
)
from drivers.hosts.iperf3_control import (
    CONTROL_RETRIES,
    PORT_BUSY_WAIT_S,
    Iperf3Server,
    NotStarted,
    control_refused,
    incomplete,
    iperf3_answers,
    iperf3_error,
    measured_anything,
)
from drivers.hosts.iperf3_partial import attach_partial, parse_partial
from drivers.hosts.irtt import IrttOptions, IrttResult
from drivers.hosts.latency import IrttServer
from drivers.hosts.logged import LoggedRunner
from drivers.hosts.ping import PingOptions, PingResult
from drivers.transport.devlog import DeviceLog
from harness.base.errors import HarnessError, MeasurementError, ToolMissing

TOOLS = ("iperf3", "irtt", "ping")
_INSTALL_HINTS = {"iperf3": "apt-get install iperf3", "irtt": "apt-get install irtt",
                  "ping": "apt-get install iputils-ping"}
_VERSION_ARGS = {"iperf3": ("--version",), "irtt": ("version",), "ping": ("-V",)}
_VERSION_RE = re.compile(r"\d+(?:\.\d+)+")
# iputils prints "ping from iputils 20221126" (a date, no dots); others "ping utility, 1.2".
_VERSION_RES = {"ping": re.compile(r"\d+(?:\.\d+)*")}


class TrafficHost:
    """A UE-side or data-network-side host that runs traffic tools (iperf3 now; irtt later)."""

    def __init__(self, name: str, *, address: str = "127.0.0.1",
                 runner: CommandRunner | None = None,
                 tools: Mapping[str, str] | None = None,
                 ready_timeout_s: float = 5.0, log: DeviceLog | None = None) -> None:
        self.name = name
        self.address = address
        self.ready_timeout_s = ready_timeout_s
        self._base: CommandRunner = runner if runner is not None else LocalRunner()
        # every command goes to the device log (argv, exit, output), when it has one
        self._runner: CommandRunner = (LoggedRunner(self._base, log) if log is not None
                                       else self._base)
        self._tools = dict(tools) if tools is not None else {}
        self.log = logging.LoggerAdapter(logging.getLogger(__name__), {"device": name})

    def __repr__(self) -> str:
        return f"TrafficHost({self.name!r}, address={self.address!r})"

    def binary(self, tool: str) -> str:
        """The program run for `tool` on this host (the tool's name unless overridden)."""
        return self._tools.get(tool, tool)

    def _missing(self, tool: str) -> ToolMissing:
        hint = _INSTALL_HINTS.get(tool, f"install {tool}")
        where = "" if self.binary(tool) == tool else f" (looked for {self.binary(tool)})"
        return ToolMissing(f"{tool} not found on host {self.name}{where}: install it ({hint})")

    async def tool_version(self, tool: str) -> str:
        """The version a tool reports, e.g. "3.12" for iperf3; ToolMissing when absent."""
        argv = [self.binary(tool), *_VERSION_ARGS.get(tool, ("--version",))]
        try:
            result = await self._runner.run(argv, timeout_s=10.0)
        except FileNotFoundError as exc:
            raise self._missing(tool) from exc
        if result.returncode == 127:
            raise self._missing(tool)
        text = result.stdout + result.stderr
        match = _VERSION_RES.get(tool, _VERSION_RE).search(text)
        if match is None:
            raise ToolMissing(f"{tool} on host {self.name} did not report a version "
                              f"(exit {result.returncode}): {text.strip()[:200]!r}")
        return match.group(0)

    async def tools(self) -> dict[str, str | None]:
        """iperf3, irtt and ping on this host: each one's version, or None when absent."""
        found: dict[str, str | None] = {}
        for tool in TOOLS:
            try:
                found[tool] = await self.tool_version(tool)
            except ToolMissing:
                found[tool] = None
        return found

    async def reachability(self) -> list[TransportStatus]:
        """How this host is reached: over SSH (login checked, nothing run) or locally."""
        if isinstance(self._base, Reachability):
            return await self._base.reachability()
        return [TransportStatus("local", True)]

    async def close(self) -> None:
        """Release the runner's connection, if it holds one."""
        if isinstance(self._base, Closable):
            try:
                await self._base.close()
            except HarnessError as exc:
                self.log.debug("closing the runner: %s", exc)

    async def start_iperf3_server(self, port: int) -> Iperf3Server:
        """Start `iperf3 -s` on this host's address and return once it accepts connections.

        The server is persistent, not `-1`: the readiness probe opens a control connection,
        which a one-off server would take as its one test.
        """
        argv = server_argv(port, bind=self.address, one_off=False, binary=self.binary("iperf3"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PORT_BUSY_WAIT_S
        while True:
            command = await start_tool(self._runner, argv, missing=lambda: self._missing("iperf3"))
            server = Iperf3Server(self, port, command)
            try:
                await self._wait_accepting(server)
            except MeasurementError as exc:
                # a server of a run stopped a moment ago may still hold the port: wait a little
                if "Address already in use" not in str(exc) or loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.25)
                continue
            except BaseException:
                await server.stop()
                raise
            self.log.debug("iperf3 server listening on %s:%d", self.address, port)
            return server

    async def _wait_accepting(self, server: Iperf3Server) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout_s
        while True:
            if not server.running:
                await server.stop()
                raise MeasurementError(
                    f"iperf3 server on host {self.name} port {server.port} exited at start: "
                    f"{iperf3_error(server.output())}")
            if await iperf3_answers(self.address, server.port):
                return
            if loop.time() >= deadline:
                raise MeasurementError(
                    f"iperf3 server on host {self.name} did not accept connections on "
                    f"{self.address}:{server.port} within {self.ready_timeout_s:g} s")
            await asyncio.sleep(0.05)

    async def start_irtt_server(self, port: int) -> IrttServer:
        """Start `irtt server` on this host's address and port; returns once it listens."""
        return await host_latency.start_irtt_server(
            self._runner, host_name=self.name, address=self.address, port=port,
            binary=self.binary("irtt"), missing=lambda: self._missing("irtt"),
            ready_timeout_s=self.ready_timeout_s)

    async def run_irtt_client(self, opts: IrttOptions, *,
                              timeout_s: float) -> tuple[IrttResult, str]:
        """Run an irtt client; the parsed result and the raw JSON kept as evidence."""
        return await host_latency.run_irtt_client(
            self._runner, opts, host_name=self.name, binary=self.binary("irtt"),
            missing=lambda: self._missing("irtt"), timeout_s=timeout_s)

    async def run_ping(self, opts: PingOptions, *, timeout_s: float) -> tuple[PingResult, str]:
        """Run ping (the fallback where irtt is absent); parsed result and raw output."""
        return await host_latency.run_ping(
            self._runner, opts, host_name=self.name, binary=self.binary("ping"),
            missing=lambda: self._missing("ping"), timeout_s=timeout_s)

    async def run_iperf3_client(self, opts: Iperf3Options, *,
                                timeout_s: float) -> tuple[Iperf3Result, str]:
        """Run an iperf3 client; return the parsed result and the raw JSON kept as evidence.

        An iperf3 server serves one test at a time and resets a control connection that
        arrives while it is still finishing the previous one (or the readiness probe); such a
        refusal happens before any traffic, so the client tries again, a bounded number of times.
        """
        for attempt in range(1, CONTROL_RETRIES + 1):
            try:
                return await self._iperf3_client_once(opts, timeout_s=timeout_s)
            except MeasurementError as exc:
                if attempt == CONTROL_RETRIES or not isinstance(exc, NotStarted):
                    raise
                self.log.info("iperf3 server busy (%s): trying again", exc)
                await asyncio.sleep(0.3 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _iperf3_client_once(self, opts: Iperf3Options, *,
                                  timeout_s: float) -> tuple[Iperf3Result, str]:
        argv = client_argv(opts, binary=self.binary("iperf3"))
        self.log.debug("running %s", argv)
        try:
            result = await run_tool(self._runner, argv, timeout_s=timeout_s,
                                    missing=lambda: self._missing("iperf3"))
        except asyncio.CancelledError as cancel:  # keep the seconds it had measured
            stopped = output_of(cancel)
            partial = None if stopped is None or opts.bidir else \
                parse_partial(stopped.stdout, direction=opts.direction)
            if partial is not None:
                attach_partial(cancel, partial)
            raise
        if result.timed_out:
            message = (f"iperf3 client on host {self.name} did not finish within "
                       f"{timeout_s:g} s (test length "
                       f"{opts.whole_seconds + opts.omit_whole_seconds} s): stopped it")
            raise incomplete(message, result.stdout, opts)
        if not result.stdout.strip():
            raise MeasurementError(
                f"iperf3 client on host {self.name} exited with {result.returncode} and no "
                f"output: {result.stderr.strip()[:500]}")
        try:
            parsed = parse_result(result.stdout, direction=opts.direction)
        except MeasurementError as exc:
            if control_refused(str(exc)) and not measured_anything(result.stdout):
                raise NotStarted(f"host {self.name}: {exc}") from exc
            raise incomplete(f"host {self.name}: {exc}", result.stdout, opts) from exc
        return parsed, result.stdout


