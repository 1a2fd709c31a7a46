"""What a driver gets for one lab device: its SNMP and SSH targets from the merged lab
settings (none of a kind the lab does not give a real device), its profile, its device log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drivers.mibs import MibResolver
from drivers.profile import Profile, load_profile
from drivers.registry import DriverContext
from drivers.transport.devlog import DeviceLog
from drivers.transport.snmp import SnmpTarget, SnmpV3User
from drivers.transport.ssh import SshTarget
from harness.base.errors import ConfigError
from harness.base.secrets import Secret
from harness.config.lab import Device, JumpHost, Lab

__all__ = ["driver_context", "snmp_target", "ssh_target", "uses_snmp", "uses_ssh"]


def snmp_target(name: str, dev: Device, cfg: dict[str, Any]) -> SnmpTarget:
    """The SNMP transport settings of one device from its merged lab settings."""
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
                      timeout_s=cfg.get("timeout") or 2.0, retries=cfg.get("retries", 1),
                      **_snmp_options(cfg))


def _snmp_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """lab.yaml's per-device SNMP options (context, PDU sizes) the device sets."""
    names = ("context", "max_varbinds", "max_in_flight", "max_repetitions")
    return {name: cfg[name] for name in names if cfg.get(name) is not None}


def ssh_target(host: str, cfg: dict[str, Any]) -> SshTarget:
    jump: JumpHost | None = cfg.get("jump")
    return SshTarget(host=host, port=cfg.get("port") or 22, user=cfg.get("user") or "admin",
                     password=cfg.get("password"), key_file=cfg.get("key_file"),
                     host_key=cfg.get("host_key") or "verify",
                     known_hosts=cfg.get("known_hosts"),
                     timeout_s=cfg.get("timeout") or 10.0,
                     command_timeout_s=cfg.get("command_timeout") or 30.0,
                     agent=cfg.get("agent"), keepalive_s=cfg.get("keepalive") or 0.0,
                     jump=_jump_target(jump, cfg) if jump is not None else None)


def _jump_target(jump: JumpHost, device_cfg: dict[str, Any]) -> SshTarget:
    """The jump host's target: its own settings over the device's SSH settings."""
    cfg = {k: v for k, v in device_cfg.items() if k not in ("port", "jump")}
    cfg.update({k: v for k, v in jump.__dict__.items() if v is not None and k != "host"})
    return ssh_target(jump.host, cfg)


def lab_profile(lab: Lab, name: str) -> Profile:
    """A profile from the lab's own profiles folder first, then among the shipped ones."""
    return load_profile(name, [Path(lab.profiles)] if lab.profiles else None,
                        mibs=MibResolver([Path(lab.mibs)]) if lab.mibs else None)


def driver_context(lab: Lab, name: str, dev: Device, snmp: dict[str, Any], ssh: dict[str, Any],
             run_id: str) -> DriverContext:
    """What a driver factory gets for one device (the device log masks its secrets)."""
    log = DeviceLog(name, run_id=run_id)
    equipment = dev.role in ("gnodeb", "core")
    nested = [getattr(snmp.get("auth"), "key", None), getattr(snmp.get("priv"), "key", None),
              getattr(ssh.get("jump"), "password", None)]
    for value in [*snmp.values(), *ssh.values(), *nested]:
        if isinstance(value, Secret):
            log.mask(value.reveal())
    return DriverContext(
        name=name, config=dev, log=log, run_id=run_id,
        profile=lab_profile(lab, dev.profile) if dev.profile is not None else None,
        snmp_target=snmp_target(name, dev, snmp)
        if equipment and uses_snmp(lab, dev) else None,
        ssh_target=ssh_target(dev.host, ssh)
        if (equipment and uses_ssh(lab, dev)) or dev.connection == "ssh" else None,
    )


def uses_snmp(lab: Lab, dev: Device) -> bool:
    """Whether the harness talks SNMP to a gNodeB or core: always, but for a real one whose
    lab gives SSH settings and no SNMP ones (its own `snmp:` or `defaults.snmp`) — an
    SSH-only device, whose facts come from commands."""
    if dev.simulated is not None or dev.snmp is not None or \
            "snmp" in lab.defaults.model_fields_set:
        return True
    return not uses_ssh(lab, dev)


def uses_ssh(lab: Lab, dev: Device) -> bool:
    """Whether the harness talks SSH to a gNodeB or core: a simulated one always; a real one
    only when the lab gives SSH settings (its own `ssh:` or `defaults.ssh`). An SNMP-only
    device gets none, and nothing tries port 22 on it."""
    return (dev.simulated is not None or dev.ssh is not None
            or "ssh" in lab.defaults.model_fields_set)
