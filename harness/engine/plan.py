"""Scenario → ordered trials: matrix expansion, per-kind validation, repetitions, stable ids,
checks against the lab, and criteria checked against the metrics each kind produces.

A trial's raw mapping has its `{placeholders}` filled from the matrix first, then it is
validated against its kind's model with the file's positions, so an error still reads
`scenario.yaml:LINE:COL: trials[2].direction: ...`.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from harness.base.errors import ConfigError
from harness.base.loader import PositionIndex, error_at, load_model, load_yaml, validate_model
from harness.base.units import Quantity
from harness.base.verdict import Verdict
from harness.config.lab import Lab
from harness.config.scenario import PresetRef, Scenario, id_matches, unknown_kind
from harness.engine.monitored import kpi_cell_problem, monitored_metrics, unsimulated_cells
from harness.judge.criteria import Criterion, ShareSpec, parse_criterion, series_key
from harness.judge.presets import PRESETS, TrialShape, expand_preset
from harness.kinds import MONITOR_METRIC_PREFIXES, KindRegistry, TrialKind, default_registry
from harness.kinds.base import PlanContext, TrialBase
from harness.kinds.planned import PlannedTrial

_PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_-]*)\}")

FieldPath = tuple[str | int, ...]
ErrorAt = Callable[[FieldPath, str], Exception]
M = TypeVar("M", bound=BaseModel)


class ScenarioSource(Protocol):
    """Where a scenario came from: places errors and validates parts of it with positions."""

    def error(self, field: FieldPath, message: str) -> ConfigError:
        """A ConfigError at `field` (a path from the document's root)."""
        ...

    def validate(self, data: object, model: type[M], at: FieldPath) -> M:
        """`data` (the node at `at`, possibly rewritten) validated as `model`."""
        ...


@dataclass(frozen=True)
class FileSource:
    """A scenario file and the positions of its nodes."""

    path: Path
    index: PositionIndex

    def error(self, field: FieldPath, message: str) -> ConfigError:
        """A ConfigError at `field`, with file, line and column."""
        return error_at(self.path, self.index, field, message)

    def validate(self, data: object, model: type[M], at: FieldPath) -> M:
        """Validate one part of the file; errors keep their lines and full field names."""
        return validate_model(data, self.index.sub(at), model, file=self.path,
                              context={"base_dir": self.path.absolute().parent}, at=at)


def _placeholders(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(_placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_placeholders(v) for v in value)) if value else set()
    return set()


def _fill(value: Any, binding: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return binding[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: str(binding[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: _fill(v, binding) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, binding) for v in value]
    return value


MAX_TRIALS = 10_000
"""Most trial runs (matrix combinations × repetitions) one scenario may plan."""


def check_matrix_size(scenario: Scenario, source: ScenarioSource) -> None:
    """Refuse, before expanding anything, a scenario that would plan more than MAX_TRIALS
    trial runs (a 10^7-combination matrix would otherwise be expanded in memory)."""
    total = 0
    for raw in scenario.trials:
        count = math.prod(len(scenario.matrix[d]) for d in _placeholders(raw)
                          if d in scenario.matrix)
        reps = raw.get("repetitions")
        total += count * (reps if isinstance(reps, int) and reps > 0
                          else scenario.defaults.repetitions)
    if total > MAX_TRIALS:
        raise source.error(("matrix",) if scenario.matrix else ("trials",),
                           f"the scenario would plan {total} trials (matrix combinations × "
                           f"repetitions); at most {MAX_TRIALS} are allowed: split it")


def plan(scenario: Scenario, lab: Lab, source: ScenarioSource,
         registry: KindRegistry | None = None) -> list[PlannedTrial]:
    """Expand the scenario into trials in run order; ConfigError (positioned) on any problem."""
    kinds = registry or default_registry()
    ctx = PlanContext(lab, functools.partial(plan_file, registry=kinds))
    check_matrix_size(scenario, source)
    trials: list[PlannedTrial] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(scenario.trials):
        where: FieldPath = ("trials", index)
        if str(raw["kind"]) not in kinds.names():
            raise source.error((*where, "kind"), unknown_kind(raw["kind"], kinds.names()))
        kind = kinds.get(str(raw["kind"]))
        if kind.unavailable is not None:
            raise source.error((*where, "kind"), f"trial kind {kind.name!r} is not available: "
                               f"{kind.unavailable}")
        used = _placeholders(raw)
        unknown = used - set(scenario.matrix)
        if unknown:
            name = sorted(unknown)[0]
            raise source.error((*where, _field_with(raw, name)),
                               f"placeholder {{{name}}} is not a matrix dimension "
                               f"(matrix: {', '.join(scenario.matrix) or 'none'})")
        if "kind" in used:
            raise source.error((*where, "kind"), "the kind cannot be a placeholder")
        dims = [d for d in scenario.matrix if d in used]
        for combo in itertools.product(*(scenario.matrix[d] for d in dims)):
            binding = dict(zip(dims, combo, strict=True))
            spec = source.validate(_fill(raw, binding), kind.spec, where)
            if spec.id in seen:
                raise source.error((*where, "id"), f"trial id '{spec.id}' is not unique "
                                   f"(trial {seen[spec.id] + 1} has it too): add a matrix "
                                   "placeholder to the id")
            seen[spec.id] = index
            trials.extend(_planned(scenario, ctx, kind, spec, binding, where, source))
    _check_regression(scenario, trials, source)
    return trials


def plan_file(path: Path, lab: Lab, registry: KindRegistry | None = None) -> list[PlannedTrial]:
    """A scenario file planned against `lab`; ConfigError (positioned) when it does not validate."""
    kinds = registry or default_registry()
    scenario = load_model(path, Scenario, context=scenario_context(kinds))
    _, index = load_yaml(path)
    return plan(scenario, lab, FileSource(path, index), kinds)


def scenario_context(kinds: KindRegistry) -> dict[str, object]:
    """What validating a scenario needs to know: the registry's kinds and the presets."""
    return {"kinds": kinds.names(), "presets": tuple(PRESETS)}


def _check_regression(scenario: Scenario, trials: list[PlannedTrial],
                      source: ScenarioSource) -> None:
    """`regression:` names metrics some trial produces, and trials that exist."""
    spec = scenario.regression
    for i, name in enumerate(spec.metrics):  # judged wherever produced
        if not any(_produces(name, t.metric_units) for t in trials):
            produced = {m: u for t in trials for m, u in t.metric_units.items()}
            raise source.error(("regression", "metrics", i),
                               _unknown_metric(name, "", produced))
    for key, rule in spec.trials.items():
        matched = [t for t in trials if id_matches(key, t.id)]
        if not matched:
            ids = sorted({t.id for t in trials})
            close = difflib.get_close_matches(key, ids, n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(close)}?" if close else \
                f"trials: {', '.join(ids[:12])}"
            raise source.error(("regression", "trials", key),
                               f"no trial '{key}' in the scenario ({hint})")
        for i, name in enumerate(rule.metrics):
            for trial in matched:
                if not _produces(name, trial.metric_units):
                    raise source.error(("regression", "trials", key, "metrics", i),
                                       _unknown_metric(name, trial.kind, trial.metric_units))


def _produces(name: str, units: Mapping[str, str]) -> bool:
    return name in units or name.startswith(MONITOR_METRIC_PREFIXES)


def _unknown_metric(name: str, kind: str, units: Mapping[str, str]) -> str:
    close = difflib.get_close_matches(name, list(units), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else \
        f"; it produces {', '.join(sorted(units)[:12])}{' …' if len(units) > 12 else ''}"
    trial = f"a {kind} trial does not produce it" if kind else \
        "no trial of the scenario produces it"
    return f"regression metric '{name}': {trial}{hint}"


def _planned(scenario: Scenario, ctx: PlanContext, kind: TrialKind, spec: TrialBase,
             binding: dict[str, Any], where: FieldPath,
             source: ScenarioSource) -> list[PlannedTrial]:
    lab = ctx.lab
    defaults = scenario.defaults
    _check_devices(spec, kind, ctx, where, source)
    repetitions = spec.repetitions or defaults.repetitions
    duration = spec.duration or defaults.duration
    omit = spec.omit if spec.omit is not None else defaults.omit
    timeout = spec.timeout or defaults.timeout or (duration + omit) * 2 + 30
    units = dict(kind.metrics(spec))
    criteria = _criteria(spec, kind, units, lab, where, source)
    skip = {"id", "kind", "criteria", "monitor", "monitor_cells", "setup"}
    params = {k: v for k, v in spec.model_dump(exclude=skip).items() if v is not None}
    params.update(duration_s=duration, omit_s=omit, via=spec.via, **binding)
    return [PlannedTrial(
        id=spec.id, repetition=rep, kind=kind.name, spec=spec, ue=spec.ue, dn=spec.dn,
        via=spec.via, cell=spec.cell, duration_s=duration, omit_s=omit, timeout_s=timeout,
        kpi_interval_s=defaults.kpi_interval, monitor=dict(spec.monitor), criteria=criteria,
        params=params, min_samples=spec.min_samples or defaults.min_samples,
        metric_units=units, monitor_cells=tuple(spec.monitor_cells or ()),
    ) for rep in range(1, repetitions + 1)]


def _check_devices(spec: TrialBase, kind: TrialKind, ctx: PlanContext, where: FieldPath,
                   source: ScenarioSource) -> None:
    lab = ctx.lab
    for role_field, role in (("ue", "ue-host"), ("dn", "dn-host"), ("via", "gnodeb")):
        name = getattr(spec, role_field)
        if name is None:
            if kind.needs_hosts and role_field != "via":
                raise source.error((*where, role_field), f"a {kind.name} trial needs "
                                   f"{role_field}: (a {role} of the lab)")
            continue
        device = lab.devices.get(name)
        if device is None:
            raise source.error((*where, role_field), f"no device '{name}' in the lab "
                               f"(devices: {', '.join(lab.devices)})")
        if device.role != role:
            raise source.error((*where, role_field),
                               f"device '{name}' is a {device.role}, not a {role}")
    for i, action in enumerate(spec.setup):
        device = lab.devices.get(action.device)
        if device is None or device.role != "gnodeb":
            raise source.error((*where, "setup", i, "device"),
                               f"{action.action} needs a gnodeb of the lab; '{action.device}' is "
                               f"{'not in the lab' if device is None else 'a ' + device.role}")
    for device_name, kpis in spec.monitor.items():
        if device_name not in lab.devices:
            raise source.error((*where, "monitor", device_name),
                               f"no device '{device_name}' in the lab")
        if not kpis:
            raise source.error((*where, "monitor", device_name), "list at least one KPI")
    if spec.monitor_cells and (why := unsimulated_cells(spec, lab)) is not None:
        raise source.error((*where, "monitor_cells"), why)
    if kind.check_lab is not None:
        for path, message in kind.check_lab(spec, ctx):
            raise source.error((*where, *path), message)


def _criteria(spec: TrialBase, kind: TrialKind, units: dict[str, str], lab: Lab,
              where: FieldPath, source: ScenarioSource) -> list[Criterion]:
    """User criteria as written, presets expanded for this trial; each checked against the
    metrics the kind produces, their units, and what peak() may refer to."""
    shape = TrialShape(kind=kind.name, direction=spec.shape_direction(), via=spec.via,
                       monitor=spec.monitor)
    criteria: list[Criterion] = []
    empty: list[str] = []  # presets that gave this trial nothing
    for i, item in enumerate(spec.criteria):
        at = (*where, "criteria", i)
        try:
            if isinstance(item, str):
                found = [parse_criterion(item)]
            else:
                found = expand_preset(item.preset, shape, item.params)
        except ConfigError as exc:
            raise source.error(at, exc.reason) from None
        for criterion in found:
            _check_criterion(criterion, spec, kind, units, lab, at, source)
        if not found and isinstance(item, PresetRef):
            empty.append(item.preset)
        criteria.extend(found)
    if not criteria and not kind.builtin_acceptance:
        raise source.error((*where, "criteria"), _unjudged(kind, spec, empty))
    return criteria


def _unjudged(kind: TrialKind, spec: TrialBase, empty: list[str]) -> str:
    """Why a trial with no criteria is refused: nothing would judge it, so it could only
    read PASS without evidence (DESIGN.md: nothing that went unjudged is PASS)."""
    direction = getattr(spec, "direction", None)
    what = f"{direction} {kind.name}" if isinstance(direction, str) else kind.name
    example = _EXAMPLES.get(kind.name, "a criterion on one of its metrics")
    if empty:
        presets = ", ".join(f"preset {name}" for name in empty)
        own = example.split(" or ")[-1]
        return (f"{presets} gives no criteria for a {what} trial, and nothing else judges it "
                f"(add a criterion of your own, e.g. {own})")
    return f"a {what} trial needs criteria: nothing else judges it (add e.g. {example})"


_EXAMPLES = {
    "throughput": '"- preset: qcvn-126-2021" or "throughput.mean >= 100 Mbit/s"',
    "latency": '"- preset: qcvn-126-2021" or "rtt.p95 <= 30 ms"',
    "soak": '"throughput.mean >= 100 Mbit/s"',
}


def _check_criterion(criterion: Criterion, spec: TrialBase, kind: TrialKind,
                     units: dict[str, str], lab: Lab, at: FieldPath,
                     source: ScenarioSource) -> None:
    shown = f"'{criterion.expr}'" + (f" (from {criterion.source})" if criterion.source else "")
    monitored = monitored_metrics(spec, lab)
    for name in sorted(criterion.metric_names):
        if name in units or name in monitored or name.startswith(MONITOR_METRIC_PREFIXES):
            continue
        if (why := kpi_cell_problem(name, spec, lab)) is not None:
            raise source.error(at, f"{shown} reads metric '{name}': {why}")
        close = difflib.get_close_matches(name, list(units), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else \
            f"; it produces {', '.join(sorted(units)[:12])}{' …' if len(units) > 12 else ''}"
        raise source.error(at, f"{shown} reads metric '{name}', which a {kind.name} trial "
                           f"does not produce{hint}")
    recorded = sorted(kind.series(spec))
    for name in sorted(criterion.series_names):
        if name in recorded:
            continue
        close = difflib.get_close_matches(name, recorded, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else (
            f"; it records {', '.join(recorded)}" if recorded else
            "; it records no per-sample series")
        raise source.error(at, f"{shown}: share() counts the samples of series '{name}', "
                           f"which a {kind.name} trial does not record{hint}")
    for device in sorted(criterion.device_refs):
        dev = lab.devices.get(device)
        if dev is None or dev.role != "gnodeb":
            raise source.error(at, f"{shown}: peak({device}) needs a gNodeB of the lab")
        if not kind.peak_metrics or spec.via is None:
            raise source.error(at, f"{shown}: peak() needs traffic through a gNodeB "
                               f"(a {kind.name} trial with via:)")
    probe = criterion.evaluate(_UnitProbe(units))
    if probe.verdict is Verdict.ERROR and "has no metric" not in probe.detail:
        raise source.error(at, f"{shown}: {probe.detail}")
    if probe.threshold is not None and not math.isfinite(probe.threshold.value):
        raise source.error(at, f"{shown}: the threshold is not a finite number in "
                           f"{probe.threshold.unit} (too large): give a smaller one")


@dataclass(frozen=True)
class _UnitProbe:
    """A criterion context with 1.0 of each metric's unit (and one such sample per series):
    evaluating a criterion on it finds unit mismatches before anything is measured."""

    units: Mapping[str, str]

    def metric(self, name: str) -> Quantity:
        return Quantity(1.0, self.units[name])

    def interval(self, name: str) -> tuple[float, float] | None:
        return None

    def peak(self, device: str, direction: str | None) -> Quantity:
        return Quantity(1.0, "Mbit/s")

    def share(self, spec: ShareSpec) -> tuple[int, int]:
        return spec.count([1.0], self.units[series_key(spec.series)])


def _field_with(raw: dict[str, Any], name: str) -> str:
    for key, value in raw.items():
        if name in _placeholders(value):
            return str(key)
    return "id"

