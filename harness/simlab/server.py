"""The simulated-lab process: every virtual gNodeB's and core's SNMP agent, SSH CLI and relays.

Run as `python -m harness.simlab serve`: reads a SimLabSpec as JSON on stdin, prints one JSON
line `{"ready": true, "pid": N, "control": SOCKET, "gnbs": {...}, "cores": {...}}` once
everything listens, then serves until SIGTERM/SIGINT or a `stop` on the control channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from harness.simlab.channel import ChannelError, ControlServer, Request, control_socket_path
from harness.simlab.cli import GnbCli
from harness.simlab.core_server import RunningCore
from harness.simlab.gnb import CellConfig, GnbIdentity, VirtualGnb
from harness.simlab.lifecycle import GnbLifecycle, flash_dir
from harness.simlab.mib import snapshot
from harness.simlab.pm_writer import PmFileWriter
from harness.simlab.relay import TcpRelay
from harness.simlab.snmp_agent import AgentCredentials, SnmpAgent
from harness.simlab.spec import SimGnbSpec, SimLabSpec
from harness.simlab.ssh_server import SshCliServer
from harness.simlab.traps import engine_id_for
from harness.simlab.udp_native import core_status
from harness.simlab.udp_relay import UdpRelay


class RunningGnb:
    """One virtual gNodeB with its servers."""

    def __init__(self, spec: SimGnbSpec, state_dir: Path) -> None:
        self.spec = spec
        cells = [
            CellConfig(id=c.id, bandwidth_mhz=c.bandwidth_mhz, scs_khz=c.scs_khz, tdd=c.tdd,
                       special=c.special, layers_dl=c.layers_dl, layers_ul=c.layers_ul,
                       modulation_dl=c.modulation_dl, modulation_ul=c.modulation_ul,
                       plmns=tuple(c.plmns), pci=c.pci, band=c.band, arfcn=c.arfcn,
                       tx_power_dbm=c.tx_power_dbm, quality=c.quality, bler=c.bler,
                       loss=c.loss, core_delay_ms=c.core_delay_ms, jitter_ms=c.jitter_ms,
                       plmn_shares=tuple(c.plmn_shares.items()))
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
            provider=lambda: snapshot(self.gnb), engine_id=engine_id_for(spec.name),
        )
        self.ssh = SshCliServer(
            host=spec.host, port=spec.ssh_port, users={creds.ssh_user: creds.ssh_password},
            host_key_file=state_dir / f"{spec.name}-host-key", handler=GnbCli(self.gnb),
            prompt=f"{spec.name}# ", banner=f"{identity.vendor} {identity.model} ({spec.name})\n",
            sftp_root=flash_dir(state_dir, spec.name),
        )
        # Each relay port carries TCP and UDP (iperf3 -u talks TCP and UDP on one port).
        self.relays: list[TcpRelay | UdpRelay] = []
        for r in spec.relays:
            cell = self.gnb.cells[r.cell]
            listen, target = (spec.host, r.listen_port), (r.target_host, r.target_port)
            up, down = cell.lane(r.plmn, "ul"), cell.lane(r.plmn, "dl")
            self.relays += [TcpRelay(listen=listen, target=target, uplink=up, downlink=down),
                            UdpRelay(listen=listen, target=target, uplink=up, downlink=down)]
        # TS 32.435 PM files in the SFTP area's pm/ folder, when the lab asks for them.
        self.pm_files = (PmFileWriter(self.gnb, flash_dir(state_dir, spec.name) / "pm",
                                      spec.pm_granularity_s, suspect=spec.pm_suspect)
                         if spec.pm_granularity_s is not None else None)
        self._pm_task: asyncio.Task[None] | None = None
        # Management plane: faults, reboots, traps, flash (harness.simlab.lifecycle).
        self.lifecycle = GnbLifecycle.build(self.gnb, spec, state_dir, agent=self.agent,
                                            ssh=self.ssh, relays=self.relays)

    async def start(self) -> None:
        await self.agent.start()
        await asyncio.to_thread(self.ssh.start)
        for relay in self.relays:
            await relay.start()
        await self.lifecycle.start()
        if self.pm_files is not None:
            self._pm_task = asyncio.create_task(self.pm_files.run(), name="gnb-pm-files")

    async def stop(self) -> None:
        if self._pm_task is not None:
            self._pm_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pm_task
        await self.lifecycle.stop()
        for relay in self.relays:
            await relay.stop()
        await asyncio.to_thread(self.ssh.stop)
        await self.agent.stop()

    def endpoints(self) -> dict[str, Any]:
        return {
            "snmp": [self.spec.host, self.spec.snmp_port],
            "ssh": [self.spec.host, self.spec.ssh_port],
            "ssh_host_key": self.ssh.host_key_line,
            "snmp_engine_id": engine_id_for(self.spec.name).hex(),
            "relays": self._default_relays(),
            "relay_list": [{"dn": r.dn, "kind": r.kind, "cell": r.cell,
                            "plmn": r.plmn or self.gnb.cells[r.cell].config.plmns[0],
                            "listen": [self.spec.host, r.listen_port],
                            "target": [r.target_host, r.target_port]}
                           for r in self.spec.relays],
        }

    def _default_relays(self) -> dict[str, list[Any]]:
        """Per DN host, the first traffic relay (the one of the first PLMN)."""
        relays: dict[str, list[Any]] = {}
        for r in self.spec.relays:
            if r.kind == "traffic":
                relays.setdefault(r.dn, [self.spec.host, r.listen_port])
        return relays


_TICK_S = 0.2  # fault expiry, coverage follow-up, parent watch
_log = logging.getLogger("harness.simlab.server")
_GNB_TICK_S = 1.0  # throughput gauges


def serving_plmns(gnb: VirtualGnb) -> set[str]:
    """PLMNs the gNodeB's cells serve right now: cells with capacity (not admin down, not in
    outage, backhaul up, not rebooting: every one of those takes the capacity to zero)."""
    plmns: set[str] = set()
    for cell in gnb.cells.values():
        config = cell.config
        if config.capacity_bps("dl") > 0 or config.capacity_bps("ul") > 0:
            plmns.update(config.plmns)
    return plmns


def _attach_cores(gnbs: list[RunningGnb], cores: dict[str, RunningCore]) -> None:
    for g in gnbs:
        core = cores.get(g.spec.core or "")
        if core is None:
            continue
        cells = [(c.uplink, c.downlink) for c in g.gnb.cells.values()]
        core.attach(g.spec.name, g.spec.host, functools.partial(serving_plmns, g.gnb), cells)


class LabControl:
    """Answers control-channel requests: status, fault, clear, stop."""

    def __init__(self, gnbs: dict[str, RunningGnb], cores: dict[str, RunningCore],
                 stop: asyncio.Event) -> None:
        self.gnbs = gnbs
        self.cores = cores
        self.stop = stop

    async def __call__(self, request: Request) -> dict[str, Any]:
        op = request["op"]
        if op == "status":
            return self.status()
        if op == "stop":
            self.stop.set()
            return {"stopping": True}
        if op in ("fault", "clear"):
            return self._fault(op, request)
        raise ChannelError(f"unknown request {op!r} (requests: status, fault, clear, stop)")

    def status(self) -> dict[str, Any]:
        """Every device's live state and active faults."""
        devices: dict[str, Any] = {}
        for name, g in self.gnbs.items():
            devices[name] = {
                "role": "gnodeb", "core": g.spec.core, "faults": g.gnb.active_faults(),
                "cells": {str(cid): {"admin": "up" if c.config.admin_up else "down",
                                     "plmns": list(c.config.plmns),
                                     "dl_octets": c.downlink.bytes, "ul_octets": c.uplink.bytes,
                                     "dl_packets": c.downlink.packets,
                                     "ul_packets": c.uplink.packets,
                                     # the simulator's own shortfall, not the cell's
                                     "relay_lost": c.downlink.relay_lost + c.uplink.relay_lost,
                                     "relay_late": c.downlink.relay_late + c.uplink.relay_late}
                          for cid, c in g.gnb.cells.items()},
            }
        for name, core in self.cores.items():
            devices[name] = core.status()
        return {"pid": os.getpid(), "devices": devices, "udp_relay": core_status()}

    def _fault(self, op: str, request: Request) -> dict[str, Any]:
        device = request.get("device")
        targets: dict[str, FaultTarget] = {
            **{name: g.gnb for name, g in self.gnbs.items()}, **self.cores}
        if not isinstance(device, str) or device not in targets:
            raise ChannelError(f"no simulated device {device!r} "
                               f"(devices: {', '.join(targets)})")
        target = targets[device]
        kind = request.get("kind")
        if kind is not None and not isinstance(kind, str):
            raise ChannelError("fault kind must be a string")
        try:
            if op == "clear":
                target.clear_faults(kind)
            else:
                if kind is None:
                    raise ChannelError("a fault request needs a kind")
                duration = request.get("duration_s")
                if duration is not None and (isinstance(duration, bool) or not isinstance(
                        duration, int | float) or not duration > 0):
                    raise ChannelError(f"duration_s must be a positive number, got {duration!r}")
                params = request.get("params") or {}
                if not isinstance(params, dict):
                    raise ChannelError("params must be a JSON object")
                target.inject_fault(kind, duration, **params)
        except (ValueError, TypeError, KeyError) as exc:
            raise ChannelError(f"{device}: {exc}") from None
        return {"device": device, "faults": target.active_faults()}


