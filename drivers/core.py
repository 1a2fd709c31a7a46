"""A 5G core (AMF/SMF/UPF) driven over SNMP (facts, KPIs) per a vendor profile.

A core's KPIs are node-wide (registered subscribers, PDU sessions, N3 GTP-U counters), so
their OIDs carry no cell index; `read_kpis` still answers per requested cell, with the same
reading for each, so the KPI poller treats gNodeBs and cores alike.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from drivers.capabilities import DeviceFacts, KpiReading
from drivers.gnb import fact_texts, kpi_value, uptime_seconds
from drivers.profile import Profile
from drivers.transport.snmp import SnmpTransport, SnmpValue
from drivers.transport.ssh import SshTransport
from harness.base.errors import ConfigError


class Core:
    """A 5G core built from a transport pair and a vendor profile; knows nothing of simulators."""

    def __init__(self, name: str, profile: Profile, *, snmp: SnmpTransport,
                 ssh: SshTransport | None = None) -> None:
        if profile.role != "core":
            raise ConfigError(f"{name}: profile {profile.name} describes a {profile.role}, "
                              "not a core")
        self.name = name
        self.profile = profile
        self.snmp = snmp
        self.ssh = ssh
        self.log = logging.getLogger(f"drivers.core.{name}")

    async def facts(self) -> DeviceFacts:
        """Vendor, model, serial, firmware (and description, uptime) as the core reports them."""
        names = list(self.profile.facts)
        values = await self.snmp.get([self.profile.facts[n].oid for n in names])
        got: dict[str, SnmpValue] = {n: values[self.profile.facts[n].oid] for n in names}
        text = fact_texts(got)
        return DeviceFacts(
            vendor=text.get("vendor", ""), model=text.get("model", ""),
            serial=text.get("serial", ""), firmware=text.get("firmware", ""),
            description=text.get("description", ""),
            uptime_s=uptime_seconds(got.get("uptime")),
        )

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
        values = await self.snmp.get(sorted(set(oids.values())))
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
        """Release both transports."""
        await self.snmp.close()
        if self.ssh is not None:
            await self.ssh.close()
