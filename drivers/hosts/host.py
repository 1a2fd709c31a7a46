"""Traffic hosts: UE-side and data-network-side machines that run iperf3, irtt and ping.

A host runs argv lists through a `CommandRunner`: `LocalRunner` runs them on this machine (no
shell), `drivers.hosts.ssh_runner.SshRunner` on a remote host over SSH (every argument quoted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from drivers.capabilities import Closable, Reachability, TransportStatus
from drivers.hosts import latency as host_latency
from drivers.hosts.iperf3 import (
    Iperf3Options,
    Iperf3Result,
    client_argv,
    parse_result,
    server_argv,
)
from drivers.hosts.iperf3_partial import Iperf3Incomplete, attach_partial, parse_partial
from drivers.hosts.irtt import IrttOptions, IrttResult
from drivers.hosts.latency import IrttServer
from drivers.hosts.ping import PingOptions, PingResult
from harness.base.errors import HarnessError, MeasurementError, ToolMissing

TOOLS = ("iperf3", "irtt", "ping")
_INSTALL_HINTS = {"iperf3": "apt-get install iperf3", "irtt": "apt-get install irtt",
                  "ping": "apt-get install iputils-ping"}
_VERSION_ARGS = {"iperf3": ("--version",), "irtt": ("version",), "ping": ("-V",)}
_VERSION_RE = re.compile(r"\d+(?:\.\d+)+")
# iputils prints "ping from iputils 20221126" (a date, no dots); others "ping utility, 1.2".
_VERSION_RES = {"ping": re.compile(r"\d+(?:\.\d+)*")}
_OUTPUT_TAIL = 65536
# iperf3 control protocol: a client sends a 36-character cookie plus NUL, the server answers
# with one state byte: PARAM_EXCHANGE (9), or ACCESS_DENIED (-1) when busy with another test.
_PROBE_COOKIE = b"ranharness-readiness-probe-000000000\0"
_PARAM_EXCHANGE = b"\x09"
_ACCESS_DENIED = b"\xff"


_PORT_BUSY_WAIT_S = 3.0
"""How long an iperf3 server start retries while its port is still held (e.g. by the server of
a run interrupted a moment before, as `--resume` right after Ctrl-C meets it)."""


@dataclass(frozen=True)
class CommandResult:
    """A finished command: exit status, decoded output, and whether it was killed on timeout."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool


class BackgroundCommand(Protocol):
    """A long-running command (a server) that a runner started."""

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        ...

    def output(self) -> str:
        """The last part of its combined stdout and stderr so far."""
        ...

    async def stop(self, grace_s: float = 2.0) -> int | None:
        """Terminate it, kill it after `grace_s`; return its exit status. Idempotent."""
        ...


class CommandRunner(Protocol):
    """Runs argv lists on a host; raises FileNotFoundError when the program does not exist."""

    async def run(self, argv: Sequence[str], *, timeout_s: float,
                  grace_s: float = 2.0) -> CommandResult:
        """Run to completion; past `timeout_s` terminate, then kill after `grace_s`. When
        cancelled, terminate the same way and attach what it printed to the CancelledError
        (`output_of`) before it propagates."""
        ...

    async def start(self, argv: Sequence[str]) -> BackgroundCommand:
        """Start in the background, capturing output."""
        ...


def _signal(send: Callable[[], None]) -> None:
    with contextlib.suppress(ProcessLookupError):
        send()


class _LocalBackground:
    """A local background process whose output a task drains so the pipe never fills."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._buffer = bytearray()
        self._drain = asyncio.create_task(self._read())

    async def _read(self) -> None:
        stream = self._proc.stdout
        if stream is None:
            return
        while chunk := await stream.read(65536):
            self._buffer += chunk
            del self._buffer[:-_OUTPUT_TAIL]

    @property
    def running(self) -> bool:
        return self._proc.returncode is None

    @property
    def pid(self) -> int:
        """Process id on this machine."""
        return self._proc.pid

    def output(self) -> str:
        return self._buffer.decode("utf-8", "replace")

    async def stop(self, grace_s: float = 2.0) -> int | None:
        if self._proc.returncode is None:
            _signal(self._proc.terminate)
            try:
                await asyncio.wait_for(self._proc.wait(), grace_s)
            except TimeoutError:
                _signal(self._proc.kill)
                await self._proc.wait()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._drain, grace_s)
        return self._proc.returncode


_OUTPUT_ATTR = "ranharness_command_output"


def attach_output(exc: BaseException, result: CommandResult) -> None:
    """Hang a cancelled command's output on the CancelledError that stopped it (the error
    itself propagates unchanged, so asyncio's cancellation bookkeeping is untouched)."""
    setattr(exc, _OUTPUT_ATTR, result)


