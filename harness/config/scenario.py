"""The scenario file: what to measure, under which conditions, judged by which criteria."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from harness.config.types import Duration, FieldError, Identifier, NonEmptyStr, StrictModel

Scalar = str | int | float | bool


class Title(StrictModel):
    """A title in both report languages."""

    vi: NonEmptyStr
    en: NonEmptyStr


class TrialDefaults(StrictModel):
    """Values every trial takes unless it sets its own."""

    duration: Duration = 10.0
    omit: Duration = 0.0
    repetitions: Annotated[int, Field(ge=1, le=1000)] = 1
    kpi_interval: Duration = 1.0
    timeout: Duration | None = None

    @field_validator("duration", "kpi_interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0 s")
        return value


class DeviceAction(StrictModel):
    """A setup or teardown step on one device, through its profile."""

    device: Identifier
    action: Literal["set_cell"]
    cell: Annotated[int, Field(ge=1)] = 1
    params: dict[NonEmptyStr, int | str]

    @model_validator(mode="after")
    def _has_params(self) -> DeviceAction:
        if not self.params:
            raise FieldError("give at least one parameter to set", at=("params",))
        return self


class PresetRef(StrictModel):
    """A named set of criteria with cited sources (see harness/presets.py)."""

    preset: NonEmptyStr
    params: dict[NonEmptyStr, float] = {}

    @field_validator("preset")
    @classmethod
    def _known(cls, name: str) -> str:
        from harness.presets import PRESETS

        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r} (presets: {', '.join(PRESETS)})")
        return name


class TrialSpec(StrictModel):
    """A trial template; `{name}` placeholders are filled from the matrix."""

    id: NonEmptyStr
    kind: Literal["throughput"]
    ue: Identifier
    dn: Identifier
    via: Identifier | None = None
    direction: NonEmptyStr = "dl"
    protocol: NonEmptyStr = "tcp"
    streams: int | NonEmptyStr = 1
    duration: Duration | None = None
    omit: Duration | None = None
    repetitions: Annotated[int, Field(ge=1, le=1000)] | None = None
    timeout: Duration | None = None
    cell: Annotated[int, Field(ge=1)] = 1
    monitor: dict[Identifier, list[NonEmptyStr]] = {}
    criteria: list[NonEmptyStr | PresetRef] = []

    @field_validator("criteria")
    @classmethod
    def _parse_criteria(cls, exprs: list[str | PresetRef]) -> list[str | PresetRef]:
        from harness.criteria import CriterionSyntaxError, parse_criterion

        for i, expr in enumerate(exprs):
            if isinstance(expr, PresetRef):
                continue
            try:
                parse_criterion(expr)
            except CriterionSyntaxError as exc:
                col = f" (column {exc.column})" if getattr(exc, "column", None) else ""
                raise FieldError(f"{exc.reason}{col}", at=(i,)) from None
        return exprs


class Scenario(StrictModel):
    """A scenario file."""

    name: Identifier
    title: Title
    description: str = ""
    references: list[NonEmptyStr] = []
    defaults: TrialDefaults = TrialDefaults()
    matrix: dict[Identifier, list[Scalar]] = {}
    setup: list[DeviceAction] = []
    teardown: list[DeviceAction] = []
    trials: list[TrialSpec]

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if not self.trials:
            raise FieldError("the scenario has no trials", at=("trials",))
        for key, values in self.matrix.items():
            if not values:
                raise FieldError("a matrix dimension needs at least one value", at=("matrix", key))
        return self


def trial_fields(spec: TrialSpec) -> dict[str, Any]:
    """A trial spec as a plain mapping (for placeholder expansion)."""
    return spec.model_dump()
