"""A traffic host's commands in its device log: every argv run or started (iperf3, irtt,
ping, version probes), its exit status and the tail of what it printed, secrets masked by the
`DeviceLog` — the same for a local host and one reached over SSH (whose transport also logs
the SSH exec it makes)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from drivers.hosts.commands import BackgroundCommand, CommandResult, CommandRunner
from drivers.transport.devlog import DeviceLog

_TAIL = 2000  # characters of a command's output kept in the log


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _TAIL else f"…{text[-_TAIL:]}"


class LoggedRunner:
    """Runs through `runner`, writing each command and its outcome to `log`."""

    def __init__(self, runner: CommandRunner, log: DeviceLog) -> None:
        self.runner = runner
        self.log = log

    async def run(self, argv: Sequence[str], *, timeout_s: float,
                  grace_s: float = 2.0) -> CommandResult:
        """Run to completion (see `CommandRunner.run`), logging argv, exit and output."""
        line = shlex.join(argv)
        self.log.info("run> %s", line)
        try:
            result = await self.runner.run(argv, timeout_s=timeout_s, grace_s=grace_s)
        except FileNotFoundError:
            self.log.warning("run %s: program not found", line)
            raise
        except BaseException as exc:  # cancelled (Ctrl-C) or a transport failure
            self.log.warning("run %s: stopped (%s%s)", line, type(exc).__name__,
                             f": {exc}" if str(exc) else "")
            raise
        self.log.info("run %s -> exit %s%s", argv[0], result.returncode,
                      " (timed out)" if result.timed_out else "")
        if result.stdout.strip() or result.stderr.strip():
            self.log.debug("run< stdout %s | stderr %s", _tail(result.stdout) or "-",
                           _tail(result.stderr) or "-")
        return result

    async def start(self, argv: Sequence[str]) -> BackgroundCommand:
        """Start in the background (see `CommandRunner.start`), logging argv; its stop is
        logged with its exit status and output."""
        line = shlex.join(argv)
        self.log.info("start& %s", line)
        try:
            command = await self.runner.start(argv)
        except BaseException as exc:
            self.log.warning("start %s: failed (%s%s)", line, type(exc).__name__,
                             f": {exc}" if str(exc) else "")
            raise
        return _LoggedBackground(command, argv[0], self.log)


class _LoggedBackground:
    """A started command whose stop is logged."""

    def __init__(self, command: BackgroundCommand, program: str, log: DeviceLog) -> None:
        self.command = command
        self.program = program
        self.log = log

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.command.running

    def output(self) -> str:
        """The last part of its combined stdout and stderr so far."""
        return self.command.output()

    async def stop(self, grace_s: float = 2.0) -> int | None:
        """Terminate it (see `BackgroundCommand.stop`), logging its exit and output."""
        status = await self.command.stop(grace_s)
        self.log.info("stopped %s -> exit %s", self.program, status)
        output = self.command.output()
        if output.strip():
            self.log.debug("stopped< %s", _tail(output))
        return status