def output_of(exc: BaseException) -> CommandResult | None:
    """What a command printed before a cancellation stopped it (see `attach_output`)."""
    value = getattr(exc, _OUTPUT_ATTR, None)
    return value if isinstance(value, CommandResult) else None


async def _terminate(proc: asyncio.subprocess.Process, talk: asyncio.Future[tuple[bytes, bytes]],
                     grace_s: float) -> tuple[bytes, bytes]:
    """SIGTERM, the output after at most `grace_s`, SIGKILL if it is still running by then."""
    _signal(proc.terminate)
    try:
        return await asyncio.wait_for(asyncio.shield(talk), grace_s)
    except TimeoutError:
        _signal(proc.kill)
        return await talk


class LocalRunner:
    """Runs commands on this machine with `asyncio.create_subprocess_exec` (no shell)."""

    async def _spawn(self, argv: Sequence[str], *,
                     merge_stderr: bool) -> asyncio.subprocess.Process:
        if not argv:
            raise ValueError("empty argv")
        stderr = asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE
        try:
            return await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=stderr)
        except PermissionError as exc:
            raise FileNotFoundError(f"{argv[0]} is not executable") from exc

    async def run(self, argv: Sequence[str], *, timeout_s: float,
                  grace_s: float = 2.0) -> CommandResult:
        """Run to completion; past `timeout_s` terminate, then kill after `grace_s`."""
        proc = await self._spawn(argv, merge_stderr=False)
        talk = asyncio.ensure_future(proc.communicate())
        timed_out = False
        try:
            try:
                out, err = await asyncio.wait_for(asyncio.shield(talk), timeout_s)
            except TimeoutError:
                timed_out = True
                out, err = await _terminate(proc, talk, grace_s)
            except asyncio.CancelledError as cancel:  # TERM, so the tool reports what it did
                out, err = await asyncio.shield(_terminate(proc, talk, grace_s))
                attach_output(cancel, CommandResult(
                    tuple(argv), proc.returncode, out.decode("utf-8", "replace"),
                    err.decode("utf-8", "replace"), False))
                raise
        finally:
            if proc.returncode is None:      # cancelled: leave no process behind
                _signal(proc.kill)
                talk.cancel()
                await asyncio.shield(proc.wait())
        return CommandResult(tuple(argv), proc.returncode, out.decode("utf-8", "replace"),
                             err.decode("utf-8", "replace"), timed_out)

    async def start(self, argv: Sequence[str]) -> BackgroundCommand:
        """Start in the background with stdout and stderr merged and drained."""
        return _LocalBackground(await self._spawn(argv, merge_stderr=True))


class Iperf3Server:
    """A running iperf3 server on a traffic host; stop it (or use `async with`) when done."""

    def __init__(self, host: TrafficHost, port: int, command: BackgroundCommand) -> None:
        self.host = host
        self.port = port
        self.address = host.address
        self._command = command
        self._returncode: int | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._command.running

    def output(self) -> str:
        """What the server printed so far (its JSON reports and errors), for evidence."""
        return self._command.output()

    async def stop(self) -> None:
        """Terminate the server, kill it after 2 s; safe to call more than once."""
        if not self._stopped:
            self._returncode = await self._command.stop(2.0)
            self._stopped = True

    async def __aenter__(self) -> Iperf3Server:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()


