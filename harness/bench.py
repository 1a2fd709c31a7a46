"""The bench in operation: lab.yaml resolved into connected devices, hosts and traffic paths.

When the lab marks devices as simulated, the simulated lab is started here (on free ports, with
credentials the lab gives or fresh random ones) and the drivers are pointed at it like at any
other equipment.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.gnb import Gnb
from drivers.host import TrafficHost
from drivers.profile import load_profile
from drivers.transport.snmp import SnmpTarget, SnmpTransport, SnmpV3User
from drivers.transport.ssh import SshTarget, SshTransport
from harness.config.lab import Device, Lab, merged
from harness.config.secrets import Secret
from harness.errors import ConfigError
from harness.simlab.control import SimLabProcess
from harness.simlab.spec import SimCell, SimCredentials, SimGnbSpec, SimLabSpec, SimRelay

_SIM_AUTH = ("SHA-256", "AES-128")


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port free on `host` right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Bench:
    """Connected devices and hosts of one run."""

    lab: Lab
    gnbs: dict[str, Gnb] = field(default_factory=dict)
    hosts: dict[str, TrafficHost] = field(default_factory=dict)
    traffic_ports: dict[str, int] = field(default_factory=dict)
    paths: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    sim: SimLabProcess | None = None

    def endpoint(self, dn: str, via: str | None) -> tuple[str, int]:
        """Where a UE-side host sends traffic to reach `dn` through gNodeB `via`."""
        if via is not None and (via, dn) in self.paths:
            return self.paths[(via, dn)]
        return self.hosts[dn].address, self.traffic_ports[dn]

    async def close(self) -> None:
        """Disconnect every device and stop the simulated lab, if any."""
        for gnb in self.gnbs.values():
            await gnb.close()
        if self.sim is not None:
            await self.sim.stop()


def _snmp_settings(lab: Lab, device: Device) -> dict[str, Any]:
    return merged(lab.defaults.snmp, device.snmp)


def _ssh_settings(lab: Lab, device: Device) -> dict[str, Any]:
    return merged(lab.defaults.ssh, device.ssh)


def _generated() -> Secret:
    return Secret(secrets.token_urlsafe(18))


def _sim_credentials(name: str, snmp: dict[str, Any], ssh: dict[str, Any]) -> SimCredentials:
    auth, priv = snmp.get("auth"), snmp.get("priv")
    if auth is not None and auth.protocol != _SIM_AUTH[0]:
        raise ConfigError(f"the simulated gNodeB {name} speaks SNMPv3 with {_SIM_AUTH[0]} "
                          f"authentication, not {auth.protocol}")
    if priv is not None and priv.protocol != _SIM_AUTH[1]:
        raise ConfigError(f"the simulated gNodeB {name} speaks SNMPv3 with {_SIM_AUTH[1]} "
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


async def open_bench(lab: Lab, work_dir: Path) -> Bench:
    """Start the simulated lab if the lab has one, then connect every device."""
    bench = Bench(lab=lab)
    snmp_cfg = {name: _snmp_settings(lab, dev) for name, dev in lab.devices.items()}
    ssh_cfg = {name: _ssh_settings(lab, dev) for name, dev in lab.devices.items()}
    for name, dev in lab.devices.items():
        if dev.role in ("ue-host", "dn-host"):
            bench.hosts[name] = TrafficHost(name, address=dev.host)
            if dev.role == "dn-host":
                bench.traffic_ports[name] = dev.traffic_port or free_port(dev.host)
    known_hosts = work_dir / "known_hosts"
    try:
        if lab.simulated:
            bench.sim = await _start_sim(lab, work_dir, snmp_cfg, ssh_cfg, bench)
            lines = []
            for name, ep in bench.sim.gnbs.items():
                host, port = ep.ssh
                lines.append(f"[{host}]:{port} {ep.ssh_host_key}")
                ssh_cfg[name].setdefault("known_hosts", str(known_hosts))
                ssh_cfg[name]["port"], snmp_cfg[name]["port"] = port, ep.snmp[1]
            known_hosts.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for name, dev in lab.devices.items():
            if dev.role == "gnodeb" and dev.profile is not None:
                bench.gnbs[name] = Gnb(
                    name, load_profile(dev.profile),
                    snmp=SnmpTransport(_snmp_target(name, dev, snmp_cfg[name]), device=name),
                    ssh=SshTransport(_ssh_target(dev, ssh_cfg[name]), device=name),
                )
    except BaseException:
        await bench.close()
        raise
    return bench


async def _start_sim(lab: Lab, work_dir: Path, snmp_cfg: dict[str, dict[str, Any]],
                     ssh_cfg: dict[str, dict[str, Any]], bench: Bench) -> SimLabProcess:
    gnbs: list[SimGnbSpec] = []
    for index, (name, dev) in enumerate(lab.devices.items(), start=1):
        if dev.simulated is None:
            continue
        snmp, ssh = snmp_cfg[name], ssh_cfg[name]
        _fill_sim_secrets(snmp, ssh)
        snmp.setdefault("port", free_port(dev.host, socket.SOCK_DGRAM))
        ssh.setdefault("port", free_port(dev.host))
        first_cell = dev.simulated.cells[0].id
        relays = [SimRelay(dn=dn, target_host=bench.hosts[dn].address,
                           target_port=bench.traffic_ports[dn], listen_port=free_port(dev.host),
                           cell=first_cell)
                  for dn in lab.by_role("dn-host")]
        gnbs.append(SimGnbSpec(
            name=name, host=dev.host, snmp_port=snmp["port"], ssh_port=ssh["port"],
            credentials=_sim_credentials(name, snmp, ssh),
            cells=[SimCell(id=c.id, bandwidth_mhz=c.bandwidth_mhz, scs_khz=c.scs_khz, tdd=c.tdd,
                           special=c.special, layers_dl=c.layers.dl, layers_ul=c.layers.ul,
                           modulation_dl=c.modulation.dl, modulation_ul=c.modulation.ul,
                           plmns=list(c.plmns), pci=c.pci) for c in dev.simulated.cells],
            relays=relays, serial=dev.simulated.serial or f"SIM-{index:04d}",
            firmware=dev.simulated.firmware, model=dev.simulated.model,
        ))
    sim = SimLabProcess(SimLabSpec(gnbs=gnbs, state_dir=str(work_dir / "simlab")))
    endpoints = await sim.start()
    for name, ep in endpoints.items():
        for dn, addr in ep.relays.items():
            bench.paths[(name, dn)] = addr
    return sim


def _snmp_target(name: str, dev: Device, cfg: dict[str, Any]) -> SnmpTarget:
    version = cfg.get("version") or "2c"
    v3 = None
    if version == "3":
        auth, priv = cfg.get("auth"), cfg.get("priv")
        if cfg.get("user") is None:
            raise ConfigError(f"device {name}: SNMPv3 needs a user (snmp.user)")
        v3 = SnmpV3User(
            user=cfg["user"],
            auth_protocol=auth.protocol if auth is not None else "none",
            auth_key=cfg.get("auth_key") or (auth.key if auth is not None else None),
            priv_protocol=priv.protocol if priv is not None else "none",
            priv_key=cfg.get("priv_key") or (priv.key if priv is not None else None),
        )
    elif cfg.get("community") is None:
        raise ConfigError(f"device {name}: SNMPv{version} needs a community (snmp.community)")
    return SnmpTarget(host=dev.host, port=cfg.get("port") or 161, version=version,
                      community=cfg.get("community"), v3=v3,
                      timeout_s=cfg.get("timeout") or 2.0, retries=cfg.get("retries", 1))


def _ssh_target(dev: Device, cfg: dict[str, Any]) -> SshTarget:
    return SshTarget(host=dev.host, port=cfg.get("port") or 22, user=cfg.get("user") or "admin",
                     password=cfg.get("password"), key_file=cfg.get("key_file"),
                     host_key=cfg.get("host_key") or "verify",
                     known_hosts=cfg.get("known_hosts"),
                     timeout_s=cfg.get("timeout") or 10.0)
