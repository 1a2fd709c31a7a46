"""Vendor profiles: the data that maps harness names to a device's OIDs and CLI commands."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.config.loader import load_model
from harness.config.types import FieldError, NonEmptyStr, StrictModel
from harness.errors import ConfigError

_OID = r"^\d+(\.\d+)+$"
_OID_TEMPLATE = r"^\d+(\.\d+)*(\.\{cell\})?$"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


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


class CellParam(StrictModel):
    """A cell parameter readable over SNMP (used for snapshots and peak-rate arithmetic)."""

    oid: Annotated[str, Field(pattern=_OID_TEMPLATE)]
    type: Literal["int", "str"] = "int"


class CommandAction(StrictModel):
    """A CLI action: one command template per parameter, and patterns that mean failure."""

    commands: dict[NonEmptyStr, NonEmptyStr]
    failure: list[NonEmptyStr] = []

    @model_validator(mode="after")
    def _placeholders(self) -> CommandAction:
        for param, template in self.commands.items():
            for name in _PLACEHOLDER.findall(template):
                if name not in ("cell", "value"):
                    raise FieldError(
                        f"unknown placeholder {{{name}}} (allowed: {{cell}}, {{value}})",
                        at=("commands", param),
                    )
        for i, pattern in enumerate(self.failure):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise FieldError(f"not a valid regular expression: {exc}",
                                 at=("failure", i)) from None
        return self


class Profile(StrictModel):
    """A vendor profile file (drivers/profiles/NAME.yaml)."""

    name: NonEmptyStr
    description: str = ""
    role: Literal["gnodeb", "core"]
    facts: dict[Literal["vendor", "model", "serial", "firmware", "description", "uptime"], OidFact]
    kpis: dict[NonEmptyStr, KpiSpec] = {}
    cell_params: dict[
        Literal["bandwidth_mhz", "scs_khz", "tdd", "special", "layers_dl", "layers_ul",
                "modulation_dl", "modulation_ul", "admin"],
        CellParam,
    ] = {}
    cells_oid: Annotated[str, Field(pattern=_OID)] | None = None
    actions: dict[Literal["set_cell"], CommandAction] = {}


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


def load_profile(name: str, search: list[Path] | None = None) -> Profile:
    """Load and validate a vendor profile."""
    return load_model(profile_path(name, search), Profile)
