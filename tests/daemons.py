"""Real servers for the driver tests (and benchmarks), each on a free loopback port and
stopped for sure: net-snmp's snmpd and OpenSSH's sshd.

snmpd: `running_snmpd` with a config (plus a fixed engine id); `matrix_config` creates one
user per auth × priv protocol pair. sshd: `running_sshd` with its own host and client keys.
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
from tests.processes import stop_popen

# ------------------------------------------------------------------------------ net-snmp snmpd

ENGINE_ID = "80001f8880a1b2c3d4e5f60718"
# Every auth × priv protocol pair this net-snmp build offers (snmpget -h: MD5|SHA|SHA-224|
# SHA-256|SHA-384|SHA-512 and DES|AES|AES-192|AES-256; it has no 3DES).
AUTHS = ("MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")
PRIVS = ("DES", "AES", "AES-192", "AES-256")
AUTH_KEY, PRIV_KEY = "auth-key-1234", "priv-key-5678"


def user_name(auth: str, priv: str) -> str:
    """The test user created for one auth/priv pair (priv 'none' = authNoPriv)."""
    return f"u-{auth}-{priv}".lower()


def matrix_config() -> str:
    """snmpd.conf lines creating one read-only user per auth × priv pair (and authNoPriv)."""
    lines = []
    for auth in AUTHS:
        for priv in (*PRIVS, "none"):
            name = user_name(auth, priv)
            tail = f" {priv} {PRIV_KEY}" if priv != "none" else ""
            lines.append(f"createUser {name} {auth} {AUTH_KEY}{tail}")
            lines.append(f"rouser {name} {'authpriv' if priv != 'none' else 'auth'}")
    lines += ["createUser u-noauth", "rouser u-noauth noauth"]
    return "\n".join(lines) + "\n"


def snmpd_binary() -> str | None:
    """Path of snmpd, or None when net-snmp's agent is not installed."""
    found = shutil.which("snmpd")
    return found or ("/usr/sbin/snmpd" if os.path.exists("/usr/sbin/snmpd") else None)


@contextlib.contextmanager
def running_snmpd(binary: str, folder: Path, config: str, port: int | None = None
                  ) -> Iterator[int]:
    """Run snmpd with `config` (plus a fixed engine id) on `port` (default: a free UDP port);
    yields the port."""
    persist = folder / "persist"
    persist.mkdir(parents=True, exist_ok=True)
    conf = folder / "snmpd.conf"
    conf.write_text(f"exactEngineID 0x{ENGINE_ID}\ndontLogTCPWrappersConnects yes\n"
                    "smuxsocket 127.0.0.1:0\n" + config, encoding="utf-8")
    if port is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
    log = folder / "snmpd.log"
    env = dict(os.environ, MIBS="", SNMP_PERSISTENT_DIR=str(persist))
    proc = subprocess.Popen(
        [binary, "-f", "-Lf", str(log), "-C", "-c", str(conf), "-p", str(folder / "snmpd.pid"),
         f"udp:127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while "NET-SNMP version" not in (log.read_text() if log.exists() else ""):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text() if log.exists() else ""
                raise RuntimeError(f"snmpd did not start: {text}")
            time.sleep(0.05)
        yield port
    finally:
        stop_popen(proc)


# ------------------------------------------------------------------------------- OpenSSH sshd

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
        stop_popen(proc)
