"""Start and stop a real net-snmp snmpd on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


@contextmanager
def running_snmpd(binary: str, folder: Path, config: str) -> Iterator[int]:
    """Run snmpd with `config` (plus a fixed engine id) on a free UDP port; yields the port."""
    persist = folder / "persist"
    persist.mkdir(parents=True, exist_ok=True)
    conf = folder / "snmpd.conf"
    conf.write_text(f"exactEngineID 0x{ENGINE_ID}\ndontLogTCPWrappersConnects yes\n"
                    "smuxsocket 127.0.0.1:0\n" + config, encoding="utf-8")
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
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
