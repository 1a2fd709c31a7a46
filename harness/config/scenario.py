"""The scenario file: what to measure, under which conditions, judged by which criteria.

Trials stay raw mappings here, checked only for a known `kind`: their fields may hold matrix
placeholders (`direction: "{direction}"`), so each trial is validated against its kind's model
(`harness.kinds`) after the matrix is expanded, in `harness.engine.plan`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.base.schema import (
    Duration,
    FieldError,
    Identifier,
    NonEmptyStr,
    StrictModel,
    WholeSeconds,
    at_least,
)
from harness.config.monitors import MonitorSettings

Scalar = str | int | float | bool


class Title(StrictModel):
    """A title in both report languages."""

    vi: NonEmptyStr
    en: NonEmptyStr


MIN_KPI_INTERVAL_S = 0.1
"""Shortest KPI polling interval: one SNMP round trip per device must fit in it."""
MIN_TIMEOUT_S = 1.0
"""Shortest trial timeout."""

TrialDuration = Annotated[WholeSeconds, AfterValidator(at_least(1.0, "an iperf3 or irtt run"))]
"""A trial's measuring time: whole seconds, at least 1 (iperf3's -t)."""
TrialTimeout = Annotated[Duration, AfterValidator(at_least(MIN_TIMEOUT_S, "a trial timeout"))]
KpiInterval = Annotated[Duration, AfterValidator(at_least(MIN_KPI_INTERVAL_S,
                                                          "a KPI poll over SNMP"))]


class TrialDefaults(StrictModel):
    """Values every trial takes unless it sets its own."""

    duration: TrialDuration = 10.0
    omit: WholeSeconds = 0.0
    repetitions: Annotated[int, Field(ge=1, le=1000)] = 1
    kpi_interval: KpiInterval = 1.0
    timeout: TrialTimeout | None = None
    # fewest samples an estimate's criterion accepts: 5 batches × 2 (harness/judge/estimates.py)
    min_samples: Annotated[int, Field(ge=1)] | None = 10


def _fraction(value: object) -> object:
    """`5 %` / `5%` → 0.05; a bare number is a fraction (0.05)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text[:-1].strip()) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"expected a percentage like '5 %' or a fraction like 0.05, "
                             f"got {value!r}") from None
    return value


class RegressionRule(StrictModel):
    """Metrics judged against a baseline beyond those the criteria read, and the threshold."""

    metrics: list[NonEmptyStr] = []
    threshold: Annotated[float, BeforeValidator(_fraction), Field(ge=0, lt=10)] | None = None


class RegressionSpec(RegressionRule):
    """`regression:` — what a comparison with a baseline judges besides the criteria's metrics.

    `metrics` are judged in every trial that produces them; `threshold` is the relative change
    that may count as a regression (never below the metric's noise floor; default
    `--threshold`, 5 %). `trials: {ID: {metrics, threshold}}` adds metrics and sets the
    threshold for one trial (ID as written in the scenario, `{placeholders}` included, or one
    expanded id); a trial's threshold wins, metrics add up."""

    trials: dict[NonEmptyStr, RegressionRule] = {}

    def rules_for(self, trial_id: str) -> list[RegressionRule]:
        """The `trials:` entries that apply to a trial (its id, or the id it expands from)."""
        return [rule for key, rule in self.trials.items() if id_matches(key, trial_id)]


def id_matches(key: str, trial_id: str) -> bool:
    """Whether a trial id as written (`tcp-{direction}`) or expanded names `trial_id`."""
    if key == trial_id:
        return True
    if "{" not in key:
        return False
    parts = re.split(r"\{[A-Za-z][A-Za-z0-9_-]*\}", key)
    return re.fullmatch(".+?".join(re.escape(p) for p in parts), trial_id) is not None


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
    """A named set of criteria with cited sources (see harness/judge/presets.py)."""

    preset: NonEmptyStr
    params: dict[NonEmptyStr, float] = {}

    @field_validator("preset")
    @classmethod
    def _known(cls, name: str, info: ValidationInfo) -> str:
        presets = (info.context or {}).get("presets")  # the engine passes the known ones
        if presets is not None and name not in presets:
            raise ValueError(f"unknown preset {name!r} (presets: {', '.join(presets)})")
        return name


def unknown_kind(kind: object, names: Sequence[str]) -> str:
    """The message for a trial kind that no registered kind has."""
    return f"unknown trial kind {kind!r} (kinds: {', '.join(names)})"


class Scenario(StrictModel):
    """A scenario file: metadata copied into reports, defaults, matrix, setup and trials."""

    name: Identifier
    title: Title
    description: str = ""
    purpose: str = ""
    operator: str = ""
    site: str = ""
    references: list[NonEmptyStr] = []
    defaults: TrialDefaults = TrialDefaults()
    matrix: dict[Identifier, list[Scalar]] = {}
    parallel: bool = False  # trials on disjoint devices may run at the same time
    max_parallel: Annotated[int, Field(ge=1, le=32)] = 2  # with parallel: at most this many
    monitors: MonitorSettings = MonitorSettings()  # alarms, health, cross-check per trial
    regression: RegressionSpec = RegressionSpec()  # judged against a baseline, beyond criteria
    setup: list[DeviceAction] = []
    teardown: list[DeviceAction] = []
    trials: list[dict[str, Any]]

    @field_validator("trials")
    @classmethod
    def _known_kinds(cls, trials: list[dict[str, Any]],
                     info: ValidationInfo) -> list[dict[str, Any]]:
        # the engine passes the run's kind registry's names (`scenario_context`); the planner
        # checks again with the same registry, so a scenario validated without them still is
        names = (info.context or {}).get("kinds")
        for i, raw in enumerate(trials):
            kind = raw.get("kind")
            if kind is None:
                hint = f" ({', '.join(names)})" if names is not None else ""
                raise FieldError(f"field required: give the trial a kind{hint}", at=(i, "kind"))
            if names is not None and kind not in names:
                raise FieldError(unknown_kind(kind, names), at=(i, "kind"))
        return trials

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if not self.trials:
            raise FieldError("the scenario has no trials", at=("trials",))
        for key, values in self.matrix.items():
            if not values:
                raise FieldError("a matrix dimension needs at least one value", at=("matrix", key))
        return self
