"""`y1564` trial kind: ITU-T Y.1564 service configuration and performance tests.

The algorithm lives in harness/measure/y1564.py; this module reads the trial's services, runs
both phases with the iperf3 UDP probe on the trial's hosts (irtt alongside for FTD) and records
`y1564.<service>.<step>.{ir,flr,ftd,fdv}` (steps `cir25`… `cir100`, `eir`, `policing`, `perf`),
`y1564.<service>.steps_failed` and `y1564.services_failed` (FTD and FDV only with irtt).
Every probe trial is stored as a `y1564` sample tagged with its service.

The service acceptance is built in: each service's every configuration step and its
performance test is an acceptance result of the trial (ITU-T Y.1564), so a trial PASSes only
when every service passed, with or without criteria; criteria add to it.

Limitation: through a simulated gNodeB the relay forwards one iperf3 port per DN host, and an
iperf3 server serves one test at a time, so the performance phase runs the services one after
another, each for the whole `performance.duration` (the trial's notes say so), not at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, cast

from pydantic import BeforeValidator, Field, TypeAdapter, field_validator, model_validator

from harness.base import jsonio
from harness.base.errors import ConfigError, HarnessError
from harness.base.schema import Duration, FieldError, Identifier, StrictModel
from harness.config.scenario import TrialDuration
from harness.kinds import TrialKind
from harness.kinds.base import Bitrate, KindRun, TrialBase
from harness.kinds.udp_probes import SharedProbe, recorded, save_runs, trial_probe
from harness.measure.probe import Probe
from harness.measure.y1564 import (
    CIR_STEPS_PERCENT,
    Acceptance,
    Service,
    configuration_steps,
    run_y1564,
)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _percent(value: object) -> object:
    """'0.1 %' or a bare number → percent as a float."""
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a percentage like '0.1 %', got {value!r}") from None
    return value


Percent = Annotated[float, BeforeValidator(_percent), Field(ge=0, lt=100)]


class AcceptanceSpec(StrictModel):
    """A service's acceptance criteria: frame loss ratio, transfer delay, delay variation."""

    flr: Percent = 0.0
    ftd: Duration | None = None  # irtt RTT alongside the step (ms in metrics)
    fdv: Duration | None = None  # P99 of delay − min delay over the step (irtt alongside)
    ir_tolerance: Annotated[Percent, Field(lt=50)] = 1.0


class ServiceSpec(StrictModel):
    """One service: bandwidth profile (L2 frame rates), frame size, acceptance criteria."""

    cir: Bitrate
    eir: float = 0.0  # written like cir; 0 or absent: no excess rate
    cbs: Annotated[int, Field(ge=0)] | None = None
    ebs: Annotated[int, Field(ge=0)] | None = None
    frame_size: int = 1518
    acceptance: AcceptanceSpec = AcceptanceSpec()

    @field_validator("eir", mode="before")
    @classmethod
    def _eir(cls, value: object) -> object:
        if value is None or value == 0 or value == "0":
            return 0.0
        return TypeAdapter(Bitrate).validate_python(value)


class ConfigurationSpec(StrictModel):
    """Phase 1: the CIR steps (percent of CIR) and each step's length."""

    steps: Annotated[list[Annotated[float, Field(gt=0, le=100)]], Field(min_length=1)] = list(
        CIR_STEPS_PERCENT)
    step_duration: TrialDuration | None = None  # default: the trial's duration


class PerformanceSpec(StrictModel):
    """Phase 2: every service at its CIR for this long."""

    duration: TrialDuration


class Y1564Spec(TrialBase):
    """A Y.1564 service activation test between the UE-side and DN hosts, one direction."""

    kind: Literal["y1564"]
    ue: Identifier
    dn: Identifier
    direction: Annotated[Literal["dl", "ul"], BeforeValidator(_lower)] = "dl"
    services: Annotated[dict[str, ServiceSpec], Field(min_length=1)]
    configuration: ConfigurationSpec = ConfigurationSpec()
    performance: PerformanceSpec | None = None  # None: phase 2 is not run
    latency: bool = True  # irtt alongside each step for FTD

    @model_validator(mode="after")
    def _services_valid(self) -> Y1564Spec:
        for name in self.services:
            try:
                self.service(name)
            except ConfigError as exc:
                raise FieldError(str(exc), at=("services", name)) from None
        return self

    def service(self, name: str) -> Service:
        """The measurement module's Service for one named service."""
        s = self.services[name]
        acc = s.acceptance
        return Service(name=name, cir_bps=s.cir, eir_bps=s.eir, cbs_bytes=s.cbs,
                       ebs_bytes=s.ebs, frame_size=s.frame_size,
                       acceptance=Acceptance(
                           max_flr_percent=acc.flr,
                           max_ftd_ms=acc.ftd * 1000 if acc.ftd is not None else None,
                           max_fdv_ms=acc.fdv * 1000 if acc.fdv is not None else None,
                           ir_tolerance_percent=acc.ir_tolerance))


def y1564_units(spec: TrialBase) -> Mapping[str, str]:
    """Every metric a y1564 trial with this spec can produce (FTD only with irtt)."""
    s = cast(Y1564Spec, spec)
    units: dict[str, str] = {}
    figures = {"ir": "Mbit/s", "flr": "%",
               **({"ftd": "ms", "fdv": "ms"} if s.latency else {})}
    for name in s.services:
        steps = [st.name for st in configuration_steps(s.service(name),
                                                       s.configuration.steps)]
        if s.performance is not None:
            steps.append("perf")
        for step in steps:
            units.update({f"y1564.{name}.{step}.{f}": u for f, u in figures.items()})
        units[f"y1564.{name}.steps_failed"] = ""
    if s.performance is not None:
        units["y1564.services_failed"] = ""
    return units


async def measure(run: KindRun) -> None:
    """Phase 1 per service, then phase 2, through the trial's path."""
    spec, t = cast(Y1564Spec, run.spec), run.trial
    services = [spec.service(name) for name in spec.services]
    step_s = spec.configuration.step_duration or t.duration_s
    async with trial_probe(run, spec.direction, latency=spec.latency) as (probe, runs):
        shared = SharedProbe(probe)
        probes: dict[str, Probe] = {
            s.name: recorded(shared, run, "y1564", {"service": s.name}) for s in services}
        try:
            result = await run_y1564(
                probes, services, step_s=step_s,
                performance_s=spec.performance.duration if spec.performance else None,
                cir_steps=spec.configuration.steps)
        except ConfigError as exc:
            raise HarnessError(f"trial {t.id}: {exc}") from exc
        finally:
            save_runs(run, runs, "y1564.iperf3.json")
    if shared.waited:
        run.notes.append("performance test: the services ran one after another, not at once "
                         f"(one iperf3 port reaches {spec.dn} through {spec.via or 'the path'})")
    run.raw_path("y1564.json").write_text(jsonio.dumps(result.to_json(), indent=1),
                                          encoding="utf-8")
    run.metrics.update(result.metrics())
    run.exact.add("y1564.")  # per-step figures, judged as measured by the SAC (estimates.py)
    run.acceptance.extend(result.acceptance())
    run.extra["y1564"] = {
        "verdict": result.verdict.value,
        "services": {c.service.name: c.verdict.value for c in result.configuration},
        "performance": result.performance.verdict.value if result.performance else None}


KIND = TrialKind(
    name="y1564", spec=Y1564Spec, measure=measure, metrics=y1564_units,
    builtin_acceptance=True,
    summary="ITU-T Y.1564 service configuration and performance tests (iperf3 UDP, irtt)")
