"""SSH transport: runs commands on a device over one reused paramiko connection.

This is the only module in `drivers/` that imports paramiko; every blocking paramiko call
goes through `asyncio.to_thread` here, so callers stay on the asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

import paramiko

from harness.config.secrets import Secret
from harness.errors import AuthFailed, CommandFailed, ConfigError, DeviceUnreachable

HOST_KEY_MODES = ("verify", "accept-new", "ignore")
_DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
_READ_CHUNK = 65536


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in: address, credentials and host-key policy."""

    host: str
    port: int = 22
    user: str = "admin"
    password: Secret | None = None
    key_file: str | None = None
    host_key: str = "verify"
    known_hosts: str | None = None
    timeout_s: float = 10.0
    command_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.host_key not in HOST_KEY_MODES:
            raise ConfigError(
                f"ssh.host_key must be one of {', '.join(HOST_KEY_MODES)}, got {self.host_key!r}"
            )

    @property
    def known_hosts_path(self) -> Path:
        """The known_hosts file used for host-key checks (default ~/.ssh/known_hosts)."""
        return Path(self.known_hosts or "~/.ssh/known_hosts").expanduser()

    @property
    def host_entry(self) -> str:
        """The host's name as OpenSSH writes it in known_hosts (`[host]:port` off port 22)."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


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


class HostKeyMismatch(AuthFailed):
    """The server's host key is unknown (under `verify`) or differs from known_hosts."""

    def __init__(self, message: str, *, changed: bool) -> None:
        super().__init__(message)
        self.changed = changed


class _SessionLost(Exception):
    """Internal: the connection died before a command started, so a retry is safe."""


