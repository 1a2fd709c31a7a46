"""Local processes in tests and benchmarks: wait for a TCP listener, stop a process for sure.

The benchmarks import this module too (`benchmarks/localproc.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time

from harness.base.errors import HarnessError

LOCAL = "127.0.0.1"
LISTEN_TIMEOUT_S = 5.0


def listening(port: int) -> bool:
    """Whether a TCP listener holds `port`, read from /proc (connecting would use up a one-off
    `iperf3 -s -1` server's only session)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return True
    return False


async def wait_listening(port: int, timeout_s: float = LISTEN_TIMEOUT_S) -> None:
    """Wait until a TCP listener holds `port` (see `listening`); HarnessError after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if listening(port):
            return
        await asyncio.sleep(0.05)
    raise HarnessError(f"iperf3 server did not listen on {LOCAL}:{port} within {timeout_s:g} s")


async def stop_process(proc: asyncio.subprocess.Process, grace_s: float = 5.0) -> None:
    """Terminate `proc`, kill it after `grace_s`; harmless if it already ended."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=grace_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def stop_popen(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """Terminate a server started with `subprocess.Popen`, kill it after `grace_s`."""
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
