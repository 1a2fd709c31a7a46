"""A `CommandRunner` for traffic hosts reached over SSH: runs argv lists on the remote host.

Every argument is quoted with `shlex.join` for the remote POSIX shell; nothing is ever
interpolated unquoted. Each command runs under a fixed `sh -c` wrapper that first checks the
program exists (so a missing tool is a FileNotFoundError, as with the local runner), then
prints its process id on stderr and `exec`s the program; that id is how a timed-out or stopped
command is signalled (`kill -TERM`, then `kill -KILL` after the grace time) over a second exec
channel, since closing an SSH channel does not stop a remote process. A cancelled command is
stopped the same way and what it printed until then is attached to the CancelledError
(`drivers.hosts.commands.output_of`), as with the local runner: an iperf3 client stopped by Ctrl-C
still reports the seconds it measured. If the SSH connection itself is gone, the remote
process cannot be signalled (it ends with its own test length) and only the output already
received comes back.

Needs a POSIX `sh` and `kill` on the host (any Linux traffic host has them).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
from collections.abc import Sequence

from drivers.capabilities import TransportStatus
from drivers.hosts.commands import BackgroundCommand, CommandResult, attach_output
from drivers.transport.ssh import RemoteProcess, SshTransport
from harness.base.errors import HarnessError

_WRAPPER = (
    'command -v "$1" >/dev/null 2>&1 || '
    '{ printf "ranharness: %s: not found\\n" "$1" >&2; exit 127; }; '
    'printf "ranharness-pid %s\\n" "$$" >&2; exec "$@"'
)
_PID_LINE = re.compile(r"ranharness-pid (\d+)\r?\n")
_NOT_FOUND = "ranharness: "
_POLL_S = 0.02
_OUTPUT_TAIL = 65536


def remote_command(argv: Sequence[str]) -> str:
    """The command line sent to the remote shell for `argv` (every word quoted)."""
    if not argv:
        raise ValueError("empty argv")
    return f"sh -c {shlex.quote(_WRAPPER)} ranharness {shlex.join(argv)}"


async def _wait(proc: RemoteProcess, timeout: float) -> bool:
    """True if the remote command ended within `timeout` seconds (polls; cancellable)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while proc.running:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(_POLL_S)
    return True


async def _pid(proc: RemoteProcess, timeout: float, *, combined: bool) -> int | None:
    """The remote process id once the wrapper printed it; None if the command ended first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        match = _PID_LINE.search(proc.stdout() if combined else proc.stderr())
        if match is not None:
            return int(match.group(1))
        if not proc.running:
            return None
        if loop.time() >= deadline:
            raise HarnessError(f"remote command {proc.command!r} did not start within "
                               f"{timeout:g} s")
        await asyncio.sleep(_POLL_S)


def _strip_pid(text: str) -> str:
    return _PID_LINE.sub("", text, count=1)


class _SshBackground:
    """A remote background command: output drained by the transport, stopped by signal."""

    def __init__(self, runner: SshRunner, proc: RemoteProcess, pid: int) -> None:
        self._runner = runner
        self._proc = proc
        self.pid = pid
        self._stopped = False
        self._status: int | None = None

    @property
    def running(self) -> bool:
        return self._proc.running

    def output(self) -> str:
        return _strip_pid(self._proc.stdout())[-_OUTPUT_TAIL:]

    async def stop(self, grace_s: float = 2.0) -> int | None:
        if not self._stopped:
            self._stopped = True
            await self._runner._terminate(self._proc, self.pid, grace_s)
            self._status = self._proc.exit_status
            await asyncio.to_thread(self._proc.close)
        return self._status


class SshRunner:
    """Runs argv lists on a remote host over one SSH connection (see the module doc)."""

    def __init__(self, transport: SshTransport) -> None:
        self.transport = transport

    async def run(self, argv: Sequence[str], *, timeout_s: float,
                  grace_s: float = 2.0) -> CommandResult:
        """Run to completion; past `timeout_s` terminate, then kill after `grace_s`."""
        proc = await self.transport.start(remote_command(argv))
        try:
            pid = await _pid(proc, self.transport.target.command_timeout_s, combined=False)
            timed_out = False
            if pid is not None and not await _wait(proc, timeout_s):
                timed_out = True
                await self._terminate(proc, pid, grace_s)
            else:
                await _wait(proc, 5.0)
        except asyncio.CancelledError as cancel:  # TERM, so the tool reports what it did
            pid_now = _PID_LINE.search(proc.stderr())
            if proc.running and pid_now is not None:
                await asyncio.shield(self._terminate(proc, int(pid_now.group(1)), grace_s))
            await asyncio.shield(asyncio.to_thread(proc.close))
            attach_output(cancel, CommandResult(tuple(argv), proc.exit_status, proc.stdout(),
                                                _strip_pid(proc.stderr()), False))
            raise
        except BaseException:
            if proc.running:
                pid_now = _PID_LINE.search(proc.stderr())
                if pid_now is not None:
                    await asyncio.shield(self._signal(int(pid_now.group(1)), "KILL"))
            await asyncio.to_thread(proc.close)
            raise
        await asyncio.to_thread(proc.close)
        status, out, err = proc.exit_status, proc.stdout(), _strip_pid(proc.stderr())
        if pid is None and status == 127 and err.startswith(_NOT_FOUND):
            raise FileNotFoundError(f"{argv[0]} not found on {self.transport.where}")
        self.transport.log.debug("%s -> exit %s%s", shlex.join(argv), status,
                                 " (timed out)" if timed_out else "")
        return CommandResult(tuple(argv), status, out, err, timed_out)

    async def start(self, argv: Sequence[str]) -> BackgroundCommand:
        """Start in the background with stdout and stderr merged and drained."""
        proc = await self.transport.start(remote_command(argv), combine_stderr=True)
        try:
            pid = await _pid(proc, self.transport.target.command_timeout_s, combined=True)
        except BaseException:
            await asyncio.to_thread(proc.close)
            raise
        if pid is None:
            await _wait(proc, 2.0)
            await asyncio.to_thread(proc.close)
            if proc.exit_status == 127 and proc.stdout().startswith(_NOT_FOUND):
                raise FileNotFoundError(f"{argv[0]} not found on {self.transport.where}")
            raise HarnessError(f"{shlex.join(argv)} ended at once on {self.transport.where} "
                               f"(exit {proc.exit_status}): {proc.stdout().strip()[-300:]}")
        return _SshBackground(self, proc, pid)

    async def _terminate(self, proc: RemoteProcess, pid: int, grace_s: float) -> None:
        """TERM, wait `grace_s`, then KILL; waits (bounded) for the command to end."""
        if not proc.running:
            return
        await self._signal(pid, "TERM")
        if not await _wait(proc, grace_s):
            await self._signal(pid, "KILL")
            await _wait(proc, 5.0)

    async def _signal(self, pid: int, signal: str) -> None:
        with contextlib.suppress(HarnessError):
            await self.transport.run(f"kill -{signal} {pid}", timeout_s=10.0)

    async def reachability(self) -> list[TransportStatus]:
        """Log in over SSH (nothing is run): ok, or the reason it failed."""
        try:
            await self.transport.connect()
        except HarnessError as exc:
            return [TransportStatus("ssh", False, str(exc), self.transport.host_key_policy)]
        return [TransportStatus("ssh", True, "", self.transport.host_key_policy)]

    async def close(self) -> None:
        """Close the SSH connection."""
        await self.transport.close()
