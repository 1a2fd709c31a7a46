"""`rfc2544` trial kind: RFC 2544 zero-loss throughput, latency and frame loss.

The algorithm lives in harness/measure/rfc2544.py; this module reads the trial's fields, runs it
with the iperf3 UDP probe on the trial's hosts (irtt alongside for latency) and records the
figures. Metrics per frame size N (`fN`): `rfc2544.throughput.fN` (L2 frame rate, Mbit/s),
`throughput_l1`, `goodput` (L4), `frames_per_s`, `iterations`, `confirmed`, `latency` (irtt mean
RTT at the found rate, ms, when `latency: true`) and `rfc2544.frame_loss.fN.atP` (loss % at P %
of `max_rate`, when `loss_curve: true`). Every probe trial is stored as an `rfc2544` sample.
Built-in acceptance per frame size: PASS when the zero-loss rate was confirmed, INCONCLUSIVE
(with the search's history) when none was; then no throughput figure is published.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Literal, cast

from pydantic import BeforeValidator, Field, TypeAdapter, field_validator, model_validator

from harness.base import jsonio
from harness.base.errors import ConfigError, HarnessError
from harness.base.schema import FieldError, Identifier
from harness.config.scenario import TrialDuration
from harness.kinds import TrialKind
from harness.kinds.base import Bitrate, KindRun, TrialBase
from harness.kinds.udp_probes import recorded, save_runs, trial_probe
from harness.measure.probe import RFC2544_FRAME_SIZES, FrameSpec
from harness.measure.rfc2544 import Rfc2544Options, SearchOptions, run_rfc2544
from harness.measure.rfc2544_search import MAX_ITERATIONS


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


_BITRATE: TypeAdapter[float] = TypeAdapter(Bitrate)


def _resolution(value: object) -> object:
    """'2 %' → ('percent', 2.0); '1 Mbit/s' or a number of bit/s → ('bps', value)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return ("percent", float(value.strip()[:-1]))
        except ValueError:
            raise ValueError(f"expected a resolution like '2 %' or '1 Mbit/s', got {value!r}"
                             ) from None
    return ("bps", _BITRATE.validate_python(value))


Resolution = Annotated[tuple[Literal["percent", "bps"], float], BeforeValidator(_resolution)]
"""The search's resolution: `2 %` of max_rate, or a rate like `1 Mbit/s`."""


class Rfc2544Spec(TrialBase):
    """An RFC 2544 run between the UE-side and DN hosts, one direction, over frame sizes."""

    kind: Literal["rfc2544"]
    ue: Identifier
    dn: Identifier
    direction: Annotated[Literal["dl", "ul"], BeforeValidator(_lower)] = "dl"
    frame_sizes: Annotated[list[int], Field(min_length=1)] = list(RFC2544_FRAME_SIZES)
    max_rate: Bitrate
    min_rate: Bitrate | None = None
    resolution: Resolution = ("percent", 1.0)
    max_iterations: Annotated[int, Field(ge=1, le=MAX_ITERATIONS)] = 16
    trial_duration: TrialDuration | None = None  # each search trial; default: the trial's duration
    confirm: bool = True
    confirm_duration: TrialDuration | None = None  # default: trial_duration (the RFC asks 60 s)
    latency: bool = True  # irtt alongside each trial, latency reported at the found rate
    latency_trials: Annotated[int, Field(ge=0, le=100)] = 0
    loss_curve: bool = True
    loss_step: Annotated[float, Field(gt=0, le=50)] = 10.0  # percent of max_rate
    loss_tolerance: Annotated[float, Field(ge=0, lt=100)] = 0.0  # percent; the RFC allows 0

    @field_validator("frame_sizes")
    @classmethod
    def _frames(cls, sizes: list[int]) -> list[int]:
        if len(set(sizes)) != len(sizes):
            raise ValueError(f"frame sizes repeat: {sizes}")
        for i, size in enumerate(sizes):
            try:
                FrameSpec(size)
            except ConfigError as exc:
                raise FieldError(str(exc), at=(i,)) from None
        return sizes

    @model_validator(mode="after")
    def _consistent(self) -> Rfc2544Spec:
        try:
            self.options(self.trial_duration or 1.0)
        except ConfigError as exc:
            raise FieldError(str(exc), at=(exc.field,) if exc.field else ()) from None
        return self

    def search_options(self, duration_s: float) -> SearchOptions:
        """The search options of this spec (`duration_s`: the trial's default duration)."""
        how, value = self.resolution
        trial_s = self.trial_duration or duration_s
        return SearchOptions(
            max_rate_bps=self.max_rate, min_rate_bps=self.min_rate or 0.0,
            resolution_percent=value if how == "percent" else None,
            resolution_bps=value if how == "bps" else None,
            max_iterations=self.max_iterations, trial_s=trial_s, confirm=self.confirm,
            confirm_s=self.confirm_duration, loss_tolerance_percent=self.loss_tolerance)

    def options(self, duration_s: float) -> Rfc2544Options:
        """The whole run's options; ConfigError when the numbers do not fit together."""
        return Rfc2544Options(search=self.search_options(duration_s),
                              frame_sizes=tuple(self.frame_sizes),
                              latency_trials=self.latency_trials, loss_curve=self.loss_curve,
                              loss_step_percent=self.loss_step)


