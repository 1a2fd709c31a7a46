"""Opening an SSH connection: TCP (direct or through a jump host), handshake, host-key policy,
authentication (key file, agent, password) and keepalives. Part of the SSH transport.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import paramiko

from drivers.transport.devlog import DeviceLog
from harness.base.errors import AuthFailed, ConfigError, DeviceUnreachable
from harness.base.secrets import Secret

HOST_KEY_MODES = ("verify", "accept-new", "ignore")
_DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in: address, credentials, host-key policy, jump host, timers.

    Authentication tries, in order: `key_file`; the ssh-agent's keys when `agent` is true (or
    when it is None and neither a key file nor a password is given, together with the default
    ~/.ssh/id_* keys); then `password` (also over keyboard-interactive).
    """

    host: str
    port: int = 22
    user: str = "admin"
    password: Secret | None = None
    key_file: str | None = None
    host_key: str = "verify"
    known_hosts: str | None = None
    timeout_s: float = 10.0
    command_timeout_s: float = 30.0
    agent: bool | None = None
    keepalive_s: float = 0.0
    jump: SshTarget | None = None

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

    @property
    def host_key_policy(self) -> str:
        """The host-key policy in force, as a report records it (jump hosts included)."""
        policy = self.host_key
        if self.jump is not None:
            policy += f" (jump {self.jump.host}:{self.jump.port}: {self.jump.host_key_policy})"
        return policy


class HostKeyMismatch(AuthFailed):
    """The server's host key is unknown (under `verify`) or differs from known_hosts."""

    def __init__(self, message: str, *, changed: bool) -> None:
        super().__init__(message)
        self.changed = changed


@dataclass
class Link:
    """An authenticated SSH connection and the jump-host connections it runs through."""

    transport: paramiko.Transport
    hops: list[paramiko.Transport] = field(default_factory=list)

    def usable(self) -> bool:
        """True while the connection is up and logged in."""
        return bool(self.transport.is_active() and self.transport.is_authenticated())

    def close(self) -> None:
        """Close the connection, then the jump hosts' (innermost first)."""
        self.transport.close()
        for hop in reversed(self.hops):
            hop.close()


def connect(target: SshTarget, device: str, log: DeviceLog) -> Link:
    """Blocking: TCP connect (or a jump host's direct-tcpip channel), SSH handshake, host-key
    check, then authentication. Raises DeviceUnreachable, HostKeyMismatch or AuthFailed."""
    where = f"{target.host}:{target.port}"
    if target.password is not None:
        log.mask(target.password.reveal())
    sock, hops = _open_socket(target, device, log)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = target.timeout_s
    transport.handshake_timeout = target.timeout_s
    transport.auth_timeout = target.timeout_s
    link = Link(transport, hops)
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
                f"{cause}; is an SSH server listening on that port?"
            ) from None
        _check_host_key(target, device, server_key, known, log)
        _authenticate(target, device, transport)
        if target.keepalive_s > 0:
            transport.set_keepalive(max(1, round(target.keepalive_s)))
    except BaseException:
        link.close()
        raise
    log.debug("ssh connected to %s as %s%s (host key policy %s)", where, target.user,
              f" via {target.jump.host}:{target.jump.port}" if target.jump else "",
              target.host_key_policy)
    return link


def _open_socket(target: SshTarget, device: str,
                 log: DeviceLog) -> tuple[socket.socket | paramiko.Channel,
                                          list[paramiko.Transport]]:
    """A byte stream to the target: a TCP socket, or a channel opened by the jump host."""
    where = f"{target.host}:{target.port}"
    if target.jump is not None:
        jump = target.jump
        hop = connect(jump, f"{device} (jump host {jump.host}:{jump.port})", log)
        try:
            channel = hop.transport.open_channel(
                "direct-tcpip", (target.host, target.port), ("127.0.0.1", 0),
                timeout=target.timeout_s)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            hop.close()
            raise DeviceUnreachable(
                f"{device}: jump host {jump.host}:{jump.port} could not connect to {where} "
                f"({exc or type(exc).__name__}); check that the device is up and that the jump "
                "host allows forwarding there (AllowTcpForwarding, PermitOpen)"
            ) from None
        return channel, [*hop.hops, hop.transport]
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
    return sock, []


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
                    known: dict[str, paramiko.PKey], log: DeviceLog) -> None:
    """Apply the host-key policy; refuses before any credential is sent."""
    if target.host_key == "ignore":
        log.warning("host key of %s NOT checked (host_key: ignore); offered %s %s",
                    target.host_entry, key.get_name(), key.fingerprint)
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
    log.warning("accepted NEW host key %s %s for %s into %s (host_key: accept-new)",
                key.get_name(), key.fingerprint, entry, path)


