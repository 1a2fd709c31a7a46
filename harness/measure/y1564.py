"""ITU-T Y.1564 service activation test over fixed-rate UDP probes (no I/O of its own).

A service has a committed and an excess information rate (CIR, EIR; L2 frame bit rates as in
`harness.measure.probe`), optional burst sizes (CBS, EBS: recorded, not tested; vendors call
burst tests experimental) and acceptance criteria: maximum frame transfer delay (FTD), frame
delay variation (FDV) and frame loss ratio (FLR).

Phase 1, service configuration test, one service at a time, in steps:
- CIR steps at 25/50/75/100 % of CIR (vendors' usual steps, DOMAIN.md §4): IR must reach the
  offered rate less the FLR allowance, and FLR, FTD, FDV must meet the criteria.
- EIR step at CIR + EIR: IR between CIR × (1 − FLR) and CIR + EIR. Frames above CIR are not
  guaranteed, so FLR, FTD and FDV are reported, not judged.
- Policing step at 125 % of CIR + EIR: the same IR band; a network that lets more through does
  not police the service.
Phase 2, service performance test: every service at its CIR at once for a longer time, each
judged as a CIR step.

Measured values: IR is the probe's received L2 rate, FLR its loss, FTD its latency (as the
probe measured it: irtt gives a round trip; iperf3 none), FDV the frame delay variation of the
step: the P99 of each frame's delay minus the step's minimum delay (ITU-T Y.1563's delay
variation against the minimum, read at a high quantile as Y.1541 does; see
`harness.measure.latency.frame_delay_variation`), from irtt's per-packet delays alongside the
step. iperf3's RFC 3550 jitter is NOT used as FDV: a smoothed mean of consecutive differences,
it reads 0.14 ms on a step whose delay ranges over 10 ms. A criterion whose value the probe did
not measure (FDV or FTD without irtt) is INCONCLUSIVE, never a silent pass.
`ir_tolerance_percent` widens the IR bands for the measurement's own error (rate timing over a
short step).

Every step's verdict and the performance test's verdict per service are the trial's built-in
acceptance (`Y1564Result.acceptance()`): they take part in the trial's verdict with no
criterion naming them.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.base.errors import ConfigError
from harness.base.units import Quantity
from harness.base.verdict import Verdict, worst
from harness.judge.criteria import CriterionResult
from harness.measure.probe import FrameSpec, Probe, ProbeResult, check_rate
from harness.measure.y1564_sac import SOURCE, step_acceptance

FORMAT_VERSION = 1
CIR_STEPS_PERCENT = (25.0, 50.0, 75.0, 100.0)
POLICING_PERCENT = 125.0
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


@dataclass(frozen=True)
class Acceptance:
    """A service's acceptance criteria (SAC); None leaves FTD or FDV unjudged."""

    max_flr_percent: float = 0.0
    max_ftd_ms: float | None = None
    max_fdv_ms: float | None = None
    ir_tolerance_percent: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.max_flr_percent < 100:
            raise ConfigError(f"expected 0 to under 100 %, got {self.max_flr_percent!r}",
                              field="acceptance.flr")
        for name in ("max_ftd_ms", "max_fdv_ms"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"expected > 0 ms, got {value!r}", field=f"acceptance.{name}")
        if not 0 <= self.ir_tolerance_percent < 50:
            raise ConfigError(f"expected 0 to under 50 %, got {self.ir_tolerance_percent!r}",
                              field="acceptance.ir_tolerance")


@dataclass(frozen=True)
class Service:
    """One service under test: bandwidth profile, frame size and acceptance criteria.

    `name` becomes part of metric names, so it is lower-case letters, digits and `_`.
    """

    name: str
    cir_bps: float
    eir_bps: float = 0.0
    cbs_bytes: int | None = None
    ebs_bytes: int | None = None
    frame_size: int = 1518
    acceptance: Acceptance = Acceptance()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"service name {self.name!r} must be lower-case letters, digits "
                              "and '_', starting with a letter (it names metrics)",
                              field="services.name")
        check_rate(self.cir_bps, f"services.{self.name}.cir")
        check_rate(self.eir_bps, f"services.{self.name}.eir", allow_zero=True)
        for name in ("cbs_bytes", "ebs_bytes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"expected >= 0 bytes, got {value}",
                                  field=f"services.{self.name}.{name}")
        FrameSpec(self.frame_size)