def loss_points(step_percent: float) -> list[str]:
    """The `atP` labels a loss curve with this step can produce (100, 100 − step, ...)."""
    steps = math.ceil(100 / step_percent - 1e-9)
    return [f"{100.0 - i * step_percent:g}".replace(".", "_") for i in range(steps)]


def rfc2544_units(spec: TrialBase) -> Mapping[str, str]:
    """Every metric an rfc2544 trial with this spec can produce, with its unit (the loss curve
    stops after two clean trials, so its lower points may be absent)."""
    s = cast(Rfc2544Spec, spec)
    units: dict[str, str] = {}
    for size in s.frame_sizes:
        tag = f"f{size}"
        units.update({f"rfc2544.throughput.{tag}": "Mbit/s",
                      f"rfc2544.throughput_l1.{tag}": "Mbit/s",
                      f"rfc2544.goodput.{tag}": "Mbit/s", f"rfc2544.frames_per_s.{tag}": "",
                      f"rfc2544.iterations.{tag}": "", f"rfc2544.confirmed.{tag}": ""})
        if s.latency:
            units[f"rfc2544.latency.{tag}"] = "ms"
        if s.loss_curve:
            units.update({f"rfc2544.frame_loss.{tag}.at{p}": "%"
                          for p in loss_points(s.loss_step)})
    return units


async def measure(run: KindRun) -> None:
    """Search, latency and loss curve per frame size through the trial's path."""
    spec = cast(Rfc2544Spec, run.spec)
    try:
        opts = spec.options(run.trial.duration_s)
    except ConfigError as exc:
        raise HarnessError(f"trial {run.trial.id}: {exc}") from exc
    async with trial_probe(run, spec.direction, latency=spec.latency) as (probe, runs):
        try:
            result = await run_rfc2544(recorded(probe, run, "rfc2544"), opts)
        finally:
            save_runs(run, runs, "rfc2544.iperf3.json")
    run.raw_path("rfc2544.json").write_text(_json(result.to_json()), encoding="utf-8")
    run.metrics.update(result.metrics())
    run.exact |= {"rfc2544.throughput", "rfc2544.goodput", "rfc2544.frames_per_s",
                  "rfc2544.iterations", "rfc2544.confirmed"}  # search results: resolution
    # a search result rests on no sample count (min_samples does not apply); its uncertainty
    # is the search's resolution, stated with the figure
    run.acceptance.extend(result.acceptance())
    for frame in result.frames:
        s, tag = frame.search, f"f{frame.search.frame.frame_bytes}"
        if frame.latency_ms:
            run.series[f"rfc2544.latency.{tag}"] = list(frame.latency_ms)
        if s.outcome == "unconfirmed":
            run.notes.append(f"{tag}: the search's rate lost frames in every confirmation "
                             "trial: no throughput published")
        elif s.throughput_bps is None:
            run.notes.append(f"{tag}: no zero-loss rate found ({s.outcome}) down to "
                             f"{opts.search.min_rate_bps / 1e6:g} Mbit/s")
        elif s.generator_limited:
            run.notes.append(f"{tag}: the generator fell short of the rate asked; the figure "
                             "may measure the sender, not the path")
    run.extra["rfc2544"] = {f"f{f.search.frame.frame_bytes}": {
        "outcome": f.search.outcome, "converged": f.search.converged,
        "throughput_bps": f.search.throughput_bps,
        "history": f.search.history()} for f in result.frames}  # the report's search plot


def _json(doc: object) -> str:
    return jsonio.dumps(doc, indent=1)


KIND = TrialKind(
    name="rfc2544", spec=Rfc2544Spec, measure=measure, metrics=rfc2544_units,
    builtin_acceptance=True,
    summary="RFC 2544 zero-loss throughput, latency and frame loss (iperf3 UDP, irtt)")
