"""A 5G core (AMF/SMF/UPF) read per a vendor profile: facts over SNMP and/or from commands
(`command_facts` over SSH), KPIs over SNMP.

A core's KPIs are node-wide (registered subscribers, PDU sessions, N3 GTP-U counters), so
their OIDs carry no cell index; `read_kpis` still answers per requested cell, with the same
reading for each, so the KPI poller treats gNodeBs and cores alike.

What a core is reached with follows the gNodeB's rules, through the gNodeB driver's own
mechanism (not a copy of it): no SSH settings → no SSH; no SNMP settings (an SSH-only core)
→ facts from `command_facts`, and whatever the profile reads over SNMP is an error naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from drivers.capabilities import DeviceFacts, KpiReading, TransportStatus
from drivers.gnb import Gnb, kpi_value
from drivers.profile import Profile
from drivers.transport.devlog import DeviceLog
from drivers.transport.snmp import SnmpTransport
from drivers.transport.ssh import SshTransport
from harness.base.errors import ConfigError


class Core:
    """A 5G core built from its transports and a vendor profile; knows nothing of simulators."""

    def __init__(self, name: str, profile: Profile, *, snmp: SnmpTransport | None,
                 ssh: SshTransport | None = None, log: DeviceLog | None = None) -> None:
        if profile.role != "core":
            raise ConfigError(f"{name}: profile {profile.name} describes a {profile.role}, "
                              "not a core")
        self.name = name
        self.profile = profile
        self.snmp = snmp
        self.ssh = ssh
        self.log = logging.getLogger(f"drivers.core.{name}")
        # The gNodeB driver reads facts (SNMP OIDs, command_facts over exec or a CLI session),
        # checks reachability and refuses SNMP reads without SNMP: a core reads the same way.
        self._reads = Gnb(name, profile, snmp=snmp, ssh=ssh, log=log)

    async def facts(self) -> DeviceFacts:
        """Vendor, model, serial, firmware (and description, uptime) as the core reports them:
        by SNMP GET for `facts`, from command output for `command_facts`."""
        return await self._reads.facts()

    async def reachability(self) -> list[TransportStatus]:
        """SNMP (a GET of sysUpTime.0) and SSH (login only), each only if the lab gives it."""
        return await self._reads.reachability()

    def kpi_names(self) -> Sequence[str]:
        """Every KPI the profile defines."""
        return list(self.profile.kpis)

    async def read_kpis(self, names: Sequence[str], cells: Sequence[int]) -> list[KpiReading]:
        """One GET for all KPIs; a value the core lacks is an error, never a zero."""
        oids: dict[str, str] = {}
        for name in names:
            spec = self.profile.kpis.get(name)
            if spec is None:
                raise ConfigError(f"profile {self.profile.name} has no KPI {name!r} "
                                  f"(it has: {', '.join(self.profile.kpis)})")
            oids[name] = spec.oid.replace(".{cell}", "")
        snmp = self._reads._need_snmp("KPIs")
        values = await snmp.get(sorted(set(oids.values())))
        readings: list[KpiReading] = []
        for name, oid in oids.items():
            value = values[oid]
            spec = self.profile.kpis[name]
            raw = kpi_value(self.name, f"{name} ({oid})", spec.type, value)
            for cell in cells or [0]:
                readings.append(KpiReading(name=name, cell=cell, raw=raw, kind=spec.type,
                                           unit=spec.unit, scale=spec.scale,
                                           period_s=spec.period))
        return readings

    async def close(self) -> None:
        """Release the CLI session and both transports."""
        await self._reads.close()
