"""How a traffic host runs its tools: argv lists through a `CommandRunner`, never a shell line.

`LocalRunner` runs them on this machine; `drivers.hosts.ssh_runner.SshRunner` on a remote host
over SSH. `run_tool` and `start_tool` are the one path every tool client and server takes
(iperf3, irtt, ping): a program that is not there becomes the host's `ToolMissing`.
`ToolServer` is a tool's server running in the background until stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from harness.base.errors import ToolMissing

_OUTPUT_TAIL = 65536


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


async def run_tool(runner: CommandRunner, argv: Sequence[str], *, timeout_s: float,
                   missing: Callable[[], ToolMissing]) -> CommandResult:
    """Run a tool's client to completion (see `CommandRunner.run`); a program that does not
    exist, or that the remote shell could not find (exit 127, no output), raises `missing()`."""
    try:
        result = await runner.run(argv, timeout_s=timeout_s)
    except FileNotFoundError as exc:
        raise missing() from exc
    if result.returncode == 127 and not result.stdout.strip():
        raise missing()
    return result


async def start_tool(runner: CommandRunner, argv: Sequence[str], *,
                     missing: Callable[[], ToolMissing]) -> BackgroundCommand:
    """Start a tool's server in the background; a program that does not exist raises
    `missing()`."""
    try:
        return await runner.start(argv)
    except FileNotFoundError as exc:
        raise missing() from exc


class ToolServer:
    """A tool's server running on a traffic host; stop it (or use `async with`) when done."""

    def __init__(self, port: int, command: BackgroundCommand) -> None:
        self.port = port
        self._command = command
        self._stopped = False
        self.returncode: int | None = None

    async def stop(self) -> None:
        """Terminate the server, kill it after 2 s; safe to call more than once."""
        if not self._stopped:
            self.returncode = await self._command.stop(2.0)
            self._stopped = True

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._command.running

    def output(self) -> str:
        """What the server printed so far (reports and errors), for evidence."""
        return self._command.output()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()
