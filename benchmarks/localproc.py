"""Local-process helpers shared by the benchmarks: wait for a listener, stop a process."""

from __future__ import annotations

import asyncio
import contextlib
import time

from harness.base.errors import HarnessError

LOCAL = "127.0.0.1"
LISTEN_TIMEOUT_S = 5.0


async def wait_listening(port: int) -> None:
    """Wait for a TCP listener on `port` via /proc (a connection would use up `iperf3 -1`)."""
    deadline = time.monotonic() + LISTEN_TIMEOUT_S
    while time.monotonic() < deadline:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table, encoding="ascii") as handle:
                for line in handle.readlines()[1:]:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return
        await asyncio.sleep(0.05)
    raise HarnessError(f"iperf3 server did not listen on {LOCAL}:{port} within "
                       f"{LISTEN_TIMEOUT_S:g} s")


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    """Terminate `proc`, kill it after 5 s; harmless if it already ended."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


CLIENT_GRACE_S = 30.0


async def run_client(argv: list[str], duration_s: float) -> tuple[bytes, bytes]:
    """Run an iperf3 client to its end (bounded: duration + 30 s), stopped whatever happens;
    its stdout and stderr."""
    client = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        return await asyncio.wait_for(client.communicate(), timeout=duration_s + CLIENT_GRACE_S)
    finally:
        await stop_process(client)
