"""The simulated-lab process: every virtual gNodeB's SNMP agent, SSH CLI and relays.

Run as `python -m harness.simlab serve`: reads a SimLabSpec as JSON on stdin, prints one JSON
line `{"ready": true, "gnbs": {...}}` once everything listens, serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from harness.simlab.cli import GnbCli
from harness.simlab.gnb import CellConfig, GnbIdentity, VirtualGnb
from harness.simlab.mib import snapshot
from harness.simlab.relay import TcpRelay
from harness.simlab.snmp_agent import AgentCredentials, SnmpAgent
from harness.simlab.spec import SimGnbSpec, SimLabSpec
from harness.simlab.ssh_server import SshCliServer


class RunningGnb:
    """One virtual gNodeB with its servers."""

    def __init__(self, spec: SimGnbSpec, state_dir: Path) -> None:
        self.spec = spec
        cells = [
            CellConfig(id=c.id, bandwidth_mhz=c.bandwidth_mhz, scs_khz=c.scs_khz, tdd=c.tdd,
                       special=c.special, layers_dl=c.layers_dl, layers_ul=c.layers_ul,
                       modulation_dl=c.modulation_dl, modulation_ul=c.modulation_ul,
                       plmns=tuple(c.plmns), pci=c.pci)
            for c in spec.cells
        ]
        identity = GnbIdentity(name=spec.name, serial=spec.serial, firmware=spec.firmware,
                               model=spec.model)
        self.gnb = VirtualGnb(identity, cells)
        creds = spec.credentials
        self.agent = SnmpAgent(
            host=spec.host, port=spec.snmp_port,
            credentials=AgentCredentials(community=creds.community, v3_user=creds.v3_user,
                                         auth_key=creds.auth_key, priv_key=creds.priv_key),
            provider=lambda: snapshot(self.gnb),
        )
        self.ssh = SshCliServer(
            host=spec.host, port=spec.ssh_port, users={creds.ssh_user: creds.ssh_password},
            host_key_file=state_dir / f"{spec.name}-host-key", handler=GnbCli(self.gnb),
            prompt=f"{spec.name}# ", banner=f"{identity.vendor} {identity.model} ({spec.name})\n",
        )
        self.relays = [
            TcpRelay(listen=(spec.host, r.listen_port), target=(r.target_host, r.target_port),
                     uplink=self.gnb.cells[r.cell].uplink,
                     downlink=self.gnb.cells[r.cell].downlink)
            for r in spec.relays
        ]

    async def start(self) -> None:
        await self.agent.start()
        await asyncio.to_thread(self.ssh.start)
        for relay in self.relays:
            await relay.start()

    async def stop(self) -> None:
        for relay in self.relays:
            await relay.stop()
        await asyncio.to_thread(self.ssh.stop)
        await self.agent.stop()

    def endpoints(self) -> dict[str, Any]:
        return {
            "snmp": [self.spec.host, self.spec.snmp_port],
            "ssh": [self.spec.host, self.spec.ssh_port],
            "ssh_host_key": self.ssh.host_key_line,
            "relays": {r.dn: [self.spec.host, r.listen_port] for r in self.spec.relays},
        }


async def serve(spec: SimLabSpec) -> None:
    """Start every virtual device, report readiness on stdout, run until told to stop."""
    state_dir = Path(spec.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    gnbs = [RunningGnb(g, state_dir) for g in spec.gnbs]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started: list[RunningGnb] = []
    try:
        for g in gnbs:
            await g.start()
            started.append(g)
        ready = {"ready": True, "gnbs": {g.spec.name: g.endpoints() for g in gnbs}}
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        while not stop.is_set():
            for g in gnbs:
                g.gnb.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        for g in reversed(started):
            with contextlib.suppress(Exception):
                await g.stop()


def main() -> int:
    """Entry point of the simulated-lab process."""
    try:
        spec = SimLabSpec.from_json(json.loads(sys.stdin.read()))
        asyncio.run(serve(spec))
    except Exception as exc:  # report the cause to the parent on one line, then fail
        failure = {"ready": False, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(failure) + "\n")
        sys.stdout.flush()
        return 1
    return 0