@dataclass(frozen=True)
class Step:
    """One configuration-test step: its name, kind ("cir", "eir", "policing") and offered rate."""

    name: str
    kind: str
    offered_bps: float


def configuration_steps(service: Service,
                        cir_steps: Sequence[float] = CIR_STEPS_PERCENT) -> list[Step]:
    """The steps of the service configuration test, in order.

    cir25..cir100, then `eir` at CIR + EIR (only when EIR > 0), then `policing` at 125 % of
    CIR + EIR.
    """
    steps = []
    for percent in cir_steps:
        if not 0 < percent <= 100:
            raise ConfigError(f"expected CIR steps above 0 and up to 100 %, got {percent:g}",
                              field="cir_steps")
        label = f"{percent:g}".replace(".", "_")
        steps.append(Step(f"cir{label}", "cir", service.cir_bps * percent / 100))
    ceiling = service.cir_bps + service.eir_bps
    if service.eir_bps > 0:
        steps.append(Step("eir", "eir", ceiling))
    steps.append(Step("policing", "policing", ceiling * POLICING_PERCENT / 100))
    return steps


@dataclass(frozen=True)
class Check:
    """One criterion of a step: observed value, the limit or band, and its verdict."""

    name: str  # "ir", "flr", "ftd", "fdv"
    observed: float | None
    low: float | None
    high: float | None
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "observed": self.observed, "low": self.low,
                "high": self.high, "verdict": self.verdict.value}


def _band(name: str, observed: float | None, low: float | None, high: float | None) -> Check:
    if observed is None:
        return Check(name, None, low, high, Verdict.INCONCLUSIVE)
    ok = (low is None or observed >= low) and (high is None or observed <= high)
    return Check(name, observed, low, high, Verdict.PASS if ok else Verdict.FAIL)


def _info(name: str, observed: float | None) -> Check:
    return Check(name, observed, None, None, Verdict.SKIPPED)


def ir_band(service: Service, step: Step) -> tuple[float, float | None]:
    """The IR pass band of a step (bit/s): CIR steps have no upper bound."""
    acc = service.acceptance
    keep = 1 - acc.max_flr_percent / 100
    slack = acc.ir_tolerance_percent / 100
    if step.kind == "cir":
        return step.offered_bps * keep * (1 - slack), None
    return (service.cir_bps * keep * (1 - slack),
            (service.cir_bps + service.eir_bps) * (1 + slack))


def judge_step(service: Service, step: Step, result: ProbeResult) -> StepResult:
    """Check one step's measurement against the service's criteria."""
    acc = service.acceptance
    low, high = ir_band(service, step)
    checks = [_band("ir", result.received_bps, low, high)]
    if step.kind == "cir":
        checks.append(_band("flr", result.loss_percent, None, acc.max_flr_percent))
        if acc.max_ftd_ms is not None:
            checks.append(_band("ftd", result.latency_ms, None, acc.max_ftd_ms))
        if acc.max_fdv_ms is not None:
            checks.append(_band("fdv", result.fdv_ms, None, acc.max_fdv_ms))
    else:  # above CIR nothing is guaranteed but the rate band
        checks += [_info("flr", result.loss_percent), _info("ftd", result.latency_ms),
                   _info("fdv", result.fdv_ms)]
    verdict = worst(c.verdict for c in checks if c.verdict is not Verdict.SKIPPED)
    return StepResult(step, result, tuple(checks), verdict)


