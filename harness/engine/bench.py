"""The bench in operation: lab.yaml resolved into connected devices, hosts and traffic paths.

When the lab marks devices as simulated, the simulated lab is started here (on free ports, with
credentials the lab gives or fresh random ones) and the drivers are pointed at it like at any
other equipment.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.capabilities import Closable, CoreDevice, GnodebDevice, TrafficEndpoint
from drivers.hosts.host import TrafficHost
from drivers.registry import DriverRegistry
from drivers.transport.devlog import DeviceLogFiles
from harness.base.errors import ConfigError
from harness.base.ports import free_dual_port, free_port, reserve
from harness.base.secrets import Secret
from harness.config.lab import Device, Lab, merged
from harness.config.simulated import SimulatedCore, SimulatedDevice, SimulatedReplay
from harness.engine.attach import Attach, attach_sim, attached_state
from harness.engine.device_context import (
    driver_context,
)
from harness.monitors.traps import TrapHub
from harness.simlab.control import CoreEndpoints, GnbEndpoints, SimLabProcess
from harness.simlab.relay_plan import DnPorts, plan_relays, relay_table
from harness.simlab.replay import ReplayDevice, load_recording
from harness.simlab.snmp_agent import AgentCredentials
from harness.simlab.spec import (
    SimCell,
    SimCoreSpec,
    SimCredentials,
    SimGnbSpec,
    SimLabSpec,
    SimTrapTarget,
)

_SIM_AUTH = ("SHA-256", "AES-128")


@dataclass
class Bench:
    """Connected devices and hosts of one run."""

    lab: Lab
    gnbs: dict[str, GnodebDevice] = field(default_factory=dict)
    cores: dict[str, CoreDevice] = field(default_factory=dict)
    hosts: dict[str, TrafficEndpoint] = field(default_factory=dict)
    drivers: dict[str, str] = field(default_factory=dict)  # device → driver name
    ssh_policies: dict[str, str] = field(default_factory=dict)  # device → host-key policy
    log_files: DeviceLogFiles | None = None
    traffic_ports: dict[str, int] = field(default_factory=dict)
    irtt_ports: dict[str, int] = field(default_factory=dict)
    paths: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    # (gNodeB, DN host, PLMN, "traffic"|"irtt") → relay address, for simulated gNodeBs
    relay_paths: dict[tuple[str, str, str, str], tuple[str, int]] = field(default_factory=dict)
    default_plmns: dict[str, str] = field(default_factory=dict)  # gNodeB → its first PLMN
    sim: SimLabProcess | None = None
    # the simulated lab's status (its own, or the attached one's); None on a real lab
    lab_status: Callable[[], Awaitable[Mapping[str, Any]]] | None = None
    traps: TrapHub | None = None  # trap receivers of this run (alarm monitors subscribe)
    replays: list[ReplayDevice] = field(default_factory=list)  # recorded devices served

    def endpoint(self, dn: str, via: str | None, ue: str | None = None,
                 kind: str = "traffic") -> tuple[str, int]:
        """Where UE-side host `ue` sends `kind` ("traffic": iperf3, or "irtt") traffic to reach
        `dn` through gNodeB `via`: through a simulated gNodeB, the relay of the UE host's PLMN
        (default: the gNodeB's first PLMN)."""
        if via is not None and via in self.default_plmns:
            ue_dev = self.lab.devices.get(ue) if ue is not None else None
            plmn = (ue_dev.plmn if ue_dev is not None else None) or self.default_plmns[via]
            address = self.relay_paths.get((via, dn, plmn, kind))
            if address is None:
                served = sorted({k[2] for k in self.relay_paths if k[0] == via})
                raise ConfigError(f"UE host {ue} is on PLMN {plmn}, which {via} does not serve "
                                  f"(PLMNs: {', '.join(served)}): set the UE host's plmn: to "
                                  "one of them or add the PLMN to a cell")
            return address
        if via is not None and kind == "traffic" and (via, dn) in self.paths:
            return self.paths[(via, dn)]
        port = self.irtt_ports[dn] if kind == "irtt" else self.traffic_ports[dn]
        return self.hosts[dn].address, port

    async def close(self) -> None:
        """Disconnect every device and stop the simulated lab, if any (also when a device's
        close fails or is interrupted)."""
        try:
            for gnb in self.gnbs.values():
                await gnb.close()
            for core in self.cores.values():
                await core.close()
            for host in self.hosts.values():
                if isinstance(host, Closable):
                    await host.close()
        finally:
            if self.sim is not None:
                await self.sim.stop()
            for replay in self.replays:
                await replay.stop()
            if self.traps is not None:
                await self.traps.close()
            if self.log_files is not None:
                self.log_files.close()


async def start_replay(name: str, dev: Device, replay: SimulatedReplay, snmp: dict[str, Any],
                       ssh: dict[str, Any], work_dir: Path) -> ReplayDevice:
    """Serve device `name` from its recording on loopback (the lab's ports, else free ones),
    with the lab's credentials or fresh random ones filled into `snmp`/`ssh`."""
    _fill_sim_secrets(snmp, ssh)
    snmp.setdefault("port", free_port(dev.host, socket.SOCK_DGRAM))
    ssh.setdefault("port", free_port(dev.host))
    creds = _sim_credentials(name, snmp, ssh)
    device = ReplayDevice(
        name, load_recording(Path(replay.replay)), host=dev.host, snmp_port=snmp["port"],
        ssh_port=ssh["port"], credentials=AgentCredentials(
            creds.community, creds.v3_user, creds.auth_key, creds.priv_key),
        ssh_users={creds.ssh_user: creds.ssh_password},
        host_key_file=work_dir / f"{name}-replay-host-key")
    await device.start()
    return device


def _snmp_settings(lab: Lab, device: Device) -> dict[str, Any]:
    return merged(lab.defaults.snmp, device.snmp)


def _ssh_settings(lab: Lab, device: Device) -> dict[str, Any]:
    return merged(lab.defaults.ssh, device.ssh)


def _generated() -> Secret:
    return Secret(secrets.token_urlsafe(18))


def _sim_credentials(name: str, snmp: dict[str, Any], ssh: dict[str, Any]) -> SimCredentials:
    auth, priv = snmp.get("auth"), snmp.get("priv")
    if auth is not None and auth.protocol != _SIM_AUTH[0]:
        raise ConfigError(f"the simulated device {name} speaks SNMPv3 with {_SIM_AUTH[0]} "
                          f"authentication, not {auth.protocol}")
    if priv is not None and priv.protocol != _SIM_AUTH[1]:
        raise ConfigError(f"the simulated device {name} speaks SNMPv3 with {_SIM_AUTH[1]} "
                          f"privacy, not {priv.protocol}")
    return SimCredentials(
        community=snmp["community"].reveal(), v3_user=snmp.get("user") or "harness",
        auth_key=snmp["auth_key"].reveal(), priv_key=snmp["priv_key"].reveal(),
        ssh_user=ssh.get("user") or "admin", ssh_password=ssh["password"].reveal(),
    )


def _fill_sim_secrets(snmp: dict[str, Any], ssh: dict[str, Any]) -> None:
    """Settings a simulated device may leave out get fresh random values for this run."""
    snmp.setdefault("community", _generated())
    snmp.setdefault("user", "harness")
    ssh.setdefault("user", "admin")
    auth, priv = snmp.get("auth"), snmp.get("priv")
    snmp["auth_key"] = auth.key if auth is not None and auth.key is not None else _generated()
    snmp["priv_key"] = priv.key if priv is not None and priv.key is not None else _generated()
    if ssh.get("password") is None and ssh.get("key_file") is None:
        ssh["password"] = _generated()


def device_settings(lab: Lab) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every device's SNMP and SSH settings, defaults merged in (secrets still references)."""
    snmp_cfg = {name: _snmp_settings(lab, dev) for name, dev in lab.devices.items()}
    ssh_cfg = {name: _ssh_settings(lab, dev) for name, dev in lab.devices.items()}
    for name, dev in lab.devices.items():  # the ports the lab fixes are not free for others
        reserve(snmp_cfg[name].get("port"), ssh_cfg[name].get("port"), dev.traffic_port,
                dev.irtt_port)
    return snmp_cfg, ssh_cfg


def add_traffic_hosts(bench: Bench,
                      build: Callable[[str, Device], TrafficEndpoint] | None = None) -> None:
    """The lab's traffic hosts (built by `build`, else local); each DN host gets its traffic
    port (the lab's, else a free one)."""
    for name, dev in bench.lab.devices.items():
        if dev.role in ("ue-host", "dn-host"):
            bench.hosts[name] = (build(name, dev) if build is not None
                                 else TrafficHost(name, address=dev.host))
            if dev.role == "dn-host":
                bench.traffic_ports[name] = dev.traffic_port or free_dual_port(dev.host)
                bench.irtt_ports[name] = dev.irtt_port or free_port(dev.host, socket.SOCK_DGRAM)


async def open_bench(lab: Lab, work_dir: Path, *, run_id: str = "",
                     log_dir: Path | None = None,
                     registry: DriverRegistry | None = None,
                     attach: Attach | None = None) -> Bench:
    """Start the simulated lab if the lab has one (with `attach`: use the one `harness sim up`
    runs), then build every device with the driver the lab chose (through the registry:
    built-ins and plugins). With `log_dir`, each device's log (its commands and their output,
    secrets masked) goes to DEVICE.log there."""
    drivers = registry if registry is not None else DriverRegistry.default()
    bench = Bench(lab=lab)
    snmp_cfg, ssh_cfg = device_settings(lab)
    if log_dir is not None:
        bench.log_files = DeviceLogFiles(log_dir, lab.devices).open()

    def build(name: str, dev: Device) -> Any:
        ctx = driver_context(lab, name, dev, snmp_cfg[name], ssh_cfg[name], run_id)
        bench.drivers[name] = drivers.driver_for(dev)
        if ctx.ssh_target is not None:
            bench.ssh_policies[name] = ctx.ssh_target.host_key_policy
        return _checked(name, dev, bench.drivers[name], drivers.create(ctx))

    known_hosts = work_dir / "known_hosts"
    try:
        add_traffic_hosts(bench, build)
        bench.traps = TrapHub()
        if lab.traps is not None:  # each real device's traps carry its own community
            await bench.traps.listen_lab(lab, lab.traps, {
                name: cfg.get("community") for name, cfg in snmp_cfg.items()})
        lines: list[str] = []
        served = [n for n, d in lab.devices.items()
                  if isinstance(d.simulated, SimulatedDevice | SimulatedCore)]
        if served and attach is not None:  # the lab `harness sim up` runs
            attach_sim(bench, attached_state(attach, served), snmp_cfg, ssh_cfg, known_hosts)
            lines = known_hosts.read_text(encoding="utf-8").splitlines()
        elif served:
            bench.sim = await _start_sim(lab, work_dir, snmp_cfg, ssh_cfg, bench)
            bench.lab_status = bench.sim.status
            equipment: dict[str, GnbEndpoints | CoreEndpoints] = {**bench.sim.gnbs,
                                                                  **bench.sim.cores}
            for name, ep in equipment.items():
                host, port = ep.ssh
                lines.append(f"[{host}]:{port} {ep.ssh_host_key}")
                ssh_cfg[name].setdefault("known_hosts", str(known_hosts))
                ssh_cfg[name]["port"], snmp_cfg[name]["port"] = port, ep.snmp[1]
        for name, dev in lab.devices.items():
            if isinstance(dev.simulated, SimulatedReplay):
                replay = await start_replay(name, dev, dev.simulated, snmp_cfg[name],
                                            ssh_cfg[name], work_dir)
                bench.replays.append(replay)
                lines.append(f"[{dev.host}]:{replay.ssh_port} {replay.ssh.host_key_line}")
                ssh_cfg[name].setdefault("known_hosts", str(known_hosts))
        if lines:
            known_hosts.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for name, dev in lab.devices.items():
            if dev.role == "gnodeb":
                bench.gnbs[name] = build(name, dev)
            elif dev.role == "core":
                bench.cores[name] = build(name, dev)
    except BaseException:
        await bench.close()
        raise
    return bench


async def _start_sim(lab: Lab, work_dir: Path, snmp_cfg: dict[str, dict[str, Any]],
                     ssh_cfg: dict[str, dict[str, Any]], bench: Bench) -> SimLabProcess:
    targets: dict[str, list[SimTrapTarget]] = {}
    for name, dev in lab.devices.items():  # each simulated gNodeB traps to its own receiver
        if (dev.role == "gnodeb" and isinstance(dev.simulated, SimulatedDevice)
                and bench.traps is not None):
            community = snmp_cfg[name].setdefault("community", _generated())  # its trap community
            host, port = await bench.traps.listen_device(name, dev.host, [community])
            targets[name] = [SimTrapTarget(host, port, "2c")]
    sim = SimLabProcess(sim_lab_spec(lab, work_dir / "simlab", snmp_cfg, ssh_cfg, bench,
                                     trap_targets=targets))
    endpoints = await sim.start()
    for name, ep in endpoints.items():
        for dn, addr in ep.relays.items():
            bench.paths[(name, dn)] = addr
    for g in sim.spec.gnbs:
        bench.default_plmns[g.name] = g.cells[0].plmns[0]
        for (dn, plmn, kind), address in relay_table(g).items():
            bench.relay_paths[(g.name, dn, plmn, kind)] = address
    return sim


def sim_lab_spec(lab: Lab, state_dir: Path, snmp_cfg: dict[str, dict[str, Any]],
                 ssh_cfg: dict[str, dict[str, Any]], bench: Bench, *,
                 trap_targets: dict[str, list[SimTrapTarget]] | None = None) -> SimLabSpec:
    """What the simulated-lab process must run for the lab's simulated devices; fills the
    ports and credentials the lab leaves out into `snmp_cfg`/`ssh_cfg`. `trap_targets`: where
    each simulated gNodeB sends its traps."""
    gnbs: list[SimGnbSpec] = []
    cores: list[SimCoreSpec] = []
    for index, (name, dev) in enumerate(lab.devices.items(), start=1):
        if dev.simulated is None or isinstance(dev.simulated, SimulatedReplay):
            continue
        snmp, ssh = snmp_cfg[name], ssh_cfg[name]
        _fill_sim_secrets(snmp, ssh)
        snmp.setdefault("port", free_port(dev.host, socket.SOCK_DGRAM))
        ssh.setdefault("port", free_port(dev.host))
        if isinstance(dev.simulated, SimulatedCore):
            sim_core = dev.simulated
            cores.append(SimCoreSpec(
                name=name, host=dev.host, snmp_port=snmp["port"], ssh_port=ssh["port"],
                credentials=_sim_credentials(name, snmp, ssh), plmns=list(sim_core.plmns),
                slices=list(sim_core.slices), subscribers=sim_core.subscribers,
                dnn=sim_core.dnn, serial=sim_core.serial or f"SIMC-{index:04d}",
                firmware=sim_core.firmware, model=sim_core.model))
            continue
        cells = [SimCell(id=c.id, bandwidth_mhz=c.bandwidth_mhz, scs_khz=c.scs_khz, tdd=c.tdd,
                         special=c.special, layers_dl=c.layers.dl, layers_ul=c.layers.ul,
                         modulation_dl=c.modulation.dl, modulation_ul=c.modulation.ul,
                         plmns=list(c.plmns), pci=c.pci, band=c.band, arfcn=c.arfcn,
                         tx_power_dbm=c.tx_power_dbm, quality=c.quality, bler=c.bler,
                         loss=c.loss, core_delay_ms=c.core_delay * 1000,
                         jitter_ms=c.jitter * 1000, plmn_shares=dict(c.plmn_shares))
                 for c in dev.simulated.cells]
        dns = {dn: DnPorts(bench.hosts[dn].address, bench.traffic_ports[dn],
                           bench.irtt_ports[dn]) for dn in lab.by_role("dn-host")}
        gnbs.append(SimGnbSpec(
            name=name, host=dev.host, snmp_port=snmp["port"], ssh_port=ssh["port"],
            credentials=_sim_credentials(name, snmp, ssh), cells=cells,
            relays=plan_relays(dev.host, cells, dns),
            serial=dev.simulated.serial or f"SIM-{index:04d}",
            firmware=dev.simulated.firmware, model=dev.simulated.model,
            core=lab.core_of(name),
            trap_targets=list((trap_targets or {}).get(name, [])),
            pm_granularity_s=(dev.simulated.pm_files.granularity
                              if dev.simulated.pm_files is not None else None),
            pm_suspect=(dev.simulated.pm_files is not None and dev.simulated.pm_files.suspect),
        ))
    return SimLabSpec(gnbs=gnbs, state_dir=str(state_dir), cores=cores)


_NEEDS: dict[str, tuple[type, str]] = {
    "gnodeb": (GnodebDevice, "facts, read_kpis, kpi_names, cell_ids, cell_config, set_cell, "
                             "close, name, profile"),
    "core": (CoreDevice, "facts, read_kpis, kpi_names, close, name, profile"),
    "ue-host": (TrafficEndpoint, "name, address, tool_version, tools, start_iperf3_server, "
                                 "run_iperf3_client"),
}
_NEEDS["dn-host"] = _NEEDS["ue-host"]


def _checked(name: str, dev: Device, driver: str, device: object) -> Any:
    """`device` if it offers what its role needs, else a ConfigError naming what is missing."""
    protocol, needs = _NEEDS[dev.role]
    if not isinstance(device, protocol):
        raise ConfigError(f"device {name}: driver {driver!r} built a {type(device).__name__}, "
                          f"which lacks what a {dev.role} needs ({needs})")
    return device
