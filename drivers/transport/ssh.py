"""SSH transport: commands, interactive CLI sessions and SFTP on a device over one reused
paramiko connection (direct or through a jump host).

`drivers/transport/ssh*.py` are the only modules in `drivers/` that import paramiko: this one is
the asyncio face, `ssh_connect` opens connections (host keys, auth, jump hosts), `ssh_exec` runs
exec channels, `ssh_cli` drives interactive shells, `ssh_sftp` moves files. Every blocking
paramiko call goes through `asyncio.to_thread`, so callers stay on the asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import paramiko

from drivers.transport.devlog import DeviceLog
from drivers.transport.ssh_cli import CliOptions, CliSession
from drivers.transport.ssh_connect import (
    HOST_KEY_MODES,
    HostKeyMismatch,
    Link,
    SshTarget,
    connect,
)
from drivers.transport.ssh_exec import (
    CommandResult,
    RemoteProcess,
    SessionLost,
    exec_once,
    open_exec,
)
from drivers.transport.ssh_sftp import SftpOps, Transfer
from harness.base.errors import CommandFailed, ConfigError, DeviceUnreachable

__all__ = [
    "HOST_KEY_MODES",
    "CliOptions",
    "CliSession",
    "CommandResult",
    "HostKeyMismatch",
    "RemoteProcess",
    "SshTarget",
    "SshTransport",
    "Transfer",
]

_OUTPUT_LOG_LIMIT = 65536
_T = TypeVar("_T")
_Step = Callable[[paramiko.Transport], _T]
_SftpStep = Callable[[SftpOps], Transfer]


class SshTransport:
    """One SSH connection per device, opened lazily and reused; reconnects once if it dropped.

    Only a failure before a command started is retried, so a command never runs twice. Every
    command and its output go to the device's log (`log`), with the device's secrets masked.
    """

    def __init__(self, target: SshTarget, *, device: str, log: DeviceLog | None = None) -> None:
        self._target = target
        self._device = device
        self.log = log if log is not None else DeviceLog(device)
        hop: SshTarget | None = target
        while hop is not None:  # mask passwords before the first line is logged
            if hop.password is not None:
                with contextlib.suppress(ConfigError):
                    self.log.mask(hop.password.reveal())
            hop = hop.jump
        self._link: Link | None = None
        self._lock = asyncio.Lock()

    @property
    def target(self) -> SshTarget:
        """The target this transport connects to."""
        return self._target

    @property
    def host_key_policy(self) -> str:
        """The host-key policy in force (`verify`, `accept-new`, `ignore`), for reports."""
        return self._target.host_key_policy

    @property
    def where(self) -> str:
        """`host:port` of the device."""
        return f"{self._target.host}:{self._target.port}"

    async def __aenter__(self) -> SshTransport:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect and log in now (no command runs): proves the device is reachable."""
        await self._session()

    async def run(self, command: str, *, timeout_s: float | None = None) -> CommandResult:
        """Run one command on an exec channel; raises CommandFailed only on timeout."""
        timeout = self._target.command_timeout_s if timeout_s is None else timeout_s
        self.log.info("exec> %s", command)
        try:
            result = await self._with_retry(
                lambda t: exec_once(t, command, timeout, self._device, self.where))
        except Exception as exc:
            self.log.warning("exec %r failed: %s", command, exc)
            raise
        self.log.info("exec %r -> exit %d", command, result.exit_status)
        if result.stdout or result.stderr:
            self.log.debug("exec< stdout %s%s", _limit(result.stdout),
                           f"\nexec< stderr {_limit(result.stderr)}" if result.stderr else "")
        return result

    async def start(self, command: str, *, combine_stderr: bool = False) -> RemoteProcess:
        """Start a command whose output is drained in the background (a server, a long job)."""
        timeout = self._target.timeout_s
        self.log.info("exec& %s", command)
        channel = await self._with_retry(
            lambda t: open_exec(t, command, timeout, self._device, combine_stderr=combine_stderr))
        return RemoteProcess(channel, command)

    async def open_cli(self, options: CliOptions) -> CliSession:
        """An interactive shell session (pty) with the device's prompt and on_connect done."""
        link = await self._session()
        session = await asyncio.to_thread(
            CliSession.open_blocking, link.transport, options, self._device, self.log,
            self._target.timeout_s, self._target.command_timeout_s)
        try:
            await session.setup()
        except BaseException:
            await session.close()
            raise
        return session

    async def put(self, local: Path, remote: str, *, verify: str = "read-back",
                  expected_sha256: str | None = None) -> Transfer:
        """SFTP upload, verified by SHA-256 (see `drivers.transport.ssh_sftp`)."""
        link = await self._session()
        return await asyncio.to_thread(self._sftp, link, lambda ops: ops.put(
            Path(local), remote, verify, expected_sha256))

    async def get(self, remote: str, local: Path, *, verify: str = "read-back",
                  expected_sha256: str | None = None) -> Transfer:
        """SFTP download, verified by SHA-256 (see `drivers.transport.ssh_sftp`)."""
        link = await self._session()
        return await asyncio.to_thread(self._sftp, link, lambda ops: ops.get(
            remote, Path(local), verify, expected_sha256))

    async def sftp_session(self, step: Callable[[paramiko.SFTPClient], _T]) -> _T:
        """Run a blocking `step` on a fresh SFTP channel (listings, small reads such as PM
        files); SFTP and OS errors become CommandFailed naming the device."""
        link = await self._session()

        def run() -> _T:
            ops = SftpOps(link.transport, self._device, self.log, lambda _c: (1, ""))
            try:
                return step(ops.sftp)
            except FileNotFoundError as exc:
                raise CommandFailed(f"{self._device}: SFTP: no such file or folder "
                                    f"({exc.filename or exc})") from None
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise CommandFailed(f"{self._device}: SFTP failed: {exc}") from None
            finally:
                ops.close()

        return await asyncio.to_thread(run)

    def _sftp(self, link: Link, step: _SftpStep) -> Transfer:
        def run(command: str) -> tuple[int, str]:
            self.log.info("exec> %s", command)
            result = exec_once(link.transport, command, self._target.command_timeout_s,
                               self._device, self.where)
            self.log.debug("exec< exit %d: %s", result.exit_status, _limit(result.stdout))
            return result.exit_status, result.stdout

        ops = SftpOps(link.transport, self._device, self.log, run)
        try:
            return step(ops)
        finally:
            ops.close()

    async def close(self) -> None:
        """Close the connection if open; a later call opens a new one."""
        async with self._lock:
            link, self._link = self._link, None
        if link is not None:
            await asyncio.to_thread(link.close)

    async def _with_retry(self, step: _Step[_T]) -> _T:
        link = await self._session()
        try:
            return await asyncio.to_thread(step, link.transport)
        except SessionLost as lost:
            self.log.debug("session lost (%s); reconnecting once", lost)
            await self._discard(link)
        link = await self._session()
        try:
            return await asyncio.to_thread(step, link.transport)
        except SessionLost as again:
            await self._discard(link)
            raise DeviceUnreachable(
                f"{self._device}: SSH session to {self.where} dropped again right after "
                f"reconnecting ({again}); check the device"
            ) from None

    async def _session(self) -> Link:
        async with self._lock:
            current = self._link
            if current is not None and current.usable():
                return current
            self._link = None
            if current is not None:
                await asyncio.to_thread(current.close)
            fresh = await asyncio.to_thread(connect, self._target, self._device, self.log)
            self._link = fresh
            return fresh

    async def _discard(self, link: Link) -> None:
        async with self._lock:
            if self._link is link:
                self._link = None
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            await asyncio.to_thread(link.close)


def _limit(text: str) -> str:
    if len(text) <= _OUTPUT_LOG_LIMIT:
        return text
    return text[:_OUTPUT_LOG_LIMIT] + f"... [{len(text) - _OUTPUT_LOG_LIMIT} more characters]"