@dataclass(frozen=True)
class StepResult:
    """A step's measurement, its checks and its verdict (the worst judged check)."""

    step: Step
    result: ProbeResult
    checks: tuple[Check, ...]
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        return {"name": self.step.name, "kind": self.step.kind,
                "offered_bps": self.step.offered_bps, "verdict": self.verdict.value,
                "result": self.result.to_json(), "checks": [c.to_json() for c in self.checks]}

    def metrics(self, prefix: str) -> dict[str, Quantity]:
        """ir (Mbit/s), flr (%), ftd and fdv (ms) when measured, under `prefix`."""
        r = self.result
        out = {f"{prefix}.ir": Quantity(r.received_bps / 1e6, "Mbit/s"),
               f"{prefix}.flr": Quantity(r.loss_percent, "%")}
        if r.latency_ms is not None:
            out[f"{prefix}.ftd"] = Quantity(r.latency_ms, "ms")
        if r.fdv_ms is not None:
            out[f"{prefix}.fdv"] = Quantity(r.fdv_ms, "ms")
        return out


def _service_json(service: Service) -> dict[str, Any]:
    acc = service.acceptance
    return {"name": service.name, "cir_bps": service.cir_bps, "eir_bps": service.eir_bps,
            "cbs_bytes": service.cbs_bytes, "ebs_bytes": service.ebs_bytes,
            "frame_size": service.frame_size,
            "acceptance": {"max_flr_percent": acc.max_flr_percent,
                           "max_ftd_ms": acc.max_ftd_ms, "max_fdv_ms": acc.max_fdv_ms,
                           "ir_tolerance_percent": acc.ir_tolerance_percent}}