class FaultTarget(Protocol):
    """A virtual device that takes injected faults (VirtualGnb, RunningCore)."""

    def inject_fault(self, kind: str, duration_s: float | None = None,
                     **params: Any) -> None: ...

    def clear_faults(self, kind: str | None = None) -> object: ...

    def active_faults(self) -> list[dict[str, Any]]: ...


def _detach_stdout() -> None:
    """After the ready line nobody reads stdout (a detached lab's reader has exited)."""
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


async def serve(spec: SimLabSpec) -> None:
    """Start every virtual device, report readiness on stdout, run until told to stop."""
    state_dir = Path(spec.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    gnbs = [RunningGnb(g, state_dir) for g in spec.gnbs]
    cores = {c.name: RunningCore(c, state_dir) for c in spec.cores}
    _attach_cores(gnbs, cores)
    parent = os.getppid()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    control = ControlServer(control_socket_path(state_dir),
                            LabControl({g.spec.name: g for g in gnbs}, cores, stop))
    devices: list[RunningGnb | RunningCore | ControlServer] = [*gnbs, *cores.values(), control]
    started: list[RunningGnb | RunningCore | ControlServer] = []
    udp = core_status()
    (_log.info if udp.startswith("native") else _log.warning)("UDP relay: %s", udp)
    try:
        for device in devices:
            await device.start()
            started.append(device)
        ready = {"ready": True, "pid": os.getpid(), "control": str(control.path),
                 "gnbs": {g.spec.name: g.endpoints() for g in gnbs},
                 "cores": {name: c.endpoints() for name, c in cores.items()}}
        sys.stdout.write(json.dumps(ready) + "\n")
        _detach_stdout()
        last_gnb_tick = time.monotonic()
        while not stop.is_set():
            if not spec.detached and os.getppid() != parent:
                _log.warning("the process that started the lab is gone: stopping")
                break
            if time.monotonic() - last_gnb_tick >= _GNB_TICK_S:
                last_gnb_tick = time.monotonic()
                for g in gnbs:
                    g.gnb.tick()
            for core in cores.values():
                core.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=_TICK_S)
    finally:
        for device in reversed(started):
            with contextlib.suppress(Exception):
                await device.stop()


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
