"""Y.1564 service acceptance as verdict-bearing results (pure): each configuration step and
each service's performance test becomes a CriterionResult of the trial, citing the standard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.base.units import Quantity
from harness.base.verdict import Verdict
from harness.judge.criteria import CriterionResult

if TYPE_CHECKING:
    from harness.measure.y1564 import Check, StepResult

SOURCE = "ITU-T Y.1564"
_UNITS = {"ir": "Mbit/s", "flr": "%", "ftd": "ms", "fdv": "ms"}


def _shown(check: Check, value: float | None) -> Quantity | None:
    if value is None:
        return None
    return Quantity(value / 1e6 if check.name == "ir" else value, _UNITS[check.name])


def _check_text(check: Check) -> str:
    unit = _UNITS[check.name]
    scale = 1e6 if check.name == "ir" else 1.0
    value = "not measured" if check.observed is None else f"{check.observed / scale:.4g} {unit}"
    bounds = []
    if check.low is not None:
        bounds.append(f">= {check.low / scale:.4g}")
    if check.high is not None:
        bounds.append(f"<= {check.high / scale:.4g}")
    limit = f" (needs {' and '.join(bounds)} {unit})" if bounds else " (reported, not judged)"
    return f"{check.name.upper()} {value}{limit}: {check.verdict.value}"


def step_acceptance(service: str, what: str, step: StepResult,
                    source: str) -> CriterionResult:
    """One step's verdict as a CriterionResult; observed/threshold are the worst check's."""
    judged = [c for c in step.checks if c.verdict is not Verdict.SKIPPED]
    worst_check = max(judged, key=lambda c: c.verdict.severity) if judged else None
    observed = threshold = None
    if worst_check is not None:
        observed = _shown(worst_check, worst_check.observed)
        bound = worst_check.high if worst_check.verdict is Verdict.FAIL and (
            worst_check.observed is not None and worst_check.high is not None
            and worst_check.observed > worst_check.high) else worst_check.low
        threshold = _shown(worst_check, bound if bound is not None else worst_check.high)
    detail = (f"offered {step.step.offered_bps / 1e6:.4g} Mbit/s (L2); "
              + "; ".join(_check_text(c) for c in step.checks))
    return CriterionResult(expr=f"y1564 service {service}: {what}", observed=observed,
                           threshold=threshold, verdict=step.verdict, source=source,
                           detail=detail)
