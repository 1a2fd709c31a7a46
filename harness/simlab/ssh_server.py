"""The simulator's SSH server: a vendor-like CLI for a virtual device, built on paramiko.

Password login only; exec requests run one command, an interactive shell prints a banner and a
prompt and runs one command per line. Each connection and each channel gets a daemon thread.
"""

from __future__ import annotations

import codecs
import contextlib
import hmac
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)

from harness.base.errors import HarnessError
from harness.simlab.sftp_server import add_sftp

CommandHandler = Callable[[str], tuple[str, int]]
"""Command line -> (output text, exit status); may be called from a worker thread."""

ModeHandler = Callable[[str, str], tuple[str, int]]
"""(command line, mode) -> (output text, exit status), `mode` "exec" for an exec request and
"cli" for a line typed in the interactive shell: for a device whose answer differs between
them (a replayed recording); may be called from a worker thread."""

_POLL_S = 0.1  # how often blocked threads look at the stop flag
_CLOSE_PAUSE_S = 0.003  # lets the channel-request reply go out before we close (LAB-NOTES)
_CLIENT_DONE_WAIT_S = 2.0  # an exec channel stays open this long at most for the client to close
_JOIN_S = 3.0  # total time stop() waits for threads
_EXIT_WORDS = frozenset({"exit", "logout", "quit"})


def load_or_create_host_key(path: Path) -> paramiko.PKey:
    """Load the host key at `path`; if absent, write a new Ed25519 key there (OpenSSH format).

    Ed25519 because it is what OpenSSH prefers and paramiko reads; paramiko cannot generate
    it, so cryptography does and writes the standard `-----BEGIN OPENSSH PRIVATE KEY-----` file.
    """
    if not path.exists():
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    return paramiko.PKey.from_path(str(path))