@dataclass(frozen=True)
class ConfigurationResult:
    """Phase 1 for one service: every step and the service's verdict (the worst step's)."""

    service: Service
    steps: tuple[StepResult, ...]

    @property
    def verdict(self) -> Verdict:
        return worst(s.verdict for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {"service": _service_json(self.service), "verdict": self.verdict.value,
                "steps": [s.to_json() for s in self.steps]}

    def metrics(self) -> dict[str, Quantity]:
        """`y1564.<service>.<step>.{ir,flr,ftd,fdv}` and `y1564.<service>.steps_failed`."""
        out: dict[str, Quantity] = {}
        for s in self.steps:
            out.update(s.metrics(f"y1564.{self.service.name}.{s.step.name}"))
        failed = sum(1 for s in self.steps if s.verdict is Verdict.FAIL)
        out[f"y1564.{self.service.name}.steps_failed"] = Quantity(float(failed), "")
        return out


async def service_configuration_test(probe: Probe, service: Service, *, step_s: float,
                                     cir_steps: Sequence[float] = CIR_STEPS_PERCENT,
                                     ) -> ConfigurationResult:
    """Run the configuration steps of one service one after another, `step_s` each."""
    _check_duration(step_s, "step_duration")
    results = []
    for step in configuration_steps(service, cir_steps):
        measured = await probe(step.offered_bps, service.frame_size, step_s)
        results.append(judge_step(service, step, measured))
    return ConfigurationResult(service, tuple(results))


@dataclass(frozen=True)
class PerformanceResult:
    """Phase 2: every service at CIR at once; one judged step per service."""

    duration_s: float
    services: tuple[Service, ...]
    results: tuple[StepResult, ...]

    @property
    def verdict(self) -> Verdict:
        return worst(r.verdict for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {"duration_s": self.duration_s, "verdict": self.verdict.value,
                "services": [{"service": _service_json(s), **r.to_json()}
                             for s, r in zip(self.services, self.results, strict=True)]}

    def metrics(self) -> dict[str, Quantity]:
        """`y1564.<service>.perf.{ir,flr,ftd,fdv}` and `y1564.services_failed`."""
        out: dict[str, Quantity] = {}
        for service, result in zip(self.services, self.results, strict=True):
            out.update(result.metrics(f"y1564.{service.name}.perf"))
        failed = sum(1 for r in self.results if r.verdict is Verdict.FAIL)
        out["y1564.services_failed"] = Quantity(float(failed), "")
        return out


async def service_performance_test(probes: Mapping[str, Probe], services: Sequence[Service],
                                   *, duration_s: float) -> PerformanceResult:
    """Run every service at its CIR at the same time (one probe per service, by name)."""
    _check_duration(duration_s, "performance_duration")
    _check_names(services)
    missing = [s.name for s in services if s.name not in probes]
    if missing:
        raise ConfigError(f"no probe for service(s) {', '.join(missing)}: each service needs "
                          "its own traffic path (iperf3 server port)", field="services")
    step = [Step("perf", "cir", s.cir_bps) for s in services]
    measured = await asyncio.gather(*(probes[s.name](s.cir_bps, s.frame_size, duration_s)
                                      for s in services))
    results = tuple(judge_step(s, st, m) for s, st, m in zip(services, step, measured,
                                                              strict=True))
    return PerformanceResult(duration_s, tuple(services), results)


@dataclass(frozen=True)
class Y1564Result:
    """A whole Y.1564 test: phase 1 per service, then phase 2 (None when not run)."""

    configuration: tuple[ConfigurationResult, ...]
    performance: PerformanceResult | None

    @property
    def verdict(self) -> Verdict:
        parts = [c.verdict for c in self.configuration]
        if self.performance is not None:
            parts.append(self.performance.verdict)
        return worst(parts)

    def to_json(self) -> dict[str, Any]:
        """Everything, with a format version and the rate basis."""
        return {"format_version": FORMAT_VERSION, "method": "ITU-T Y.1564",
                "rate_basis": "rates are L2 frame bit rates (frame with FCS, no preamble/IFG)",
                "verdict": self.verdict.value,
                "configuration": [c.to_json() for c in self.configuration],
                "performance": self.performance.to_json() if self.performance else None}

    def acceptance(self) -> list[CriterionResult]:
        """The service acceptance as verdict-bearing results: one per service and
        configuration step, one per service for the performance test."""
        out = [step_acceptance(c.service.name, f"configuration {s.step.name}", s,
                               f"{SOURCE} service configuration test ({s.step.kind} step)")
               for c in self.configuration for s in c.steps]
        if self.performance is not None:
            out += [step_acceptance(service.name, "performance test", r,
                                    f"{SOURCE} service performance test (all services at "
                                    f"CIR, {self.performance.duration_s:g} s)")
                    for service, r in zip(self.performance.services, self.performance.results,
                                          strict=True)]
        return out

    def metrics(self) -> dict[str, Quantity]:
        """Phase 1 and phase 2 metrics together."""
        out: dict[str, Quantity] = {}
        for c in self.configuration:
            out.update(c.metrics())
        if self.performance is not None:
            out.update(self.performance.metrics())
        return out


async def run_y1564(probes: Mapping[str, Probe], services: Sequence[Service], *, step_s: float,
                    performance_s: float | None,
                    cir_steps: Sequence[float] = CIR_STEPS_PERCENT) -> Y1564Result:
    """Phase 1 for each service in turn, then phase 2 for all at once (skipped when None)."""
    _check_names(services)
    configuration = []
    for service in services:
        if service.name not in probes:
            raise ConfigError(f"no probe for service {service.name}", field="services")
        configuration.append(await service_configuration_test(
            probes[service.name], service, step_s=step_s, cir_steps=cir_steps))
    performance = None
    if performance_s is not None:
        performance = await service_performance_test(probes, services, duration_s=performance_s)
    return Y1564Result(tuple(configuration), performance)


def _check_duration(value: float, field: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"expected a duration > 0 s, got {value!r}", field=field)


def _check_names(services: Sequence[Service]) -> None:
    if not services:
        raise ConfigError("expected at least one service", field="services")
    names = [s.name for s in services]
    if len(set(names)) != len(names):
        raise ConfigError(f"service names repeat: {names}", field="services")