def _authenticate(target: SshTarget, device: str, transport: paramiko.Transport) -> None:
    """Try the key file, the agent (and default keys), then the password."""
    auto = target.agent is None and target.key_file is None and target.password is None
    agent = _open_agent() if target.agent or auto else None
    try:
        _try_credentials(target, device, transport, agent, auto=auto)
    finally:
        if agent is not None:
            agent.close()


def _try_credentials(target: SshTarget, device: str, transport: paramiko.Transport,
                     agent: paramiko.Agent | None, *, auto: bool) -> None:
    where = f"{target.user}@{target.host}:{target.port}"
    tried: list[str] = []
    keys: list[tuple[str, paramiko.PKey]] = []
    if target.key_file is not None:
        keys.append((target.key_file, _load_key(target.key_file, device)))
    agent_keys = [(f"ssh-agent {k.fingerprint}", k) for k in agent.get_keys()] if agent else []
    if target.agent and not agent_keys:
        tried.append("ssh-agent (none running or it holds no key: is SSH_AUTH_SOCK set?)")
    keys.extend(agent_keys)
    if auto:
        keys.extend(_default_keys())
    for label, key in keys:
        tried.append(f"key {label}")
        if _try(partial(transport.auth_publickey, target.user, key), transport):
            return
    if target.password is not None:
        tried.append("password")
        secret = target.password.reveal()
        if _try(partial(transport.auth_password, target.user, secret), transport):
            return
        if transport.is_active() and _try(
                partial(transport.auth_interactive, target.user, _answer_with(secret)), transport):
            return
    if not transport.is_active():
        raise DeviceUnreachable(
            f"{device}: {where} closed the connection during login; check sshd logs on the device"
        )
    raise AuthFailed(
        f"{device}: SSH login {where} refused (tried: {', '.join(tried) or 'nothing'}); "
        "check ssh.user and ssh.password, ssh.key_file or ssh.agent in lab.yaml"
        + ("" if tried else ", or load a key into ssh-agent")
    )


def _answer_with(secret: str) -> Callable[[str, str, list[tuple[str, bool]]], list[str]]:
    """Keyboard-interactive handler: the password for each hidden prompt, blank otherwise."""
    def handler(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        return [secret if not echo else "" for _, echo in prompts]
    return handler


def _try(attempt: Callable[[], object], transport: paramiko.Transport) -> bool:
    try:
        attempt()
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
            f"{device}: SSH key {path} is encrypted; load it into ssh-agent and set "
            "`agent: true` instead of key_file, or use an unencrypted key for the lab"
        ) from None
    except (OSError, ValueError, paramiko.SSHException) as exc:
        raise ConfigError(f"{device}: cannot load SSH key {path}: {exc}") from None


def _open_agent() -> paramiko.Agent | None:
    """The ssh-agent at $SSH_AUTH_SOCK, or None when there is none."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return None
    try:
        return paramiko.Agent()
    except (paramiko.SSHException, OSError):
        return None


def _default_keys() -> list[tuple[str, paramiko.PKey]]:
    keys: list[tuple[str, paramiko.PKey]] = []
    home = Path("~/.ssh").expanduser()
    for name in _DEFAULT_KEYS:
        path = home / name
        if path.is_file():
            with contextlib.suppress(OSError, ValueError, paramiko.SSHException):
                keys.append((str(path), paramiko.PKey.from_path(str(path))))
    return keys
