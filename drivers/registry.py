"""The driver registry: driver names → factories that build a device from its lab entry.

Built in: `gnodeb`, `core` and `host`. Out-of-tree drivers register through the entry-point
group `ran_harness.drivers`; each entry point names a factory (a callable taking a
`DriverContext`), e.g. in the plugin's pyproject.toml:

    [project.entry-points."ran_harness.drivers"]
    acme-gnb = "acme_ran.driver:make_gnb"

A name registered twice is an error naming both sources. The registry is an instance (no
module-global state): `DriverRegistry.with_builtins()` then `.load_entry_points()`.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from drivers.profile import Profile
from drivers.transport.devlog import DeviceLog
from drivers.transport.snmp import SnmpTarget, SnmpTransport
from drivers.transport.snmp_logged import LoggedSnmpTransport
from drivers.transport.ssh import SshTarget, SshTransport
from harness.base.errors import ConfigError

ENTRY_POINT_GROUP = "ran_harness.drivers"
ROLE_DRIVERS = {"gnodeb": "gnodeb", "core": "core", "ue-host": "host", "dn-host": "host"}


class DeviceConfig(Protocol):
    """What a driver factory reads of a lab device (the lab model's `Device` is one)."""

    @property
    def role(self) -> str:
        """gnodeb, core, ue-host or dn-host."""
        ...

    @property
    def host(self) -> str:
        """Where the device is reached."""
        ...

    @property
    def connection(self) -> str:
        """How a traffic host runs its tools: "local" or "ssh"."""
        ...

    @property
    def driver(self) -> str | None:
        """The lab's `driver:` name, None for the role's built-in."""
        ...


@dataclass(frozen=True)
class DriverContext:
    """Everything a factory may use to build one device; transports are made on request."""

    name: str
    config: DeviceConfig
    log: DeviceLog
    profile: Profile | None = None
    snmp_target: SnmpTarget | None = None
    ssh_target: SshTarget | None = None
    run_id: str = ""
    options: dict[str, object] = field(default_factory=dict)

    @property
    def role(self) -> str:
        """The device's role in the lab (gnodeb, core, ue-host, dn-host)."""
        return self.config.role

    def require_profile(self) -> Profile:
        """The device's vendor profile; ConfigError when the lab gives none."""
        if self.profile is None:
            raise ConfigError(f"device {self.name}: this driver needs a vendor profile "
                              "(profile: NAME in lab.yaml)")
        return self.profile

    def snmp(self) -> SnmpTransport:
        """A new SNMP transport to the device; ConfigError when the lab gives no SNMP."""
        if self.snmp_target is None:
            raise ConfigError(f"device {self.name}: this driver needs SNMP settings")
        return LoggedSnmpTransport(self.snmp_target, device=self.name, log=self.log)

    def ssh(self) -> SshTransport | None:
        """A new SSH transport to the device (logging to its device log), or None."""
        if self.ssh_target is None:
            return None
        return SshTransport(self.ssh_target, device=self.name, log=self.log)


DriverFactory = Callable[[DriverContext], object]
"""Builds a device (without connecting) from its context; raises ConfigError when it can't."""


@dataclass(frozen=True)
class DriverEntry:
    """One registered driver and where it came from (for error messages and reports)."""

    name: str
    factory: DriverFactory
    source: str


class DriverRegistry:
    """Driver names → factories. Instances only; duplicates raise ConfigError."""

    def __init__(self) -> None:
        self._entries: dict[str, DriverEntry] = {}

    @classmethod
    def with_builtins(cls) -> DriverRegistry:
        """A registry holding the built-in drivers gnodeb, core and host."""
        registry = cls()
        registry.register("gnodeb", _gnodeb, source="built-in (drivers.gnb)")
        registry.register("core", _core, source="built-in (drivers.core)")
        registry.register("host", _host, source="built-in (drivers.hosts.host)")
        return registry

    @classmethod
    def default(cls) -> DriverRegistry:
        """Built-ins plus every installed plugin's drivers."""
        return cls.with_builtins().load_entry_points()

    def register(self, name: str, factory: DriverFactory, *, source: str) -> None:
        """Add a driver; a name already taken is a ConfigError naming both sources."""
        existing = self._entries.get(name)
        if existing is not None:
            raise ConfigError(
                f"driver name {name!r} is registered twice: by {existing.source} and by "
                f"{source}; uninstall one of them or rename its entry point")
        if not callable(factory):
            raise ConfigError(f"driver {name!r} from {source} is not callable "
                              f"({type(factory).__name__}); an entry point must name a factory")
        self._entries[name] = DriverEntry(name, factory, source)

    def load_entry_points(
            self, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    ) -> DriverRegistry:
        """Register the factories of the `ran_harness.drivers` entry points (of installed
        distributions, unless given); returns self."""
        found = (importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
                 if entry_points is None else entry_points)
        for ep in sorted(found, key=_ep_source):
            source = _ep_source(ep)
            try:
                factory = ep.load()
            except Exception as exc:  # a broken plugin must say which one it is
                raise ConfigError(f"cannot load driver {ep.name!r} from {source}: "
                                  f"{type(exc).__name__}: {exc}") from None
            self.register(ep.name, factory, source=source)
        return self

    def names(self) -> list[str]:
        """Registered driver names, sorted."""
        return sorted(self._entries)

    def entry(self, name: str) -> DriverEntry:
        """The driver registered as `name`; ConfigError listing what there is."""
        entry = self._entries.get(name)
        if entry is None:
            raise ConfigError(f"no driver named {name!r} (registered: {', '.join(self.names())}"
                              f"); install the plugin that provides it")
        return entry

    def driver_for(self, device: DeviceConfig) -> str:
        """The driver a lab device uses: its `driver:` name, else its role's built-in."""
        return device.driver or ROLE_DRIVERS[device.role]

    def create(self, ctx: DriverContext) -> object:
        """Build the device `ctx` describes with the driver the lab chose for it."""
        name = self.driver_for(ctx.config)
        entry = self.entry(name)
        try:
            device = entry.factory(ctx)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"device {ctx.name}: driver {name!r} ({entry.source}) failed to "
                              f"build it: {type(exc).__name__}: {exc}") from None
        if device is None:
            raise ConfigError(f"device {ctx.name}: driver {name!r} ({entry.source}) "
                              "returned nothing")
        return device


def _ep_source(ep: importlib.metadata.EntryPoint) -> str:
    dist = ep.dist
    where = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown package"
    return f"entry point {ep.name} = {ep.value} ({where})"


def _gnodeb(ctx: DriverContext) -> object:
    from drivers.gnb import Gnb

    snmp = ctx.snmp() if ctx.snmp_target is not None else None  # None: an SSH-only device
    return Gnb(ctx.name, ctx.require_profile(), snmp=snmp, ssh=ctx.ssh(), log=ctx.log)


def _core(ctx: DriverContext) -> object:
    from drivers.core import Core

    snmp = ctx.snmp() if ctx.snmp_target is not None else None  # None: an SSH-only core
    return Core(ctx.name, ctx.require_profile(), snmp=snmp, ssh=ctx.ssh(), log=ctx.log)


def _host(ctx: DriverContext) -> object:
    from drivers.hosts.host import TrafficHost
    from drivers.hosts.ssh_runner import SshRunner

    transport = ctx.ssh() if ctx.config.connection == "ssh" else None
    runner = SshRunner(transport) if transport is not None else None
    return TrafficHost(ctx.name, address=ctx.config.host, runner=runner, log=ctx.log)
