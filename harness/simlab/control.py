"""Start and stop a simulated-lab process from the harness (parent side)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.simlab.spec import SimLabSpec

_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class GnbEndpoints:
    """Where a running virtual gNodeB listens."""

    snmp: tuple[str, int]
    ssh: tuple[str, int]
    ssh_host_key: str
    relays: dict[str, tuple[str, int]]


class SimLabProcess:
    """A simulated lab running in its own process, as real equipment runs in its own box."""

    def __init__(self, spec: SimLabSpec) -> None:
        self.spec = spec
        self._proc: asyncio.subprocess.Process | None = None
        self.gnbs: dict[str, GnbEndpoints] = {}

    async def start(self) -> dict[str, GnbEndpoints]:
        """Spawn the process, hand it the spec over a pipe and wait until everything listens."""
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harness.simlab", "serve",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdin, stdout = self._proc.stdin, self._proc.stdout
        if stdin is None or stdout is None:
            raise HarnessError("could not open pipes to the simulated-lab process")
        stdin.write(json.dumps(self.spec.to_json()).encode())
        await stdin.drain()
        stdin.close()
        try:
            line = await asyncio.wait_for(stdout.readline(), timeout=_READY_TIMEOUT_S)
        except TimeoutError:
            await self.stop()
            raise HarnessError(
                f"the simulated lab did not start within {_READY_TIMEOUT_S:.0f} s"
            ) from None
        try:
            ready: dict[str, Any] = json.loads(line) if line else {}
        except json.JSONDecodeError:
            ready = {}
        if not ready.get("ready"):
            stderr = b""
            if self._proc.stderr is not None:
                with contextlib.suppress(TimeoutError):
                    stderr = await asyncio.wait_for(self._proc.stderr.read(), timeout=2)
            await self.stop()
            reason = ready.get("error") or stderr.decode(errors="replace").strip()[-2000:]
            raise HarnessError(f"the simulated lab failed to start: {reason or 'no output'}")
        self.gnbs = {
            name: GnbEndpoints(
                snmp=(ep["snmp"][0], ep["snmp"][1]), ssh=(ep["ssh"][0], ep["ssh"][1]),
                ssh_host_key=ep["ssh_host_key"],
                relays={dn: (addr[0], addr[1]) for dn, addr in ep["relays"].items()},
            )
            for name, ep in ready["gnbs"].items()
        }
        return self.gnbs

    async def stop(self) -> None:
        """Ask the process to stop (SIGTERM), kill it if it does not; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=_STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def __aenter__(self) -> SimLabProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
