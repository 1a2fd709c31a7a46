"""snmpsim (PyPI `snmpsim`, a simulator no one here wrote) serving `.snmprec` files on a free
loopback port, stopped for sure. Each file `NAME.snmprec` in its data folder answers SNMPv2c
community NAME. As root it runs with SNMPSIM_ALLOW_ROOT=true: dropping to `nobody` would cut it
off from a Python installed under /root."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.processes import stop_popen


def snmpsim_binary() -> str:
    """snmpsim's command responder from this venv; fails under CI, skips elsewhere, if absent."""
    found = Path(sys.executable).parent / "snmpsim-command-responder"
    if found.exists():
        return str(found)
    path = shutil.which("snmpsim-command-responder")
    if path is None:
        message = "snmpsim not installed (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _answers(port: int, community: str) -> bool:
    """A v2c GET of sysDescr.0 gets any reply (snmpsim answers once its index is built)."""
    from drivers.transport import snmp_ber as ber

    request = ber.encode_message(1, community.encode(), ber.GET, 1,
                                 [(ber.encode_oid((1, 3, 6, 1, 2, 1, 1, 1, 0)), None)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        s.sendto(request, ("127.0.0.1", port))
        try:
            s.recv(65535)
        except OSError:
            return False
    return True


@contextlib.contextmanager
def running_snmpsim(data_dir: Path, work: Path, community: str) -> Iterator[int]:
    """snmpsim serving every .snmprec in `data_dir`; yields its UDP port once `community`
    answers. RuntimeError with its log when it does not start."""
    port = free_port(socket.SOCK_DGRAM)
    cache = work / "snmpsim-cache"
    cache.mkdir(parents=True, exist_ok=True)
    log = work / "snmpsim.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [snmpsim_binary(), f"--data-dir={data_dir}", f"--cache-dir={cache}",
             f"--agent-udpv4-endpoint=127.0.0.1:{port}"],
            env=dict(os.environ, SNMPSIM_ALLOW_ROOT="true"), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while not _answers(port, community):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"snmpsim did not start: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield port
    finally:
        stop_popen(proc)
