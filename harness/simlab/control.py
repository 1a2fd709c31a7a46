"""Start and stop a simulated-lab process from the harness (parent side)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

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
        self.log_path = Path(spec.state_dir) / "simlab.log"

    async def start(self) -> dict[str, GnbEndpoints]:
        """Spawn the process, hand it the spec over a pipe and wait until everything listens."""
        state_dir = Path(self.spec.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = state_dir / "simlab.log"
        with self.log_path.open("ab") as log:
            self._proc = await self._spawn(log)
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
            await self.stop()
            log_text = self.log_path.read_text(encoding="utf-8", errors="replace")
            reason = ready.get("error") or log_text.strip()[-2000:]
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

    async def _spawn(self, log: BinaryIO) -> asyncio.subprocess.Process:
        # The lab's log goes to a file: an unread stderr pipe would fill and stall the lab.
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harness.simlab", "serve",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
            # Its own session: a terminal Ctrl-C reaches the harness, which then restores the
            # devices and stops the lab in order, instead of the lab dying under it.
            start_new_session=True,
        )

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
