"""What every trial kind shares: the common spec fields, and what a kind's measurement gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import BeforeValidator, Field, field_validator

from harness.base.errors import HarnessError
from harness.base.sample import Sample
from harness.base.schema import (
    FieldError,
    Identifier,
    NonEmptyStr,
    StrictModel,
    TrialId,
    WholeSeconds,
)
from harness.base.units import Quantity, UnitError, convert, dimension
from harness.base.window import MeasuredWindow
from harness.config.lab import Lab
from harness.config.scenario import DeviceAction, PresetRef, TrialDuration, TrialTimeout
from harness.judge.criteria import CriterionResult

if TYPE_CHECKING:
    from harness.kinds.bench_view import KindBench
    from harness.kinds.planned import PlannedTrial


def _quantity(value: object, unit: str, what: str, example: str) -> float:
    """A bare number (in `unit`) or text like '500 Mbit/s' → value in `unit`."""
    if isinstance(value, bool):
        raise ValueError(f"expected {what} like {example!r}, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        split = len(text) - len(text.lstrip("0123456789.eE+-"))
        try:
            number = float(text[:split])
            given = text[split:].strip() or unit
            want = dimension(unit)
            if dimension(given) != want:
                raise ValueError(f"expected {what} like {example!r}, got {value!r}")
            number = convert(Quantity(number, given), unit).value
        except (ValueError, UnitError):
            raise ValueError(f"expected {what} like {example!r}, got {value!r}") from None
    else:
        raise ValueError(f"expected {what} like {example!r}, got {value!r}")
    if not number > 0:
        raise ValueError(f"expected a positive {what}, got {value!r}")
    return number


Bitrate = Annotated[float, BeforeValidator(
    lambda v: _quantity(v, "bit/s", "a bit rate", "500 Mbit/s"))]
"""A bit rate in bit/s, written `500 Mbit/s`, `1.2 Gbps` or a bare number of bit/s."""

ByteSize = Annotated[int, BeforeValidator(
    lambda v: round(_quantity(v, "B", "a size", "4 MiB")))]
"""A size in bytes, written `4 MiB`, `256 kB` or a bare number of bytes."""


class TrialBase(StrictModel):
    """Fields every trial has; a kind's model adds its own (see harness/kinds/)."""

    id: TrialId
    kind: NonEmptyStr
    ue: Identifier | None = None
    dn: Identifier | None = None
    via: Identifier | None = None
    cell: Annotated[int, Field(ge=1)] = 1
    duration: TrialDuration | None = None
    omit: WholeSeconds | None = None
    repetitions: Annotated[int, Field(ge=1, le=1000)] | None = None
    timeout: TrialTimeout | None = None
    min_samples: Annotated[int, Field(ge=1)] | None = None
    monitor: dict[Identifier, list[NonEmptyStr]] = {}
    # the gNodeB cells whose KPIs `monitor:` polls (default: `cell`); with several, a criterion
    # names the cell: gnb1.DRB.UEThpDl.cell2.mean (docs/writing-a-profile.md, KPIs)
    monitor_cells: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)] | None = None
    criteria: list[NonEmptyStr | PresetRef] = []
    setup: list[DeviceAction] = []  # applied before each repetition; the run's snapshot restores

    @field_validator("criteria")
    @classmethod
    def _parse_criteria(cls, exprs: list[str | PresetRef]) -> list[str | PresetRef]:
        from harness.judge.criteria import CriterionSyntaxError, parse_criterion

        for i, expr in enumerate(exprs):
            if isinstance(expr, PresetRef):
                continue
            try:
                parse_criterion(expr)
            except CriterionSyntaxError as exc:
                col = f" (column {exc.column})" if getattr(exc, "column", None) else ""
                raise FieldError(f"{exc.reason}{col}", at=(i,)) from None
        return exprs

    def shape_direction(self) -> str | None:
        """The direction presets see ("dl", "ul"), or None for kinds without one."""
        value = getattr(self, "direction", None)
        return value if isinstance(value, str) else None

    def devices(self) -> set[str]:
        """Every lab device this trial uses (for parallel scheduling and checks)."""
        names = {n for n in (self.ue, self.dn, self.via) if n is not None}
        return names | set(self.monitor) | {a.device for a in self.setup}


class ScenarioPlanner(Protocol):
    """Plans a scenario file against a lab: the engine's planner, handed to the kinds that run
    a scenario of their own (a firmware upgrade's regression); ConfigError when it does not
    validate."""

    def __call__(self, path: Path, lab: Lab) -> list[PlannedTrial]: ...


class SubTrialRunner(Protocol):
    """Runs one planned trial on the same bench, tagged with `tags` (the engine's TrialRun);
    returns its summary entry."""

    async def __call__(self, trial: PlannedTrial, tags: dict[str, str]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PlanContext:
    """What a kind's lab check gets: the lab and the engine's planner."""

    lab: Lab
    plan_file: ScenarioPlanner


@dataclass
class KindRun:
    """What a kind's measurement gets and fills: the trial, the bench, and places for results.

    `metrics` are the trial's figures; `series[name]` the per-sample values behind a mean (for a
    batch-means confidence interval within one repetition); `proportions[name]` (events, n) of a
    percentage (Wilson interval); `counts[prefix]` the N behind every metric under `prefix`.
    `acceptance` holds the pass/fail judgements the kind has built in (Y.1564 service acceptance,
    RFC 2544 confirmation, firmware come-back, sharing isolation), each as a CriterionResult
    with its source: the trial's verdict is the worst of these and of its criteria.
    A kind raises HarnessError when it cannot measure: the trial is ERROR, what it stored stays.
    """

    trial: PlannedTrial
    bench: KindBench
    tags: dict[str, str]
    raw_dir: Path
    emit: Callable[[list[Sample]], None]
    metrics: dict[str, Quantity] = field(default_factory=dict)
    series: dict[str, list[float]] = field(default_factory=dict)
    proportions: dict[str, tuple[int, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    acceptance: list[CriterionResult] = field(default_factory=list)
    exact: set[str] = field(default_factory=set)  # exact metrics (names/prefixes): estimates.py
    # prefix ("" or "dl."/"ul.") → the part of the traffic the figures under it cover
    windows: dict[str, MeasuredWindow] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific summary entries
    plan_file: ScenarioPlanner | None = None  # the engine's planner, for a kind's own scenario
    run_trial: SubTrialRunner | None = None  # runs one of those trials on this bench

    @property
    def spec(self) -> TrialBase:
        """The trial's validated, placeholder-free spec."""
        return self.trial.spec

    def raw_path(self, suffix: str) -> Path:
        """Where a raw tool output of this trial and repetition is kept as evidence; refuses
        (HarnessError) any name that would land outside `raw_dir` (the trial id is checked at
        validate already: this is the second line of defence)."""
        name = f"{self.trial.id}-r{self.trial.repetition}.{suffix}"
        path = self.raw_dir / name
        if any(c in name for c in "/\\\0") or ".." in name or \
                path.resolve().parent != self.raw_dir.resolve():
            raise HarnessError(f"raw file {name!r} would be written outside {self.raw_dir}")
        return path

    def count_of(self, name: str) -> int | None:
        """N behind a metric: its series length, else the longest matching prefix's count."""
        if name in self.series:
            return len(self.series[name])
        best = max((p for p in self.counts if name.startswith(p)), key=len, default=None)
        return self.counts[best] if best is not None else None