class SshCliServer:
    """Vendor-like SSH CLI for a virtual device: password auth, exec requests, an interactive
    shell with a prompt and, given `sftp_root`, an SFTP subsystem confined to that directory.
    Fault injection: `refuse_auth`, `drop_all` (close sessions as they open), `drop_sessions()`."""

    def __init__(self, *, host: str, port: int, users: Mapping[str, str], host_key_file: Path,
                 handler: CommandHandler | None = None, prompt: str = "gnb# ",
                 banner: str = "", sftp_root: Path | None = None,
                 mode_handler: ModeHandler | None = None) -> None:
        if handler is not None and mode_handler is None:
            self._handler = _ignore_mode(handler)
        elif mode_handler is not None and handler is None:
            self._handler = mode_handler
        else:
            raise ValueError("give the SSH server one of handler or mode_handler")
        self.host = host
        self._port = port
        self._users = dict(users)
        self.prompt = prompt
        self.banner = banner
        self.refuse_auth = False
        self.drop_all = False
        self._sftp_root = sftp_root
        self._host_key = load_or_create_host_key(Path(host_key_file))
        self._log = logging.getLogger(f"harness.simlab.ssh.{host}:{port}")
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._transports: set[paramiko.Transport] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None

    @property
    def port(self) -> int:
        """The listening port (the real one once started, also when constructed with 0)."""
        return self._port

    @property
    def host_key_line(self) -> str:
        """The public host key as `ssh-ed25519 AAAA...`, for a known_hosts line."""
        return f"{self._host_key.get_name()} {self._host_key.get_base64()}"

    def start(self) -> None:
        """Open the listening socket and start the accept thread; returns once listening."""
        if self._listener is not None:
            return
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self._port))
        except OSError as exc:
            listener.close()
            raise HarnessError(
                f"SSH server cannot listen on {self.host}:{self._port}: {exc.strerror or exc}"
            ) from None
        listener.listen(16)
        listener.settimeout(_POLL_S)
        self._port = int(listener.getsockname()[1])
        self._listener = listener
        self._stopping.clear()
        self._spawn(self._accept_loop, "accept")
        self._log.debug("listening on %s:%d", self.host, self._port)

    def stop(self) -> None:
        """Close the listener and every session, then join the threads (bounded wait)."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self.drop_sessions()
        deadline = time.monotonic() + _JOIN_S
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            self._log.warning("threads still running after stop: %s", ", ".join(stuck))

    @property
    def session_count(self) -> int:
        """Open SSH connections."""
        with self._lock:
            return len(self._transports)

    def drop_sessions(self) -> None:
        """Fault injection: close every open SSH connection (clients see a dropped session)."""
        with self._lock:
            transports = list(self._transports)
            self._transports.clear()
        for transport in transports:
            transport.close()

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"ssh-cli-{self._port}-{name}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None and not self._stopping.is_set():
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._spawn(self._serve_connection, f"{peer[0]}:{peer[1]}", conn)

    def _serve_connection(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(self._host_key)
        if self._sftp_root is not None:
            add_sftp(transport, self._sftp_root)
        with self._lock:
            if self._stopping.is_set():
                conn.close()
                return
            self._transports.add(transport)
        try:
            transport.start_server(server=_Interface(self))
            # Channels are served from the request callbacks; accept() drains the queue and
            # `held` keeps them referenced, since paramiko closes a garbage-collected Channel.
            held: list[paramiko.Channel] = []
            while transport.is_active() and not self._stopping.is_set() and not self.drop_all:
                channel = transport.accept(timeout=_POLL_S)
                held = [c for c in held if not c.closed]
                if channel is not None:
                    held.append(channel)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._log.debug("connection ended: %s", exc)
        finally:
            with self._lock:
                self._transports.discard(transport)
            transport.close()

    def _check_password(self, username: str, password: str) -> bool:
        expected = self._users.get(username)
        if self.refuse_auth or expected is None:
            return False
        return hmac.compare_digest(expected.encode(), password.encode())

    def _call(self, line: str, mode: str) -> tuple[str, int]:
        try:
            return self._handler(line, mode)
        except Exception as exc:  # a simulator bug must not kill the session
            self._log.exception("handler failed on %r", line)
            return f"% internal error: {exc}\n", 1

    def _serve_exec(self, channel: paramiko.Channel, command: str) -> None:
        try:
            output, status = self._call(command, "exec")
            if output and not output.endswith("\n"):
                output += "\n"
            if output:
                channel.sendall(output.encode())
            channel.send_exit_status(status)
            channel.shutdown_write()
            _await_client_done(channel)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._log.debug("exec %r aborted: %s", command, exc)
        finally:
            _close(channel)

    def _serve_shell(self, channel: paramiko.Channel) -> None:
        try:
            _ShellSession(self, channel).run()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._log.debug("shell aborted: %s", exc)
        finally:
            _close(channel)


def _ignore_mode(handler: CommandHandler) -> ModeHandler:
    """A handler that answers the same in both modes (the simulated gNodeB and core)."""
    return lambda line, _mode: handler(line)


def _close(channel: paramiko.Channel) -> None:
    """Close a channel whose client may already be gone (the close itself then fails)."""
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        channel.close()


def _await_client_done(channel: paramiko.Channel) -> None:
    """Close an exec channel only once the client has closed or sent EOF (bounded wait).

    The command runs in a thread spawned from the exec request's callback, and paramiko sends
    the request's reply only after that callback returns: a fast command closing its channel at
    once can overtake the reply, and the client then reads "Channel closed." for a command that
    did run (seen under load). A real sshd never closes before the client has the reply."""
    deadline = time.monotonic() + _CLIENT_DONE_WAIT_S
    while not (channel.closed or channel.eof_received) and time.monotonic() < deadline:
        time.sleep(_CLOSE_PAUSE_S)


class _ShellSession:
    """One interactive shell: minimal line editing (CR/LF, backspace, Ctrl-C/D), echo, prompt."""

    def __init__(self, server: SshCliServer, channel: paramiko.Channel) -> None:
        self._server = server
        self._channel = channel
        self._line: list[str] = []
        self._last_cr = False
        self._in_escape = False

    def _write(self, text: str) -> None:
        self._channel.sendall(text.replace("\r\n", "\n").replace("\n", "\r\n").encode())

    def run(self) -> None:
        """Serve until exit/logout, Ctrl-D on an empty line, EOF or server stop."""
        self._channel.settimeout(_POLL_S)
        banner = self._server.banner
        if banner and not banner.endswith("\n"):
            banner += "\n"
        self._write(banner + self._server.prompt)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while not self._server._stopping.is_set() and not self._channel.closed:
            try:
                data = self._channel.recv(1024)
            except TimeoutError:
                continue
            if not data:
                return
            for char in decoder.decode(data):
                if not self._feed(char):
                    self._channel.send_exit_status(0)
                    time.sleep(_CLOSE_PAUSE_S)
                    return

    def _feed(self, char: str) -> bool:
        """Handle one typed character; False ends the session."""
        after_cr, self._last_cr = self._last_cr, char == "\r"
        if self._in_escape:  # skip ANSI sequences such as arrow keys (ESC [ A)
            self._in_escape = not (char.isalpha() or char == "~")
            return True
        if char == "\n" and after_cr:
            return True
        if char in "\r\n":
            self._write("\n")
            line = "".join(self._line).strip()
            self._line.clear()
            return self._execute(line)
        if char in "\x7f\x08":
            if self._line:
                self._line.pop()
                self._write("\b \b")
        elif char == "\x03":
            self._line.clear()
            self._write("^C\n" + self._server.prompt)
        elif char == "\x04":
            return bool(self._line)
        elif char == "\x1b":
            self._in_escape = True
        elif char.isprintable() or char == "\t":
            self._line.append(char)
            self._write(char)
        return True

    def _execute(self, line: str) -> bool:
        if line in _EXIT_WORDS:
            return False
        if line:
            output, _status = self._server._call(line, "cli")
            if output and not output.endswith("\n"):
                output += "\n"
            self._write(output)
        self._write(self._server.prompt)
        return True


class _Interface(paramiko.ServerInterface):
    """paramiko's callbacks for one connection; runs on that connection's transport thread."""

    def __init__(self, server: SshCliServer) -> None:
        self._server = server

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        if self._server._check_password(username, password):
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, channel: paramiko.Channel, term: bytes, width: int,
                                  height: int, pixelwidth: int, pixelheight: int,
                                  modes: bytes) -> bool:
        return True

    def check_channel_window_change_request(self, channel: paramiko.Channel, width: int,
                                            height: int, pixelwidth: int,
                                            pixelheight: int) -> bool:
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        text = command.decode("utf-8", errors="replace")
        self._server._spawn(self._server._serve_exec, f"exec-{channel.get_id()}", channel, text)
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self._server._spawn(self._server._serve_shell, f"shell-{channel.get_id()}", channel)
        return True


__all__ = ["CommandHandler", "ModeHandler", "SshCliServer", "load_or_create_host_key"]
