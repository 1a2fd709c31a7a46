"""Exec channels: one command to completion (`exec_once`), or a streaming `RemoteProcess` whose
output a thread drains while the caller waits. Part of the SSH transport; blocking code only.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from harness.base.errors import CommandFailed, DeviceUnreachable

_READ_CHUNK = 65536
_POLL_S = 0.1


@dataclass(frozen=True)
class CommandResult:
    """What one remote command returned; exit_status is -1 when the server sent none."""

    command: str
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_status == 0


class SessionLost(Exception):
    """The connection died before a command started, so a retry is safe."""


def open_exec(transport: paramiko.Transport, command: str, timeout: float, device: str,
              *, combine_stderr: bool = False) -> paramiko.Channel:
    """Open a session channel and start `command` on it (SessionLost if the link is dead)."""
    try:
        channel = transport.open_session(timeout=max(timeout, 0.1))
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise SessionLost(str(exc) or type(exc).__name__) from None
    try:
        channel.set_combine_stderr(combine_stderr)
        channel.exec_command(command)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        channel.close()
        if not transport.is_active():
            raise SessionLost(str(exc) or type(exc).__name__) from None
        raise CommandFailed(
            f"{device}: the SSH server refused to run {command!r} ({exc}); "
            "the device may not allow exec channels"
        ) from None
    return channel


def exec_once(transport: paramiko.Transport, command: str, timeout: float,
              device: str, where: str) -> CommandResult:
    """Run `command`, collect output until EOF or the deadline; CommandFailed on timeout."""
    deadline = time.monotonic() + timeout
    channel = open_exec(transport, command, timeout, device)
    try:
        result = _collect(channel, command, deadline, device, timeout)
    finally:
        channel.close()
    if result.exit_status == -1 and not transport.is_active():
        raise DeviceUnreachable(
            f"{device}: SSH connection to {where} dropped while running {command!r}; "
            "the command may or may not have run"
        )
    return result


def _collect(channel: paramiko.Channel, command: str, deadline: float, device: str,
             timeout: float) -> CommandResult:
    """Read stdout and stderr until the server closes them, then the exit status."""
    out: list[bytes] = []
    err: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _raise_timeout(command, device, timeout, out, err)
        # Channel.fileno() is a pipe signalled on stdout or stderr data and on EOF.
        select.select([channel], [], [], remaining)
        finished = channel.eof_received or channel.closed
        out.extend(drain(channel.recv, channel.recv_ready))
        err.extend(drain(channel.recv_stderr, channel.recv_stderr_ready))
        if finished:
            break
    remaining = deadline - time.monotonic()
    if not channel.status_event.wait(max(remaining, 0.0)):
        _raise_timeout(command, device, timeout, out, err)
    return CommandResult(
        command=command,
        exit_status=channel.recv_exit_status(),
        stdout=b"".join(out).decode("utf-8", errors="replace"),
        stderr=b"".join(err).decode("utf-8", errors="replace"),
    )


def drain(recv: Callable[[int], bytes], ready: Callable[[], bool]) -> list[bytes]:
    """Everything buffered right now (reads never block: each follows a ready check)."""
    chunks: list[bytes] = []
    while ready():
        chunk = recv(_READ_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
    return chunks


def _raise_timeout(command: str, device: str, timeout: float, out: list[bytes],
                   err: list[bytes]) -> None:
    partial = b"".join(out + err).decode("utf-8", errors="replace")[-200:]
    raise CommandFailed(
        f"{device}: command {command!r} did not finish within {timeout:g} s"
        + (f" (last output: {partial!r})" if partial else "")
        + "; raise timeout_s / ssh.command_timeout if the device is just slow"
    )


class RemoteProcess:
    """A command running on an exec channel; a daemon thread drains its output into buffers.

    `stdout`/`stderr` keep the last `tail` bytes of each (stderr is empty when combined).
    """

    def __init__(self, channel: paramiko.Channel, command: str, *, tail: int = 1 << 20) -> None:
        self.command = command
        self._channel = channel
        self._tail = tail
        self._out = bytearray()
        self._err = bytearray()
        self._lock = threading.Lock()
        self._data = threading.Condition(self._lock)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True,
                                        name=f"ssh-proc-{channel.get_id()}")
        self._thread.start()

    def _pump(self) -> None:
        channel = self._channel
        try:
            while True:
                select.select([channel], [], [], _POLL_S)
                finished = channel.eof_received or channel.closed
                out = drain(channel.recv, channel.recv_ready)
                err = drain(channel.recv_stderr, channel.recv_stderr_ready)
                with self._data:
                    for chunk in out:
                        self._out += chunk
                    for chunk in err:
                        self._err += chunk
                    del self._out[:-self._tail]
                    del self._err[:-self._tail]
                    self._data.notify_all()
                if finished:
                    break
            channel.status_event.wait(5.0)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            self._done.set()
            with self._data:
                self._data.notify_all()

    @property
    def running(self) -> bool:
        """True until the remote command's output ended and its status arrived."""
        return not self._done.is_set()

    @property
    def exit_status(self) -> int | None:
        """The exit status once finished; None while running or when the server sent none
        (a command killed by a signal)."""
        if not self._done.is_set() or not self._channel.exit_status_ready():
            return None
        status = self._channel.recv_exit_status()
        return None if status == -1 else status

    def stdout(self) -> str:
        """Output so far (stdout, or both streams when combined)."""
        with self._lock:
            return self._out.decode("utf-8", "replace")

    def stderr(self) -> str:
        """Error output so far (empty when combined with stdout)."""
        with self._lock:
            return self._err.decode("utf-8", "replace")

    def wait(self, timeout: float) -> bool:
        """Blocking: True if the command finished within `timeout` seconds."""
        return self._done.wait(max(timeout, 0.0))

    def wait_for_output(self, predicate: Callable[[str, str], bool], timeout: float) -> bool:
        """Blocking: True once `predicate(stdout, stderr)` holds; False on timeout or exit."""
        deadline = time.monotonic() + timeout
        with self._data:
            while True:
                if predicate(self._out.decode("utf-8", "replace"),
                             self._err.decode("utf-8", "replace")):
                    return True
                remaining = deadline - time.monotonic()
                if self._done.is_set() or remaining <= 0:
                    return False
                self._data.wait(min(remaining, _POLL_S))

    def close(self) -> None:
        """Close the channel and let the drain thread end (bounded wait)."""
        self._channel.close()
        self._thread.join(2.0)
