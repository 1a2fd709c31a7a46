"""Vendor profiles: the data that maps harness names to a device's OIDs and CLI commands."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from drivers.actions import ActionSpec, CliSpec, CommandFact
from drivers.alarms import AlarmSpec, AlarmTableSpec
from drivers.mibs import MIB_NAME, OID_OR_NAME, OID_TEMPLATE, MibResolver
from drivers.profile_pm import PmFilesSpec
from drivers.profile_values import CELL_PARAM_NAMES, CellIndex, CellParam
from harness.base.errors import ConfigError
from harness.base.loader import error_at, load_model, load_yaml
from harness.base.schema import Duration, FieldError, NonEmptyStr, StrictModel

# OIDs are numeric or MIB names (`VENDOR-PM-MIB::dlThroughput`), resolved at load time; a
# template ends in `.{cell}` or `.{index}` (a table column: the row index is filled in).
_OID = OID_OR_NAME
_OID_TEMPLATE = OID_TEMPLATE
_ACTION_NAME = r"^[a-z][a-z0-9_]*$"


class OidFact(StrictModel):
    """A fact read with one SNMP GET."""

    oid: Annotated[str, Field(pattern=_OID)]


class KpiSpec(StrictModel):
    """One KPI: where it lives, what kind of number it is, and its unit after scaling."""

    oid: Annotated[str, Field(pattern=_OID_TEMPLATE)]
    type: Literal["gauge", "counter32", "counter64"]
    unit: str = ""
    scale: float = 1.0
    description: str = ""
    # gauges: how far back one reading may reach (averaging period plus the device's update
    # lag), so that a trial's KPI figures leave out readings that still hold earlier traffic
    period: Duration | None = None


CommandAction = ActionSpec  # the name set_cell's model had before actions became general
FactName = Literal["vendor", "model", "serial", "firmware", "description", "uptime"]


class Profile(StrictModel):
    """A vendor profile file (drivers/profiles/NAME.yaml)."""

    name: NonEmptyStr
    description: str = ""
    role: Literal["gnodeb", "core", "any"]  # any: standard-MIB profiles (generic-snmp)
    facts: dict[FactName, OidFact]
    command_facts: dict[FactName, CommandFact] = {}  # facts read from a command's output
    kpis: dict[NonEmptyStr, KpiSpec] = {}
    cell_params: dict[CELL_PARAM_NAMES, CellParam] = {}  # what peak() and snapshots read
    cells_oid: Annotated[str, Field(pattern=_OID)] | None = None
    cell_index: CellIndex | None = None  # {index} from a table walk (else: the cell number)
    actions: dict[Annotated[str, Field(pattern=_ACTION_NAME)], ActionSpec] = {}
    cli: CliSpec | None = None
    alarms: AlarmSpec | None = None  # what the device's traps mean
    alarm_table: AlarmTableSpec | None = None  # its active-alarm table, if it keeps one
    pm_files: PmFilesSpec | None = None  # KPIs from 3GPP PM files over SFTP (profile_pm.py)

    def kpi_names(self) -> list[str]:
        """Every KPI the profile defines: over SNMP (`kpis:`), then from PM files."""
        pm = list(self.pm_files.kpis) if self.pm_files is not None else []
        return [*self.kpis, *pm]

    @model_validator(mode="after")
    def _pm_kpis_apart(self) -> Profile:
        for name in self.pm_files.kpis if self.pm_files is not None else {}:
            if name in self.kpis:
                raise FieldError(f"KPI {name} is also read over SNMP under kpis: keep one",
                                 at=("pm_files", "kpis", name))
        return self

    @model_validator(mode="after")
    def _action_shapes(self) -> Profile:
        for name, action in self.actions.items():
            if name == "set_cell" and action.commands is None:
                raise FieldError("set_cell gives `commands`: one template per cell parameter",
                                 at=("actions", name, "commands"))
            if name != "set_cell" and action.commands is not None:
                raise FieldError("only set_cell takes `commands`; give `command`",
                                 at=("actions", name, "commands"))
            if action.mode != "exec" and self.cli is None:
                raise FieldError(f"mode {action.mode} needs the profile's `cli:` section",
                                 at=("actions", name, "mode"))
        for name, fact in self.command_facts.items():
            if name in self.facts:
                raise FieldError(f"fact {name} is also read by OID under facts: keep one",
                                 at=("command_facts", name))
            if fact.mode == "cli" and self.cli is None:
                raise FieldError("mode cli needs the profile's `cli:` section",
                                 at=("command_facts", name, "mode"))
        return self


def profile_path(name: str, search: list[Path] | None = None) -> Path:
    """Find a profile by name in the lab's folders, then among the shipped profiles."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"profile name {name!r} may hold only letters, digits, '.', '_' and '-'")
    for folder in search or []:
        candidate = folder / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    shipped = resources.files("drivers") / "profiles" / f"{name}.yaml"
    if shipped.is_file():
        return Path(str(shipped))
    available = sorted(p.name.removesuffix(".yaml")
                       for p in (resources.files("drivers") / "profiles").iterdir()
                       if p.name.endswith(".yaml"))
    raise ConfigError(f"no vendor profile named {name!r} (shipped: {', '.join(available)})")


def load_profile(name: str, search: list[Path] | None = None, *,
                 mibs: MibResolver | None = None) -> Profile:
    """Load and validate a vendor profile; MIB names in it become numeric OIDs here.

    Names resolve with `mibs` (the lab's MIB folder), else with a `mibs/` folder beside the
    profile file.
    """
    path = profile_path(name, search)
    profile = load_model(path, Profile)
    data = profile.model_dump()
    if not _has_names(data):
        return profile
    resolver = mibs or MibResolver([path.parent / "mibs"])
    try:
        return Profile.model_validate(_resolved(data, resolver, ()),
                                      context={"base_dir": path.absolute().parent})
    except _NameError as exc:  # a MIB name no MIB defines: at its line in the profile
        _, index = load_yaml(path)
        raise error_at(path, index, exc.at, exc.reason, at_key=exc.key) from None
    except ConfigError as exc:
        raise ConfigError(exc.reason, file=str(path)) from None


class _NameError(ConfigError):
    """A MIB name that does not resolve, with where it stands in the profile."""

    def __init__(self, reason: str, at: tuple[str | int, ...], key: bool) -> None:
        super().__init__(reason)
        self.at, self.key = at, key


def _has_names(data: object) -> bool:
    if isinstance(data, dict):
        return any(_has_names(k) or _has_names(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_has_names(v) for v in data)
    return isinstance(data, str) and MIB_NAME.match(data) is not None


def _resolved(data: object, resolver: MibResolver, at: tuple[str | int, ...]) -> object:
    """`data` with every MIB name (values and keys) replaced by its numeric OID."""
    if isinstance(data, dict):
        return {_resolved_one(k, resolver, (*at, k), True) if isinstance(k, str) else k:
                _resolved(v, resolver, (*at, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [_resolved(v, resolver, (*at, i)) for i, v in enumerate(data)]
    if isinstance(data, str):
        return _resolved_one(data, resolver, at, False)
    return data


def _resolved_one(text: str, resolver: MibResolver, at: tuple[str | int, ...],
                  key: bool) -> str:
    if MIB_NAME.match(text) is None:
        return text
    try:
        return resolver.resolve(text)
    except ConfigError as exc:
        raise _NameError(f"{text}: {exc.reason}", at, key) from None
