"""Noise floors: how much a metric moves between identical runs, so that a comparison never
calls that movement a regression.

A floor is per metric *family* (its unit's dimension, plus its name for loss and for tail or
spread statistics): a relative part (of the baseline mean) and an absolute part in the metric's
unit; the floor is the larger of the two. The values come from repeated identical runs of
`scenarios/smoke.yaml` and `scenarios/quick/commercial-trial.yaml` on the simulated lab of a
2-core machine under load (docs/regressions.md has the measured spreads); a real radio lab is
noisier, and a scenario widens the tolerance with `regression: {threshold: ...}` — never
narrows it below the floor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.base.units import (
    COUNT,
    DATA,
    PERCENT,
    RATE,
    TIME,
    Quantity,
    UnitError,
    convert,
    dimension,
)


@dataclass(frozen=True)
class NoiseFloor:
    """A change smaller than max(relative × |baseline|, absolute) is noise."""

    family: str
    relative: float
    absolute: float = 0.0  # in `absolute_unit`
    absolute_unit: str = ""

    def tolerance(self, baseline: float, unit: str) -> float:
        """The floor for a metric whose baseline mean is `baseline` in `unit`."""
        absolute = self.absolute
        if absolute and self.absolute_unit != unit:
            try:
                absolute = convert_value(absolute, self.absolute_unit, unit)
            except (UnitError, KeyError):
                absolute = 0.0
        return max(self.relative * abs(baseline), absolute)

    def describe(self) -> str:
        """`±max(20 %, 1 ms)`: the floor as docs and reports write it."""
        rel = f"{self.relative * 100:g} %"
        if not self.absolute:
            return f"±{rel}"
        unit = "pp" if self.absolute_unit == "%" else self.absolute_unit
        return f"±max({rel}, {self.absolute:g}{' ' + unit if unit else ''})"


def convert_value(value: float, source: str, target: str) -> float:
    """`value` in unit `source` expressed in `target` (same dimension)."""
    return convert(Quantity(value, source), target).value


#: The documented table (docs/regressions.md); keys are the families `family_of` returns.
FLOORS: dict[str, NoiseFloor] = {
    "rate": NoiseFloor("rate", 0.05),
    "rate-tail": NoiseFloor("rate-tail", 0.15),
    "volume": NoiseFloor("volume", 0.05),
    "time": NoiseFloor("time", 0.20, 1.0, "ms"),
    "time-tail": NoiseFloor("time-tail", 0.30, 2.0, "ms"),
    "spread": NoiseFloor("spread", 1.0, 1.0, "ms"),
    "loss": NoiseFloor("loss", 0.25, 0.5, "%"),
    "percent": NoiseFloor("percent", 0.10, 2.0, "%"),
    "count": NoiseFloor("count", 0.50, 25.0, ""),
    "other": NoiseFloor("other", 0.10),
}

_TAIL = re.compile(r"\.(min|max|p\d+(_\d+)?)$")
_SPREAD = re.compile(r"(^|\.)(std|jitter|ipdv|fdv|pdv)(\.|$)")
_LOSS = re.compile(r"(^|\.|_)(loss|lost|flr)(\.|_|$)")


def family_of(metric: str, unit: str) -> str:
    """The noise family of a metric from its unit's dimension and its name."""
    try:
        dim = dimension(unit)
    except (UnitError, KeyError):
        return "other"
    if dim == PERCENT:
        return "loss" if _LOSS.search(metric) else "percent"
    if _SPREAD.search(metric) and dim in (TIME, RATE):
        return "spread"
    if dim == RATE:
        return "rate-tail" if _TAIL.search(metric) else "rate"
    if dim == TIME:
        return "time-tail" if _TAIL.search(metric) and not metric.endswith(".min") else "time"
    if dim == DATA:
        return "volume"
    if dim == COUNT:
        return "count"
    return "other"


def floor_of(metric: str, unit: str) -> NoiseFloor:
    """The noise floor that applies to a metric."""
    return FLOORS[family_of(metric, unit)]
