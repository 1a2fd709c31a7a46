"""The virtual core as equipment: its SNMP agent, SSH CLI, and injectable faults.

Fault API, in the same shape as the virtual gNodeB's: `inject_fault(kind, duration_s=None,
**params)`, `clear_faults(kind=None)`, `active_faults()`. Core fault kinds:

    snmp-silent   the agent drops every request (managers time out)
    snmp-error    the agent answers every request with genErr
    ssh-refuse    SSH password authentication fails
    ssh-drop      open SSH sessions are closed, and new ones as they open while it lasts
    amf-down      the AMF deregisters every UE (sessions released); they re-register on clear
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.base.errors import HarnessError
from harness.simlab.core import CoreIdentity, CorePlan, VirtualCore
from harness.simlab.core_cli import CoreCli
from harness.simlab.core_mib import snapshot
from harness.simlab.relay import Direction
from harness.simlab.snmp_agent import AgentCredentials, SnmpAgent
from harness.simlab.spec import SimCoreSpec
from harness.simlab.ssh_server import SshCliServer

CORE_FAULTS: Mapping[str, str] = {
    "snmp-silent": "the SNMP agent stops answering",
    "snmp-error": "the SNMP agent answers genErr",
    "ssh-refuse": "SSH authentication is refused",
    "ssh-drop": "SSH sessions are dropped",
    "amf-down": "the AMF deregisters every UE",
}


@dataclass
class ActiveFault:
    """One fault in force: since when, for how long (None = until cleared)."""

    id: int
    kind: str
    params: dict[str, Any]
    since: float
    started_at: float
    duration_s: float | None

    def to_json(self, now: float) -> dict[str, Any]:
        """The gNodeB's fault shape: id, kind, params, started, duration_s, remaining_s."""
        remaining = None if self.duration_s is None else round(
            max(0.0, self.duration_s - (now - self.since)), 3)
        return {"id": self.id, "kind": self.kind, "params": dict(self.params),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
                "duration_s": self.duration_s, "remaining_s": remaining}

    def expired(self, now: float) -> bool:
        """Whether it has run its duration."""
        return self.duration_s is not None and now - self.since >= self.duration_s


class FaultBook:
    """The faults a device has in force, with their expiry; knows the kinds it accepts (none
    of the core's kinds takes parameters)."""

    def __init__(self, kinds: Mapping[str, str], device: str) -> None:
        self.kinds = kinds
        self.device = device
        self._active: dict[str, ActiveFault] = {}
        self._ids = itertools.count(1)

    def _check_kind(self, kind: str) -> None:
        if kind not in self.kinds:
            raise HarnessError(f"{self.device} has no fault kind {kind!r} "
                               f"(kinds: {', '.join(self.kinds)})")

    def add(self, kind: str, duration_s: float | None, params: Mapping[str, Any]) -> None:
        """Put a fault in force (replacing one of the same kind)."""
        self._check_kind(kind)
        if params:
            raise HarnessError(f"fault {kind} has no parameter {', '.join(sorted(params))} "
                               "(parameters: none)")
        if duration_s is not None and not duration_s > 0:
            raise HarnessError(f"fault duration must be positive, got {duration_s}")
        self._active[kind] = ActiveFault(next(self._ids), kind, {}, time.monotonic(),
                                         time.time(), duration_s)

    def remove(self, kind: str | None) -> int:
        """Clear one kind (or all); returns how many faults ended."""
        if kind is None:
            count = len(self._active)
            self._active = {}
            return count
        self._check_kind(kind)
        return 1 if self._active.pop(kind, None) is not None else 0

    def expire(self) -> list[str]:
        """Drop faults whose time is up; returns their kinds."""
        now = time.monotonic()
        done = [k for k, f in self._active.items() if f.expired(now)]
        for kind in done:
            del self._active[kind]
        return done

    def active(self, kind: str) -> bool:
        """Whether `kind` is in force."""
        return kind in self._active

    def to_json(self) -> list[dict[str, Any]]:
        """The faults in force, oldest first, for status answers."""
        now = time.monotonic()
        return [f.to_json(now) for f in sorted(self._active.values(), key=lambda f: f.id)]


