"""A gNodeB driven over SNMP (facts, KPIs, cell parameters) and SSH (actions), per a profile."""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Mapping, Sequence

from drivers.capabilities import DeviceFacts, KpiReading
from drivers.profile import Profile
from drivers.transport.snmp import NoSuchValue, SnmpTransport, SnmpValue
from drivers.transport.ssh import SshTransport
from harness.errors import CommandFailed, ConfigError


def _oid(template: str, cell: int) -> str:
    return template.replace("{cell}", str(cell))


class Gnb:
    """A gNodeB built from a transport pair and a vendor profile; knows nothing of simulators."""

    def __init__(self, name: str, profile: Profile, *, snmp: SnmpTransport,
                 ssh: SshTransport | None) -> None:
        self.name = name
        self.profile = profile
        self.snmp = snmp
        self.ssh = ssh
        self.log = logging.getLogger(f"drivers.gnb.{name}")

    async def facts(self) -> DeviceFacts:
        """Vendor, model, serial, firmware (and description, uptime) as the device reports them."""
        names = list(self.profile.facts)
        values = await self.snmp.get([self.profile.facts[n].oid for n in names])
        got: dict[str, SnmpValue] = {n: values[self.profile.facts[n].oid] for n in names}
        text = {n: "" if isinstance(v, NoSuchValue) else str(v) for n, v in got.items()}
        uptime = got.get("uptime")
        return DeviceFacts(
            vendor=text.get("vendor", ""), model=text.get("model", ""),
            serial=text.get("serial", ""), firmware=text.get("firmware", ""),
            description=text.get("description", ""),
            uptime_s=uptime / 100 if isinstance(uptime, int) else None,
        )

    def kpi_names(self) -> Sequence[str]:
        """Every KPI the profile defines."""
        return list(self.profile.kpis)

    async def read_kpis(self, names: Sequence[str], cells: Sequence[int]) -> list[KpiReading]:
        """One GET for every (KPI, cell); a value the device lacks is an error, never a zero."""
        wanted: list[tuple[str, int, str]] = []
        for name in names:
            spec = self.profile.kpis.get(name)
            if spec is None:
                raise ConfigError(f"profile {self.profile.name} has no KPI {name!r} "
                                  f"(it has: {', '.join(self.profile.kpis)})")
            for cell in cells:
                wanted.append((name, cell, _oid(spec.oid, cell)))
        values = await self.snmp.get([oid for _, _, oid in wanted])
        readings: list[KpiReading] = []
        for name, cell, oid in wanted:
            value = values[oid]
            spec = self.profile.kpis[name]
            if not isinstance(value, int):
                reason = value.reason if isinstance(value, NoSuchValue) else f"value {value!r}"
                raise CommandFailed(f"{self.name}: KPI {name} cell {cell} ({oid}): {reason}")
            readings.append(KpiReading(name=name, cell=cell, raw=value, kind=spec.type,
                                       unit=spec.unit, scale=spec.scale))
        return readings

    async def cell_ids(self) -> list[int]:
        """Cell ids the device reports (from the profile's cell table), or [1] if it has none."""
        if self.profile.cells_oid is None:
            return [1]
        rows = await self.snmp.walk(self.profile.cells_oid)
        return sorted(v for v in rows.values() if isinstance(v, int))

    async def cell_config(self, cell: int) -> dict[str, int | str]:
        """The cell parameters the profile can read."""
        params = self.profile.cell_params
        oids = {name: _oid(p.oid, cell) for name, p in params.items()}
        values = await self.snmp.get(list(oids.values()))
        config: dict[str, int | str] = {}
        for name, oid in oids.items():
            value = values[oid]
            if isinstance(value, NoSuchValue):
                raise CommandFailed(f"{self.name}: cell {cell} has no {name} ({oid}): "
                                    f"{value.reason}")
            config[name] = value
        return config

    async def set_cell(self, cell: int, params: Mapping[str, int | str]) -> None:
        """Apply cell parameters through the profile's CLI templates, one command each."""
        action = self.profile.actions.get("set_cell")
        if action is None:
            raise ConfigError(f"profile {self.profile.name} has no set_cell action")
        if self.ssh is None:
            raise ConfigError(f"{self.name}: set_cell needs SSH, and the lab gives none")
        for param, value in params.items():
            template = action.commands.get(param)
            if template is None:
                raise ConfigError(f"profile {self.profile.name} cannot set {param!r} on a cell "
                                  f"(it can set: {', '.join(action.commands)})")
            command = (template.replace("{cell}", shlex.quote(str(cell)))
                       .replace("{value}", shlex.quote(str(value))))
            result = await self.ssh.run(command)
            output = result.stdout + result.stderr
            failed = result.exit_status != 0 or any(
                re.search(p, output, re.MULTILINE) for p in action.failure)
            self.log.info("%s -> exit %d", command, result.exit_status)
            if failed:
                raise CommandFailed(f"{self.name}: '{command}' failed: {output.strip()}")

    async def close(self) -> None:
        """Release both transports."""
        await self.snmp.close()
        if self.ssh is not None:
            await self.ssh.close()
