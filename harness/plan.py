"""Scenario → ordered trials: matrix expansion, repetitions, stable ids, checks against the lab."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.config.lab import Lab
from harness.config.scenario import Scenario, TrialSpec
from harness.criteria import Criterion, parse_criterion
from harness.presets import TrialShape, expand_preset

_PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_-]*)\}")

FieldPath = tuple[str | int, ...]
ErrorAt = Callable[[FieldPath, str], Exception]


@dataclass(frozen=True)
class PlannedTrial:
    """One concrete trial to run: every placeholder filled, every default applied."""

    id: str
    repetition: int
    kind: str
    ue: str
    dn: str
    via: str | None
    direction: str
    protocol: str
    streams: int
    duration_s: float
    omit_s: float
    timeout_s: float
    cell: int
    kpi_interval_s: float
    monitor: dict[str, list[str]]
    criteria: list[Criterion]
    params: dict[str, Any]


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


def plan(scenario: Scenario, lab: Lab, error_at: ErrorAt) -> list[PlannedTrial]:
    """Expand the scenario into trials in run order; raise `error_at(...)` on any bad reference."""
    trials: list[PlannedTrial] = []
    seen: dict[str, int] = {}
    defaults = scenario.defaults
    for index, spec in enumerate(scenario.trials):
        where: FieldPath = ("trials", index)
        raw = spec.model_dump()
        used = _placeholders(raw)
        unknown = used - set(scenario.matrix)
        if unknown:
            name = sorted(unknown)[0]
            raise error_at((*where, _field_with(raw, name)),
                           f"placeholder {{{name}}} is not a matrix dimension "
                           f"(matrix: {', '.join(scenario.matrix) or 'none'})")
        dims = [d for d in scenario.matrix if d in used]
        for combo in itertools.product(*(scenario.matrix[d] for d in dims)):
            binding = dict(zip(dims, combo, strict=True))
            filled = _fill(raw, binding)
            trial_id = str(filled["id"])
            if trial_id in seen:
                raise error_at((*where, "id"), f"trial id '{trial_id}' is not unique "
                               f"(trial {seen[trial_id] + 1} has it too): add a matrix "
                               "placeholder to the id")
            seen[trial_id] = index
            concrete = _concrete(filled, spec, lab, where, error_at)
            repetitions = spec.repetitions or defaults.repetitions
            duration = spec.duration or defaults.duration
            omit = spec.omit if spec.omit is not None else defaults.omit
            timeout = spec.timeout or defaults.timeout or (duration + omit) * 2 + 30
            criteria = _criteria(filled["criteria"], spec.kind, concrete["direction"], spec.via)
            for rep in range(1, repetitions + 1):
                trials.append(PlannedTrial(
                    id=trial_id, repetition=rep, kind=spec.kind, ue=spec.ue, dn=spec.dn,
                    via=spec.via, direction=concrete["direction"],
                    protocol=concrete["protocol"], streams=concrete["streams"],
                    duration_s=duration, omit_s=omit, timeout_s=timeout, cell=spec.cell,
                    kpi_interval_s=defaults.kpi_interval, monitor=dict(spec.monitor),
                    criteria=criteria,
                    params={"direction": concrete["direction"], "protocol": concrete["protocol"],
                            "streams": concrete["streams"], "duration_s": duration,
                            "omit_s": omit, "via": spec.via, **binding},
                ))
    return trials


def _criteria(items: list[Any], kind: str, direction: str, via: str | None) -> list[Criterion]:
    """User criteria as written, presets expanded for this trial's kind and direction."""
    shape = TrialShape(kind=kind, direction=direction, via=via)
    criteria: list[Criterion] = []
    for item in items:
        if isinstance(item, dict):
            criteria.extend(expand_preset(item["preset"], shape, item.get("params")))
        else:
            criteria.append(parse_criterion(str(item)))
    return criteria


def _field_with(raw: dict[str, Any], name: str) -> str:
    for key, value in raw.items():
        if name in _placeholders(value):
            return key
    return "id"


def _concrete(filled: dict[str, Any], spec: TrialSpec, lab: Lab, where: FieldPath,
              error_at: ErrorAt) -> dict[str, Any]:
    direction = str(filled["direction"]).lower()
    if direction not in ("dl", "ul"):
        raise error_at((*where, "direction"), f"direction must be dl or ul, got '{direction}'")
    protocol = str(filled["protocol"]).lower()
    if protocol != "tcp":
        raise error_at((*where, "protocol"),
                       f"protocol must be tcp for now (UDP comes with the trial engine), "
                       f"got '{protocol}'")
    try:
        streams = int(filled["streams"])
    except (TypeError, ValueError):
        raise error_at((*where, "streams"),
                       f"streams must be a whole number, got '{filled['streams']}'") from None
    if not 1 <= streams <= 128:
        raise error_at((*where, "streams"), f"streams must be 1..128, got {streams}")
    for role_field, role in (("ue", "ue-host"), ("dn", "dn-host"), ("via", "gnodeb")):
        name = getattr(spec, role_field)
        if name is None:
            continue
        device = lab.devices.get(name)
        if device is None:
            raise error_at((*where, role_field), f"no device '{name}' in the lab "
                           f"(devices: {', '.join(lab.devices)})")
        if device.role != role:
            raise error_at((*where, role_field),
                           f"device '{name}' is a {device.role}, not a {role}")
    for device_name, kpis in spec.monitor.items():
        if device_name not in lab.devices:
            raise error_at((*where, "monitor", device_name),
                           f"no device '{device_name}' in the lab")
        if not kpis:
            raise error_at((*where, "monitor", device_name), "list at least one KPI")
    return {"direction": direction, "protocol": protocol, "streams": streams}
