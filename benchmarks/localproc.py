"""Local-process helpers shared by the benchmarks: wait for a listener, stop a process (both
from `tests/processes.py`, which the tests use too), run an iperf3 client bounded."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.processes import LISTEN_TIMEOUT_S, LOCAL, stop_process, wait_listening

__all__ = ["CLIENT_GRACE_S", "LISTEN_TIMEOUT_S", "LOCAL", "run_client", "stop_process",
           "wait_listening"]

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