class SshTransport:
    """One SSH connection per device, opened lazily and reused; reconnects once if it dropped.

    Only a failure before the command started is retried, so a command never runs twice.
    """

    def __init__(self, target: SshTarget, *, device: str) -> None:
        self._target = target
        self._device = device
        self._log = logging.getLogger(f"drivers.ssh.{device}")
        self._transport: paramiko.Transport | None = None
        self._lock = asyncio.Lock()

    @property
    def target(self) -> SshTarget:
        """The target this transport connects to."""
        return self._target

    async def __aenter__(self) -> SshTransport:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def run(self, command: str, *, timeout_s: float | None = None) -> CommandResult:
        """Run one command on an exec channel; raises CommandFailed only on timeout."""
        timeout = self._target.command_timeout_s if timeout_s is None else timeout_s
        transport = await self._session()
        try:
            result = await asyncio.to_thread(self._exec, transport, command, timeout)
        except _SessionLost as lost:
            self._log.debug("session lost (%s); reconnecting once", lost)
            await self._discard(transport)
            transport = await self._session()
            try:
                result = await asyncio.to_thread(self._exec, transport, command, timeout)
            except _SessionLost as again:
                await self._discard(transport)
                raise DeviceUnreachable(
                    f"{self._device}: SSH session to {self._target.host}:{self._target.port} "
                    f"dropped again right after reconnecting ({again}); check the device"
                ) from None
        self._log.debug("%r -> exit %d", command, result.exit_status)
        return result

    async def close(self) -> None:
        """Close the connection if open; a later run() opens a new one."""
        async with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            await asyncio.to_thread(transport.close)

    async def _session(self) -> paramiko.Transport:
        async with self._lock:
            current = self._transport
            if current is not None and current.is_active() and current.is_authenticated():
                return current
            self._transport = None
            if current is not None:
                await asyncio.to_thread(current.close)
            fresh = await asyncio.to_thread(_connect, self._target, self._device, self._log)
            self._transport = fresh
            return fresh

    async def _discard(self, transport: paramiko.Transport) -> None:
        async with self._lock:
            if self._transport is transport:
                self._transport = None
        await asyncio.to_thread(transport.close)

    def _exec(self, transport: paramiko.Transport, command: str, timeout: float) -> CommandResult:
        """Blocking: open a channel, run `command`, collect output until EOF or the deadline."""
        deadline = time.monotonic() + timeout
        try:
            channel = transport.open_session(timeout=max(timeout, 0.1))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _SessionLost(str(exc) or type(exc).__name__) from None
        try:
            channel.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            channel.close()
            if not transport.is_active():
                raise _SessionLost(str(exc) or type(exc).__name__) from None
            raise CommandFailed(
                f"{self._device}: the SSH server refused to run {command!r} ({exc}); "
                "the device may not allow exec channels"
            ) from None
        try:
            result = _collect(channel, command, deadline, self._device, timeout)
        finally:
            channel.close()
        if result.exit_status == -1 and not transport.is_active():
            raise DeviceUnreachable(
                f"{self._device}: SSH connection to {self._target.host}:{self._target.port} "
                f"dropped while running {command!r}; the command may or may not have run"
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
        out.extend(_drain(channel.recv, channel.recv_ready))
        err.extend(_drain(channel.recv_stderr, channel.recv_stderr_ready))
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


def _drain(recv: Callable[[int], bytes], ready: Callable[[], bool]) -> list[bytes]:
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


def _connect(target: SshTarget, device: str, log: logging.Logger) -> paramiko.Transport:
    """Blocking: TCP connect, SSH handshake, host-key check, then authentication."""
    where = f"{target.host}:{target.port}"
    try:
        sock = socket.create_connection((target.host, target.port), timeout=target.timeout_s)
    except TimeoutError:
        raise DeviceUnreachable(
            f"{device}: SSH connect to {where} timed out after {target.timeout_s:g} s; "
            "check the address, routing and firewall"
        ) from None
    except OSError as exc:
        raise DeviceUnreachable(
            f"{device}: cannot connect to SSH at {where}: {exc.strerror or exc}; "
            "check that the device is up and ssh.port is right"
        ) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = target.timeout_s
    transport.handshake_timeout = target.timeout_s
    transport.auth_timeout = target.timeout_s
    try:
        known = _known_keys(target)
        _prefer_known_key_types(transport, known)
        try:
            transport.start_client(timeout=target.timeout_s)
            # start_client returns quietly when its timeout expires mid-handshake.
            server_key = transport.get_remote_server_key()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            cause = str(transport.get_exception() or exc) or type(exc).__name__
            if "No existing session" in cause:
                cause = "no SSH handshake completed"
            raise DeviceUnreachable(
                f"{device}: SSH handshake with {where} failed within {target.timeout_s:g} s: "
                f"{cause}; "
                "is an SSH server listening on that port?"
            ) from None
        _check_host_key(target, device, server_key, known)
        _authenticate(target, device, transport)
    except BaseException:
        transport.close()
        raise
    log.debug("connected to %s as %s", where, target.user)
    return transport


def _known_keys(target: SshTarget) -> dict[str, paramiko.PKey]:
    """Host keys recorded for this host and port, by key type (empty when none)."""
    if target.host_key == "ignore":
        return {}
    path = target.known_hosts_path
    hostkeys = paramiko.HostKeys()
    try:
        hostkeys.load(str(path))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read known_hosts file {path}: {exc.strerror}") from None
    found = hostkeys.lookup(target.host_entry)
    return dict(found) if found else {}


def _prefer_known_key_types(transport: paramiko.Transport, known: dict[str, paramiko.PKey]) -> None:
    """Ask for a host-key type we already know first, as OpenSSH does."""
    if not known:
        return
    options = transport.get_security_options()
    current = list(options.key_types)
    wanted: list[str] = []
    for name in known:
        wanted.extend(["rsa-sha2-512", "rsa-sha2-256"] if name == "ssh-rsa" else [name])
    first = [name for name in current if name in wanted]
    options.key_types = tuple(first + [name for name in current if name not in first])


def _check_host_key(target: SshTarget, device: str, key: paramiko.PKey,
                    known: dict[str, paramiko.PKey]) -> None:
    """Apply the host-key policy; refuses before any credential is sent."""
    if target.host_key == "ignore":
        return
    path = target.known_hosts_path
    entry = target.host_entry
    if known:
        recorded = known.get(key.get_name())
        if recorded is not None and recorded.asbytes() == key.asbytes():
            return
        old = ", ".join(k.fingerprint for k in known.values())
        raise HostKeyMismatch(
            f"{device}: SSH host key of {entry} has CHANGED (known_hosts {path} has {old}, "
            f"server offered {key.get_name()} {key.fingerprint}); refusing to connect. If the "
            f"device was reinstalled, remove the old entry with `ssh-keygen -R '{entry}' -f "
            f"{path}` and connect again; otherwise suspect a man-in-the-middle",
            changed=True,
        )
    if target.host_key == "verify":
        port_opt = "" if target.port == 22 else f"-p {target.port} "
        raise HostKeyMismatch(
            f"{device}: SSH host key of {entry} ({key.get_name()} {key.fingerprint}) is not in "
            f"{path}; add it with `ssh-keyscan {port_opt}{target.host} >> {path}` after "
            f"checking the fingerprint, or set `host_key: accept-new` for this device",
            changed=False,
        )
    line = paramiko.hostkeys.HostKeyEntry([entry], key).to_line() or ""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    logging.getLogger(f"drivers.ssh.{device}").info(
        "added host key %s %s for %s to %s", key.get_name(), key.fingerprint, entry, path
    )


def _authenticate(target: SshTarget, device: str, transport: paramiko.Transport) -> None:
    """Try the key file, then the password; with neither, the agent and default keys."""
    where = f"{target.user}@{target.host}:{target.port}"
    tried: list[str] = []
    keys: list[tuple[str, paramiko.PKey]] = []
    if target.key_file is not None:
        keys.append((target.key_file, _load_key(target.key_file, device)))
    elif target.password is None:
        keys.extend(_agent_and_default_keys())
    for label, key in keys:
        tried.append(f"key {label}")
        if _try(partial(transport.auth_publickey, target.user, key), transport):
            return
    if target.password is not None:
        tried.append("password")
        secret = target.password.reveal()
        if _try(partial(transport.auth_password, target.user, secret), transport):
            return
    if not transport.is_active():
        raise DeviceUnreachable(
            f"{device}: {where} closed the connection during login; check sshd logs on the device"
        )
    raise AuthFailed(
        f"{device}: SSH login {where} refused (tried: {', '.join(tried) or 'nothing'}); "
        "check ssh.user and ssh.password or ssh.key_file in lab.yaml"
        + ("" if tried else ", or load a key into ssh-agent")
    )


def _try(attempt: Callable[[], object], transport: paramiko.Transport) -> bool:
    try:
        attempt()
    except paramiko.AuthenticationException:
        return False
    except (paramiko.SSHException, EOFError, OSError):
        return False
    return bool(transport.is_authenticated())


def _load_key(path: str, device: str) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError:
        raise ConfigError(f"{device}: ssh.key_file {path} does not exist") from None
    except paramiko.PasswordRequiredException:
        raise AuthFailed(
            f"{device}: SSH key {path} is encrypted; load it into ssh-agent and drop key_file, "
            "or use an unencrypted key for the lab"
        ) from None
    except (OSError, ValueError, paramiko.SSHException) as exc:
        raise ConfigError(f"{device}: cannot load SSH key {path}: {exc}") from None


def _agent_and_default_keys() -> list[tuple[str, paramiko.PKey]]:
    keys: list[tuple[str, paramiko.PKey]] = []
    with contextlib.suppress(paramiko.SSHException, OSError):
        agent = paramiko.Agent()
        keys.extend(("ssh-agent", key) for key in agent.get_keys())
        agent.close()
    home = Path("~/.ssh").expanduser()
    for name in _DEFAULT_KEYS:
        path = home / name
        if path.is_file():
            with contextlib.suppress(OSError, ValueError, paramiko.SSHException):
                keys.append((str(path), paramiko.PKey.from_path(str(path))))
    return keys
