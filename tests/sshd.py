"""Real OpenSSH sshd instances for tests: free loopback port, own host and client keys.

With `password=`, sshd runs in a private mount namespace where /etc/shadow is a copy that
gives the current user that password (bind-mounted, so the machine's own file is untouched):
sshd's password auth reads shadow, and UsePAM is off.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from drivers.transport.ssh import SshTarget
from tests.conftest import free_port, require_tool


@dataclass(frozen=True)
class Sshd:
    """A running sshd: where it listens, its host key, a client key it accepts, its log."""

    host: str
    port: int
    host_pub: str  # "ssh-ed25519 AAAA..."
    client_key: Path
    tmp: Path
    log: Path

    def target(self, **changes: object) -> SshTarget:
        base = SshTarget(host=self.host, port=self.port, user=getpass.getuser(),
                         key_file=str(self.client_key), known_hosts=str(self.tmp / "known_hosts"),
                         timeout_s=5.0, command_timeout_s=10.0)
        return replace(base, **changes)  # type: ignore[arg-type]

    @property
    def known_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_pub}"

    def write_known_hosts(self, path: Path | None = None) -> Path:
        path = path or self.tmp / "known_hosts"
        path.write_text(f"# test\n{self.known_line}\n")
        return path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def keygen(path: Path) -> None:
    """An unencrypted ed25519 key pair at `path` (and `path`.pub)."""
    subprocess.run([require_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True, timeout=20)


def _wait_port(host: str, port: int, proc: subprocess.Popen[bytes], log: Path,
               timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"sshd exited ({proc.returncode}): {text[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on {host}:{port} within {timeout} s")


def _shadow_with_password(tmp: Path, password: str) -> Path:
    openssl = require_tool("openssl")
    hashed = subprocess.run([openssl, "passwd", "-6", "-stdin"], input=password.encode(),
                            check=True, capture_output=True, timeout=20).stdout.decode().strip()
    user = getpass.getuser()
    lines = []
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            fields[1] = hashed
        lines.append(":".join(fields))
    shadow = tmp / "shadow"
    shadow.write_text("\n".join(lines) + "\n")
    shadow.chmod(0o600)
    return shadow


@contextlib.contextmanager
def running_sshd(tmp: Path, *, host: str = "127.0.0.1", extra: str = "",
                 password: str | None = None, log_level: str = "ERROR") -> Iterator[Sshd]:
    """Start sshd on a free port of `host` with `extra` config lines; stop it on exit."""
    sshd_bin = os.path.abspath(require_tool("sshd"))
    tmp.mkdir(parents=True, exist_ok=True)
    if not (tmp / "host_key").exists():
        keygen(tmp / "host_key")
        keygen(tmp / "client_key")
    (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
    port = free_port()
    log = tmp / "sshd.log"
    conf = tmp / "sshd_config"
    conf.write_text(
        f"Port {port}\nListenAddress {host}\nHostKey {tmp / 'host_key'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPidFile {tmp / 'sshd.pid'}\n"
        f"PasswordAuthentication {'yes' if password else 'no'}\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n"
        # SHLVL>=1 stops a non-interactive bash from sourcing a slow ~/.bashrc under sshd.
        f"SetEnv SHLVL=1\nLogLevel {log_level}\n{extra}\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)
    argv = [sshd_bin, "-D", "-e", "-f", str(conf)]
    if password is not None:
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            pytest.skip("password auth against sshd needs root and unshare (util-linux)")
        shadow = _shadow_with_password(tmp, password)
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /etc/shadow && exec "$@"', str(shadow), *argv]
    with log.open("ab") as log_handle:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log_handle)
    try:
        _wait_port(host, port, proc, log)
        pub = (tmp / "host_key.pub").read_text().split()
        yield Sshd(host=host, port=port, host_pub=f"{pub[0]} {pub[1]}",
                   client_key=tmp / "client_key", tmp=tmp, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
