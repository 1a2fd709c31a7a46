"""A gNodeB driven over SNMP (facts, KPIs, cell parameters) and SSH (actions), per a profile."""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from drivers.actions import ActionResult, ActionSpec, judge
from drivers.alarms import alarms_from_table
from drivers.capabilities import (
    AlarmEvent,
    DeviceFacts,
    KpiReading,
    TransportStatus,
    UploadedImage,
)
from drivers.pm_source import PmFileSource
from drivers.profile import Profile
from drivers.profile_values import index_from_walk
from drivers.transport.devlog import DeviceLog
from drivers.transport.snmp import NoSuchValue, SnmpTransport, SnmpValue
from drivers.transport.ssh import CliSession, SshTransport
from harness.base.errors import CommandFailed, ConfigError, HarnessError

_SYS_UPTIME = "1.3.6.1.2.1.1.3.0"  # SNMPv2-MIB::sysUpTime.0, answered by every agent
_MAX_FACT_CHARS = 1024
_MAX_TICKS = 2**64 - 1
_KPI_LIMITS = {"counter32": 2**32 - 1, "counter64": 2**64 - 1}
_SECONDS = re.compile(r"[0-9]{1,15}(\.[0-9]{1,6})?", re.ASCII)


def fact_texts(values: Mapping[str, SnmpValue]) -> dict[str, str]:
    """Fact values as text: a missing value is "", an integer beyond 64 bits is "", and text
    longer than 1,024 characters is cut (a device's bytes are hostile input)."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, NoSuchValue) or (isinstance(value, int)
                                               and value.bit_length() > 64):
            out[name] = ""
            continue
        text = str(value)
        out[name] = text if len(text) <= _MAX_FACT_CHARS else text[:_MAX_FACT_CHARS] + "…"
    return out


def kpi_value(device: str, what: str, kind: str, value: SnmpValue) -> int:
    """A KPI's raw value, refused (CommandFailed) when missing or outside its kind's range:
    a counter32 above 2^32-1 would wrap the rate arithmetic into a bogus figure."""
    if not isinstance(value, int):
        reason = value.reason if isinstance(value, NoSuchValue) else f"value {value!r}"
        raise CommandFailed(f"{device}: KPI {what}: {reason}")
    limit = _KPI_LIMITS.get(kind)
    if limit is not None and not 0 <= value <= limit:
        raise CommandFailed(f"{device}: KPI {what}: device sent a malformed reply: {value} is "
                            f"not a {kind} value (0..{limit}): check the profile's type")
    return value


def uptime_seconds(ticks: SnmpValue | None, text: str = "") -> float | None:
    """Uptime from SNMP ticks (1/100 s, 0..2^64-1) or from text starting with plain
    seconds ("1234.5 s"); None for anything else."""
    if isinstance(ticks, int) and 0 <= ticks <= _MAX_TICKS:
        return ticks / 100
    words = text.split()
    if words and _SECONDS.fullmatch(words[0]):
        return float(words[0])
    return None


def _oid(template: str, cell: int, index: str | None = None) -> str:
    return template.replace("{cell}", str(cell)).replace(
        "{index}", str(cell) if index is None else index)


class Gnb:
    """A gNodeB built from a transport pair and a vendor profile; knows nothing of simulators."""

    def __init__(self, name: str, profile: Profile, *, snmp: SnmpTransport | None,
                 ssh: SshTransport | None, log: DeviceLog | None = None) -> None:
        self.name = name
        self.profile = profile
        self.snmp = snmp
        self.ssh = ssh
        self.log = log or (ssh.log if ssh is not None else DeviceLog(name))
        self._cli: CliSession | None = None
        self._cli_lock = asyncio.Lock()
        self._pm: PmFileSource | None = None
        self._indexes: dict[int, str] = {}  # cell → {index}, from the profile's cell_index

    def _need_snmp(self, what: str) -> SnmpTransport:
        """The SNMP transport; ConfigError when the lab gives this device none."""
        if self.snmp is None:
            raise ConfigError(f"{self.name}: the profile reads {what} over SNMP, and the lab "
                              "gives no SNMP settings for it (snmp: in lab.yaml)")
        return self.snmp

    async def facts(self) -> DeviceFacts:
        """Vendor, model, serial, firmware (and description, uptime) as the device reports them:
        by SNMP GET for `facts`, from command output for `command_facts`."""
        names = list(self.profile.facts)
        got: dict[str, SnmpValue] = {}
        if names:
            snmp = self._need_snmp("facts by OID")
            values = await snmp.get([self.profile.facts[n].oid for n in names])
            got = {n: values[self.profile.facts[n].oid] for n in names}
        text = fact_texts(got)
        outputs: dict[tuple[str, str], str] = {}
        for name, fact in self.profile.command_facts.items():
            key = (fact.mode, fact.command)
            if key not in outputs:
                outputs[key] = await self._send(fact.command, fact.mode, [], None)
            text[name] = fact.pick(name, fact.parser.parse(outputs[key]))
        return self.make_facts(text, got.get("uptime"))

    @staticmethod
    def make_facts(text: Mapping[str, str], uptime: SnmpValue | None = None) -> DeviceFacts:
        """DeviceFacts from fact texts (an SNMP sysUpTime in ticks, or uptime text in s)."""
        seconds = uptime_seconds(uptime, text.get("uptime", ""))
        return DeviceFacts(
            vendor=text.get("vendor", ""), model=text.get("model", ""),
            serial=text.get("serial", ""), firmware=text.get("firmware", ""),
            description=text.get("description", ""), uptime_s=seconds,
        )

    async def reachability(self) -> list[TransportStatus]:
        """SNMP (a GET of sysUpTime.0) and SSH (login only) checked; nothing is run."""
        statuses: list[TransportStatus] = []
        if self.snmp is not None:
            try:
                await self.snmp.get([_SYS_UPTIME])
                statuses.append(TransportStatus("snmp", True))
            except HarnessError as exc:
                statuses.append(TransportStatus("snmp", False, str(exc)))
        if self.ssh is not None:
            policy = self.ssh.host_key_policy
            try:
                await self.ssh.connect()
                statuses.append(TransportStatus("ssh", True, "", policy))
            except HarnessError as exc:
                statuses.append(TransportStatus("ssh", False, str(exc), policy))
        return statuses

    def kpi_names(self) -> Sequence[str]:
        """Every KPI the profile defines (over SNMP, then from PM files)."""
        return self.profile.kpi_names()

    async def read_kpis(self, names: Sequence[str], cells: Sequence[int]) -> list[KpiReading]:
        """One GET for every (KPI, cell); a value the device lacks is an error, never a zero.
        KPIs of the profile's `pm_files:` come from the device's new PM files instead."""
        pm = self.profile.pm_files
        from_files = [n for n in names if pm is not None and n in pm.kpis]
        if from_files:
            rest = [n for n in names if n not in from_files]
            got = await self.pm_source().read(from_files, cells)
            return got + (await self.read_kpis(rest, cells) if rest else [])
        wanted: list[tuple[str, int, str]] = []
        for name in names:
            spec = self.profile.kpis.get(name)
            if spec is None:
                raise ConfigError(f"profile {self.profile.name} has no KPI {name!r} "
                                  f"(it has: {', '.join(self.profile.kpis)})")
            for cell in cells:
                wanted.append((name, cell, _oid(spec.oid, cell, await self.cell_index(cell))))
        uptime_fact = self.profile.facts.get("uptime")
        extra = [uptime_fact.oid] if uptime_fact is not None else []
        values = await self._need_snmp("KPIs").get([oid for _, _, oid in wanted] + extra)
        uptime = values[extra[0]] if extra else None
        ticks = uptime if isinstance(uptime, int) else None
        readings: list[KpiReading] = []
        for name, cell, oid in wanted:
            value = values[oid]
            spec = self.profile.kpis[name]
            raw = kpi_value(self.name, f"{name} cell {cell} ({oid})", spec.type, value)
            readings.append(KpiReading(name=name, cell=cell, raw=raw, kind=spec.type,
                                       unit=spec.unit, scale=spec.scale, uptime_ticks=ticks,
                                       period_s=spec.period))
        return readings

    def pm_source(self) -> PmFileSource:
        """The reader of the profile's PM files (over this device's SFTP)."""
        if self.profile.pm_files is None:
            raise ConfigError(f"profile {self.profile.name} has no pm_files section")
        if self.ssh is None:
            raise ConfigError(f"{self.name}: PM files come over SFTP, and the lab gives no SSH")
        if self._pm is None:
            self._pm = PmFileSource(self.name, self.profile.pm_files, self.ssh)
        return self._pm

    async def cell_ids(self) -> list[int]:
        """Cell ids the device reports (from the profile's cell table), or [1] if it has none."""
        if self.profile.cells_oid is None:
            return [1]
        rows = await self._need_snmp("the cell table").walk(self.profile.cells_oid)
        return sorted(v for v in rows.values() if isinstance(v, int))

    async def cell_config(self, cell: int) -> dict[str, int | str]:
        """The cell parameters the profile can read."""
        params = self.profile.cell_params
        if not params:
            return {}
        index = await self.cell_index(cell)
        oids = {name: _oid(p.oid, cell, index) for name, p in params.items()}
        values = await self._need_snmp("cell parameters").get(list(oids.values()))
        config: dict[str, int | str] = {}
        for name, oid in oids.items():
            value = values[oid]
            if isinstance(value, NoSuchValue):
                raise CommandFailed(f"{self.name}: cell {cell} has no {name} ({oid}): "
                                    f"{value.reason}")
            if not isinstance(value, int | str):
                raise CommandFailed(f"{self.name}: cell {cell} {name} ({oid}): the device "
                                    f"sent {value!r}, neither a number nor text")
            config[name] = params[name].read(self.name, name, value)
        return config

    async def cell_index(self, cell: int) -> str | None:
        """The `{index}` of a cell's table rows: the row of the profile's `cell_index` column
        whose value is the cell number (walked once), or None (the cell number itself)."""
        spec = self.profile.cell_index
        if spec is None:
            return None
        if cell not in self._indexes:
            walked = await self._need_snmp("cell_index").walk_columns([spec.column])
            rows = next(iter(walked.values()), {})
            index = index_from_walk(rows, cell)
            if index is None:
                seen = ", ".join(sorted({str(v) for v in rows.values()})) or "none"
                raise CommandFailed(f"{self.name}: no row of {spec.column} holds cell {cell} "
                                    f"(values: {seen}): check cell_index in the profile")
            self._indexes[cell] = index
        return self._indexes[cell]

    async def set_cell(self, cell: int, params: Mapping[str, int | str]) -> None:
        """Apply cell parameters through the profile's CLI templates, one command each."""
        action = self.profile.actions.get("set_cell")
        if action is None or action.commands is None:
            raise ConfigError(f"profile {self.profile.name} has no set_cell action")
        commands: list[str] = []
        for param, value in params.items():
            template = action.commands.get(param)
            if template is None:
                raise ConfigError(f"profile {self.profile.name} cannot set {param!r} on a cell "
                                  f"(it can set: {', '.join(action.commands)})")
            spec = self.profile.cell_params.get(param)  # type: ignore[call-overload]
            if spec is not None:
                try:
                    value = spec.written(param, value)
                except ValueError as exc:
                    raise ConfigError(f"{self.name}: set_cell: {exc}") from None
            commands.append(template.replace("{cell}", shlex.quote(str(cell)))
                            .replace("{value}", shlex.quote(str(value))))
        await self._perform(action, commands)

    async def run_action(self, name: str, params: Mapping[str, object] | None = None
                         ) -> ActionResult:
        """Run a profile action with typed parameters; its output parsed when it has a parser."""
        action = self.profile.actions.get(name)
        if action is None or action.commands is not None:
            runnable = [n for n, a in self.profile.actions.items() if a.commands is None]
            raise ConfigError(f"profile {self.profile.name} has no action {name!r} (it has: "
                              f"{', '.join(runnable) or 'none'})")
        try:
            commands = action.render(params or {})
        except ConfigError as exc:
            raise ConfigError(f"{self.name}: action {name}: {exc}") from None
        output = await self._perform(action, commands)
        rows = action.parser.parse(output) if action.parser is not None else []
        return ActionResult(name, commands, output, rows)

    async def _perform(self, action: ActionSpec, commands: list[str]) -> str:
        """Send an action's commands where its mode says; each output judged by its patterns."""
        outputs: list[str] = []
        if action.mode == "config":
            session = await self.cli()
            async with session.config_mode():
                for command in commands:
                    outputs.append(await self._send(command, "cli", action.failure,
                                                    action.timeout, action.success))
        else:
            for command in commands:
                outputs.append(await self._send(command, action.mode, action.failure,
                                                action.timeout, action.success))
        return "\n".join(outputs)

    async def _send(self, command: str, mode: str, failure: list[str], timeout: float | None,
                    success: list[str] | None = None) -> str:
        if mode == "exec":
            if self.ssh is None:
                raise ConfigError(f"{self.name}: this action needs SSH, and the lab gives none")
            result = await self.ssh.run(command, timeout_s=timeout)
            output, status = result.stdout + result.stderr, result.exit_status
        else:
            session = await self.cli()
            output, status = await session.send(command, timeout_s=timeout, check=False), None
        judge(self.name, command, output, status, success or [], failure)
        return output

    async def cli(self) -> CliSession:
        """The device's interactive CLI session (opened on first use, reopened if it closed)."""
        if self.profile.cli is None:
            raise ConfigError(f"profile {self.profile.name} has no `cli:` section")
        if self.ssh is None:
            raise ConfigError(f"{self.name}: a CLI session needs SSH, and the lab gives none")
        async with self._cli_lock:
            if self._cli is None or self._cli.closed:
                self._cli = await self.ssh.open_cli(self.profile.cli.options())
            return self._cli

    async def active_alarms(self) -> list[AlarmEvent]:
        """The device's active alarms, walked from the table the profile's alarm_table names."""
        spec = self.profile.alarm_table
        if spec is None:
            raise ConfigError(f"profile {self.profile.name} has no alarm_table: the harness "
                              f"cannot read {self.name}'s active alarms")
        columns = [c for c in (spec.severity, spec.text, spec.source) if c is not None]
        table = await self._need_snmp("the alarm table").walk_columns(columns)
        return alarms_from_table(self.name, spec, table, time.time())

    async def firmware_version(self) -> str:
        """The running firmware version, as the device reports it in its facts."""
        return (await self.facts()).firmware

    async def upload_firmware(self, image: Path, *,
                              expected_sha256: str | None = None) -> UploadedImage:
        """SFTP the image into the device's storage root, verified by SHA-256 (read back)."""
        if self.ssh is None:
            raise ConfigError(f"{self.name}: a firmware upload needs SSH, and the lab gives none")
        remote = "/" + image.name
        sent = await self.ssh.put(image, remote, expected_sha256=expected_sha256)
        return UploadedImage(remote=sent.remote, size=sent.size, sha256=sent.sha256)

    async def install_firmware(self, remote: str) -> str:
        """Run the profile's install_firmware action on an uploaded image; the device's answer.

        CommandFailed carries the device's refusal. On success the device restarts, so the
        SSH connection and CLI session are dropped here; the next command opens new ones.
        """
        result = await self.run_action("install_firmware", {"file": remote})
        if self._cli is not None:
            await self._cli.close()
            self._cli = None
        if self.ssh is not None:
            await self.ssh.close()
        return result.output

    async def close(self) -> None:
        """Release the CLI session and both transports."""
        if self._cli is not None:
            await self._cli.close()
        if self.snmp is not None:
            await self.snmp.close()
        if self.ssh is not None:
            await self.ssh.close()