class RunningCore:
    """One virtual core with its servers; gNodeBs attach their cells' relay directions."""

    def __init__(self, spec: SimCoreSpec, state_dir: Path) -> None:
        self.spec = spec
        identity = CoreIdentity(name=spec.name, serial=spec.serial, firmware=spec.firmware,
                                model=spec.model)
        self.core = VirtualCore(identity, CorePlan(
            plmns=tuple(spec.plmns), slices=tuple(spec.slices), subscribers=spec.subscribers,
            dnn=spec.dnn))
        self.faults = FaultBook(CORE_FAULTS, spec.name)
        creds = spec.credentials
        self.agent = SnmpAgent(
            host=spec.host, port=spec.snmp_port,
            credentials=AgentCredentials(community=creds.community, v3_user=creds.v3_user,
                                         auth_key=creds.auth_key, priv_key=creds.priv_key),
            provider=lambda: snapshot(self.core),
        )
        self.ssh = SshCliServer(
            host=spec.host, port=spec.ssh_port, users={creds.ssh_user: creds.ssh_password},
            host_key_file=state_dir / f"{spec.name}-host-key", handler=CoreCli(self.core),
            prompt=f"{spec.name}# ",
            banner=f"{identity.vendor} {identity.model} 5G core ({spec.name})\n",
        )

    def attach(self, name: str, address: str, serving: Callable[[], set[str]],
               cells: Sequence[tuple[Direction, Direction]]) -> None:
        """Attach a gNodeB (its N3 traffic counts at this core's UPF)."""
        self.core.attach(name, address, serving, cells)

    async def start(self) -> None:
        """Bind the agent and the SSH server, then let attached UEs register."""
        await self.agent.start()
        await asyncio.to_thread(self.ssh.start)
        self.core.refresh()

    async def stop(self) -> None:
        """Close both servers."""
        await asyncio.to_thread(self.ssh.stop)
        await self.agent.stop()

    def tick(self) -> None:
        """Periodic work: expire faults, keep their effects, follow the cells' coverage."""
        if self.faults.expire():
            self._apply()
        self.core.refresh()

    def _apply(self) -> None:
        self.agent.silent = self.faults.active("snmp-silent")
        self.agent.answer_errors = self.faults.active("snmp-error")
        self.ssh.refuse_auth = self.faults.active("ssh-refuse")
        self.ssh.drop_all = self.faults.active("ssh-drop")
        self.core.amf_down = self.faults.active("amf-down")
        if self.ssh.drop_all:
            self.ssh.drop_sessions()
        self.core.refresh()

    def inject_fault(self, kind: str, duration_s: float | None = None,
                     **params: Any) -> None:
        """Put a fault in force for `duration_s` seconds (None: until cleared)."""
        self.faults.add(kind, duration_s, params)
        self._apply()

    def clear_faults(self, kind: str | None = None) -> int:
        """Clear one fault kind, or all; returns how many faults ended."""
        ended = self.faults.remove(kind)
        self._apply()
        return ended

    def active_faults(self) -> list[dict[str, Any]]:
        """The faults in force: id, kind, params, started, duration_s, remaining_s."""
        self.faults.expire()
        return self.faults.to_json()

    def endpoints(self) -> dict[str, Any]:
        """Where the core listens, for the ready line."""
        return {
            "snmp": [self.spec.host, self.spec.snmp_port],
            "ssh": [self.spec.host, self.ssh.port],
            "ssh_host_key": self.ssh.host_key_line,
        }

    def status(self) -> dict[str, Any]:
        """Live state for the control channel's `status`."""
        core = self.core
        with core.lock:
            registered, sessions = core.registered(), core.sessions()
        total = core.n3_totals()
        return {
            "role": "core", "faults": self.active_faults(),
            "registered": registered, "sessions": sessions,
            "subscribers": len(core.ues), "gnbs": [n.name for n in core.nodes],
            "upf": {"in_octets": total.in_octets, "out_octets": total.out_octets,
                    "in_packets": total.in_packets, "out_packets": total.out_packets},
        }