class TrafficHost:
    """A UE-side or data-network-side host that runs traffic tools (iperf3 now; irtt later)."""

    def __init__(self, name: str, *, address: str = "127.0.0.1",
                 runner: CommandRunner | None = None,
                 tools: Mapping[str, str] | None = None,
                 ready_timeout_s: float = 5.0) -> None:
        self.name = name
        self.address = address
        self.ready_timeout_s = ready_timeout_s
        self._runner: CommandRunner = runner if runner is not None else LocalRunner()
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
        if isinstance(self._runner, Reachability):
            return await self._runner.reachability()
        return [TransportStatus("local", True)]

    async def close(self) -> None:
        """Release the runner's connection, if it holds one."""
        if isinstance(self._runner, Closable):
            try:
                await self._runner.close()
            except HarnessError as exc:
                self.log.debug("closing the runner: %s", exc)

    async def start_iperf3_server(self, port: int) -> Iperf3Server:
        """Start `iperf3 -s` on this host's address and return once it accepts connections.

        The server is persistent, not `-1`: the readiness probe opens a control connection,
        which a one-off server would take as its one test.
        """
        argv = server_argv(port, bind=self.address, one_off=False, binary=self.binary("iperf3"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _PORT_BUSY_WAIT_S
        while True:
            try:
                command = await self._runner.start(argv)
            except FileNotFoundError as exc:
                raise self._missing("iperf3") from exc
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
                    f"{_iperf3_error(server.output())}")
            if await _iperf3_answers(self.address, server.port):
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
        for attempt in range(1, _CONTROL_RETRIES + 1):
            try:
                return await self._iperf3_client_once(opts, timeout_s=timeout_s)
            except MeasurementError as exc:
                if attempt == _CONTROL_RETRIES or not isinstance(exc, _NotStarted):
                    raise
                self.log.info("iperf3 server busy (%s): trying again", exc)
                await asyncio.sleep(0.3 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _iperf3_client_once(self, opts: Iperf3Options, *,
                                  timeout_s: float) -> tuple[Iperf3Result, str]:
        argv = client_argv(opts, binary=self.binary("iperf3"))
        self.log.debug("running %s", argv)
        try:
            result = await self._runner.run(argv, timeout_s=timeout_s)
        except FileNotFoundError as exc:
            raise self._missing("iperf3") from exc
        except asyncio.CancelledError as cancel:  # keep the seconds it had measured
            stopped = output_of(cancel)
            partial = None if stopped is None or opts.bidir else \
                parse_partial(stopped.stdout, direction=opts.direction)
            if partial is not None:
                attach_partial(cancel, partial)
            raise
        if result.returncode == 127 and not result.stdout.strip():
            raise self._missing("iperf3")
        if result.timed_out:
            message = (f"iperf3 client on host {self.name} did not finish within "
                       f"{timeout_s:g} s (test length "
                       f"{opts.whole_seconds + opts.omit_whole_seconds} s): stopped it")
            raise _incomplete(message, result.stdout, opts)
        if not result.stdout.strip():
            raise MeasurementError(
                f"iperf3 client on host {self.name} exited with {result.returncode} and no "
                f"output: {result.stderr.strip()[:500]}")
        try:
            parsed = parse_result(result.stdout, direction=opts.direction)
        except MeasurementError as exc:
            if _control_refused(str(exc)) and not _measured_anything(result.stdout):
                raise _NotStarted(f"host {self.name}: {exc}") from exc
            raise _incomplete(f"host {self.name}: {exc}", result.stdout, opts) from exc
        return parsed, result.stdout


def _incomplete(message: str, output: str, opts: Iperf3Options) -> MeasurementError:
    """The error of an iperf3 run that did not complete: an Iperf3Incomplete carrying the
    intervals it finished when there are any (a one-way run), else a plain MeasurementError."""
    partial = None if opts.bidir else parse_partial(output, direction=opts.direction)
    return MeasurementError(message) if partial is None else Iperf3Incomplete(message, partial)


_CONTROL_RETRIES = 3
# iperf3's words when the server refused or dropped the control connection; they count as a
# refusal only when no interval was measured, i.e. the test never started.
_CONTROL_REFUSALS = ("unable to receive control message", "the server is busy",
                     "unable to send control message", "control socket has closed unexpectedly")


class _NotStarted(MeasurementError):
    """The iperf3 server refused or dropped the control connection before any traffic."""


def _measured_anything(text: str) -> bool:
    try:
        doc = json.loads(text)
    except ValueError:
        return True  # cannot tell: treat as started, never re-run a test that may have run
    return bool(isinstance(doc, dict) and doc.get("intervals"))


def _control_refused(message: str) -> bool:
    return any(text in message for text in _CONTROL_REFUSALS)


async def _iperf3_answers(address: str, port: int) -> bool:
    """True if an iperf3 server accepts on address:port: it answers a cookie with a state byte.

    A bare connect would not do: another program may hold the port. The probe's aborted test
    costs a persistent server nothing (it resets and listens again).
    """
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(_PROBE_COOKIE)
        await writer.drain()
        state = await asyncio.wait_for(reader.read(1), 1.0)
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return state in (_PARAM_EXCHANGE, _ACCESS_DENIED)


def _iperf3_error(output: str) -> str:
    """iperf3's own error text from its JSON or text output, else the output's tail."""
    start = output.find("{")
    if start >= 0:
        with contextlib.suppress(ValueError):
            doc, _ = json.JSONDecoder().raw_decode(output, start)
            if isinstance(doc, dict) and doc.get("error"):
                return str(doc["error"])
    text = output.strip()
    return text[-500:] if text else "no output"
