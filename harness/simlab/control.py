"""Start, drive and stop a simulated-lab process from the harness (parent side).

The lab runs in its own process and session (`python -m harness.simlab serve`), as real
equipment runs in its own box. Its spec goes over a pipe, its ready line comes back on one, and
afterwards the control channel (a Unix socket, see `channel.py`) injects and clears faults,
reports status and stops it. `detach()` lets the lab outlive this process (`harness sim up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from harness.base.errors import HarnessError
from harness.simlab import channel
from harness.simlab.spec import SimLabSpec
from harness.simlab.state import OWNER_ENV

_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
_ORPHAN_WAIT_S = 3.0


@dataclass(frozen=True)
class GnbEndpoints:
    """Where a running virtual gNodeB listens."""

    snmp: tuple[str, int]
    ssh: tuple[str, int]
    ssh_host_key: str
    relays: dict[str, tuple[str, int]]


@dataclass(frozen=True)
class CoreEndpoints:
    """Where a running virtual core listens."""

    snmp: tuple[str, int]
    ssh: tuple[str, int]
    ssh_host_key: str


def _addr(value: list[Any]) -> tuple[str, int]:
    return str(value[0]), int(value[1])


class SimLabProcess:
    """A simulated lab running in its own process, driven through its control channel."""

    def __init__(self, spec: SimLabSpec) -> None:
        self.spec = spec
        self._proc: subprocess.Popen[bytes] | None = None
        self._orphan_guard: weakref.finalize[Any, Any] | None = None
        self.gnbs: dict[str, GnbEndpoints] = {}
        self.cores: dict[str, CoreEndpoints] = {}
        self.ready: dict[str, Any] = {}
        """The lab's whole ready line (endpoints as the lab reported them)."""
        self.pid: int | None = None
        self.control_path: Path | None = None
        self.log_path = Path(spec.state_dir) / "simlab.log"

    async def start(self) -> dict[str, GnbEndpoints]:
        """Spawn the process, hand it the spec over a pipe and wait until everything listens."""
        state_dir = Path(self.spec.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = state_dir / "simlab.log"
        with self.log_path.open("ab") as log:
            self._proc = self._spawn(log)
        # Should this object be dropped, or the interpreter exit, without stop() or detach():
        # end the lab rather than leave it running unowned.
        self._orphan_guard = weakref.finalize(self, _end_orphan, self._proc)
        stdin, stdout = self._proc.stdin, self._proc.stdout
        if stdin is None or stdout is None:
            raise HarnessError("could not open pipes to the simulated-lab process")
        try:
            await asyncio.to_thread(_send_spec, stdin, json.dumps(self.spec.to_json()).encode())
            line = await asyncio.wait_for(asyncio.to_thread(stdout.readline),
                                          timeout=_READY_TIMEOUT_S)
        except TimeoutError:
            await self.stop()
            raise HarnessError(
                f"the simulated lab did not start within {_READY_TIMEOUT_S:.0f} s "
                f"(its log: {self.log_path})") from None
        except OSError:  # the process died before reading its spec: its log says why
            line = b""
        try:
            ready: dict[str, Any] = json.loads(line) if line else {}
        except json.JSONDecodeError:
            ready = {}
        if not ready.get("ready"):
            await self.stop()
            log_text = self.log_path.read_text(encoding="utf-8", errors="replace")
            reason = ready.get("error") or log_text.strip()[-2000:]
            raise HarnessError(f"the simulated lab failed to start: {reason or 'no output'}")
        self.ready = ready
        self.pid = int(ready.get("pid") or self._proc.pid)
        self.control_path = Path(ready["control"]) if ready.get("control") else None
        self.gnbs = {
            name: GnbEndpoints(
                snmp=_addr(ep["snmp"]), ssh=_addr(ep["ssh"]), ssh_host_key=ep["ssh_host_key"],
                relays={dn: _addr(addr) for dn, addr in ep["relays"].items()
                        if isinstance(addr, list)},
            )
            for name, ep in ready["gnbs"].items()
        }
        self.cores = {
            name: CoreEndpoints(snmp=_addr(ep["snmp"]), ssh=_addr(ep["ssh"]),
                                ssh_host_key=ep["ssh_host_key"])
            for name, ep in ready.get("cores", {}).items()
        }
        return self.gnbs

    def _spawn(self, log: BinaryIO) -> subprocess.Popen[bytes]:
        # The lab's log goes to a file: an unread stderr pipe would fill and stall the lab.
        # Its own session: a terminal Ctrl-C reaches the harness, which then restores the
        # devices and stops the lab in order, instead of the lab dying under it; and a
        # detached lab (`harness sim up`) outlives the command that started it.
        # Its environment says whose lab it is, so `harness sim fault` can tell a user that
        # the lab it finds is a run's own (`OWNER_ENV`, read back by `state.private_labs`).
        owner = "sim-up" if self.spec.detached else f"run:{os.getpid()}"
        return subprocess.Popen(
            [sys.executable, "-m", "harness.simlab", "serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True, env={**os.environ, OWNER_ENV: owner},
        )

    async def stop(self) -> None:
        """Ask the process to stop (SIGTERM), kill it if it does not; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._forget_guard()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, _STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await asyncio.to_thread(proc.wait)
        _close_pipes(proc)

    def detach(self) -> int:
        """Let the lab run on after this process exits (its spec must say `detached`, or it
        ends when its parent does); returns its pid."""
        if not self.spec.detached:
            raise HarnessError("only a lab started with a detached spec can be detached")
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            raise HarnessError("the simulated lab is not running")
        self._forget_guard()
        _close_pipes(proc)
        return proc.pid

    def _forget_guard(self) -> None:
        guard, self._orphan_guard = self._orphan_guard, None
        if guard is not None:
            guard.detach()

    def _control(self) -> Path:
        if self.control_path is None:
            raise HarnessError("the simulated lab is not running: start() it first")
        return self.control_path

    async def status(self) -> dict[str, Any]:
        """Every virtual device's live state and active faults, as the lab reports them."""
        return await channel.request(self._control(), "status")

    async def fault(self, device: str, kind: str, duration_s: float | None = None,
                    **params: Any) -> dict[str, Any]:
        """Inject a fault into a virtual device (for `duration_s`, or until cleared)."""
        return await channel.request(self._control(), "fault", device=device, kind=kind,
                                     duration_s=duration_s, params=params)

    async def clear(self, device: str, kind: str | None = None) -> dict[str, Any]:
        """Clear one fault kind on a device, or all of its faults."""
        return await channel.request(self._control(), "clear", device=device, kind=kind)

    async def __aenter__(self) -> SimLabProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _send_spec(stdin: IO[bytes], data: bytes) -> None:
    try:
        stdin.write(data)
        stdin.flush()
    finally:
        stdin.close()


def _end_orphan(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a lab nobody stopped, SIGKILL it if it lingers (runs at GC or exit)."""
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.terminate()
        try:
            proc.wait(timeout=_ORPHAN_WAIT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=_ORPHAN_WAIT_S)
    _close_pipes(proc)


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
