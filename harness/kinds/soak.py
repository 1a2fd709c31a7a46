"""`soak`: hours of periodic short throughput/latency probes, resumable.

The algorithm (schedule, checkpoint, availability, summary) is harness/measure/soak.py; this
module turns a scenario's fields into real probes (harness/kinds/soak_probes.py) between the
trial's UE-side and DN hosts. The checkpoint is a fixed file of the run directory's `raw/`
(`ID-rN.soak-checkpoint.jsonl`), so `harness run --resume RUN_DIR` continues the soak without
repeating finished probes. The trial's KPIs (`monitor:`) are polled for the whole soak by the
trial engine. Every probe is stored as a `soak` sample; failed probes are listed in the notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, cast

from pydantic import Field, model_validator

from harness.base.sample import Sample
from harness.base.schema import Duration, FieldError, Identifier, StrictModel
from harness.config.scenario import TrialDuration
from harness.kinds import TrialKind
from harness.kinds.base import Bitrate, KindRun, TrialBase
from harness.kinds.soak_probes import iperf3_probe, irtt_probe
from harness.kinds.throughput import Direction
from harness.kinds.throughput import Protocol as IpProtocol
from harness.measure.soak import LatencyProbe, ProbeRecord, SoakCriteria, ThroughputProbe, run_soak

_UNITS: dict[str, str] = {
    "soak.probes": "", "soak.available": "", "soak.errors": "",
    "soak.availability": "%", "soak.availability.ci_low": "%", "soak.availability.ci_high": "%",
    **{f"soak.throughput.{s}": "Mbit/s" for s in ("min", "mean", "p5", "median", "max")},
    **{f"soak.rtt.{s}": "ms" for s in ("min", "mean", "median", "p95", "p99", "max")},
    "soak.loss": "%",
}
_MAX_NOTED_ERRORS = 20


class ThroughputProbeSpec(StrictModel):
    """The iperf3 probe run every period."""

    direction: Direction = "dl"
    protocol: IpProtocol = "tcp"
    streams: Annotated[int, Field(ge=1, le=128)] = 1
    duration: TrialDuration = 5.0  # iperf3 -t: whole seconds
    bitrate: Bitrate | None = None

    @model_validator(mode="after")
    def _checks(self) -> ThroughputProbeSpec:
        if self.direction == "bidir":
            raise FieldError("a soak probe is dl or ul", at=("direction",))
        if self.protocol == "udp" and self.bitrate is None:
            raise FieldError("a UDP probe needs a target rate: add e.g. bitrate: 100 Mbit/s",
                             at=("protocol",))
        if not self.duration > 0:
            raise FieldError("the probe needs a duration > 0", at=("duration",))
        return self


class LatencyProbeSpec(StrictModel):
    """The irtt probe run every period (after the throughput probe)."""

    duration: Duration = 5.0
    interval: Duration = 0.02

    @model_validator(mode="after")
    def _checks(self) -> LatencyProbeSpec:
        if not self.duration > 0:
            raise FieldError("the probe needs a duration > 0", at=("duration",))
        if not self.interval > 0:
            raise FieldError("the interval must be > 0", at=("interval",))
        return self


class ProbesSpec(StrictModel):
    """Which probes run every period (at least one)."""

    throughput: ThroughputProbeSpec | None = None
    latency: LatencyProbeSpec | None = None

    @model_validator(mode="after")
    def _one(self) -> ProbesSpec:
        if self.throughput is None and self.latency is None:
            raise FieldError("give a throughput probe, a latency probe, or both", at=())
        return self


class AvailabilitySpec(StrictModel):
    """What makes one probe count as available."""

    throughput_floor: Bitrate | None = None
    rtt_ceiling: Duration | None = None  # on the probe's median RTT
    max_loss: Annotated[float, Field(ge=0, le=100)] | None = None  # %, latency probe's loss


class SoakSpec(TrialBase):
    """A soak between the UE-side and the DN host (through `via`)."""

    kind: Literal["soak"]
    ue: Identifier
    dn: Identifier
    period: Duration
    probe: ProbesSpec = ProbesSpec(throughput=ThroughputProbeSpec(),
                                   latency=LatencyProbeSpec())
    availability: AvailabilitySpec = AvailabilitySpec()

    @model_validator(mode="after")
    def _period(self) -> SoakSpec:
        if not self.period > 0:
            raise FieldError("the period must be > 0", at=("period",))
        if self.duration is not None and self.period > self.duration:
            raise FieldError(f"period {self.period:g} s is longer than the soak's duration "
                             f"{self.duration:g} s: shorten the period", at=("period",))
        return self

    def shape_direction(self) -> str | None:
        """The throughput probe's direction (presets), None without one."""
        return self.probe.throughput.direction if self.probe.throughput is not None else None


def soak_units(spec: TrialBase) -> Mapping[str, str]:
    """Every metric a soak trial produces (those without data are left out of its results)."""
    return dict(_UNITS)


def _criteria(spec: SoakSpec) -> SoakCriteria:
    a = spec.availability
    return SoakCriteria(
        throughput_floor_mbps=a.throughput_floor / 1e6 if a.throughput_floor else 0.0,
        rtt_ceiling_ms=a.rtt_ceiling * 1000 if a.rtt_ceiling is not None else None,
        max_loss_percent=a.max_loss)


def _probes(run: KindRun, spec: SoakSpec) -> tuple[ThroughputProbe | None,
                                                   LatencyProbe | None]:
    bench, counter = run.bench, {"iperf3": 0, "irtt": 0}

    def keep(tool: str, raw: str) -> None:
        counter[tool] += 1
        suffix = f"{tool}.json"
        run.raw_path(f"soak-{counter[tool]:05d}.{suffix}").write_text(raw, encoding="utf-8")

    ue, dn = bench.hosts[spec.ue], bench.hosts[spec.dn]
    thr: ThroughputProbe | None = None
    lat: LatencyProbe | None = None
    if spec.probe.throughput is not None:
        p = spec.probe.throughput
        thr = iperf3_probe(ue, dn, target=bench.endpoint(spec.dn, spec.via, ue=spec.ue),
                           server_port=bench.traffic_ports[spec.dn], direction=p.direction,
                           protocol=p.protocol, streams=p.streams, duration_s=p.duration,
                           bitrate_bps=p.bitrate, keep_raw=keep)
    if spec.probe.latency is not None:
        q = spec.probe.latency
        lat = irtt_probe(ue, dn, target=bench.endpoint(spec.dn, spec.via, ue=spec.ue,
                                                        kind="irtt"),
                         server_port=bench.irtt_ports[spec.dn], duration_s=q.duration,
                         interval_s=q.interval, keep_raw=keep)
    return thr, lat


def _sample(run: KindRun, record: ProbeRecord) -> Sample:
    fields: dict[str, float | int | bool] = {
        "probe": record.index, "available": record.available, "failed": record.error is not None,
        "elapsed_s": record.elapsed_s}
    if record.throughput_mbps is not None:
        fields["throughput_mbps"] = record.throughput_mbps
    if record.retransmits is not None:
        fields["retransmits"] = record.retransmits
    median = record.rtt_median_ms
    if median is not None:
        fields["rtt_median_ms"] = median
    if record.sent:
        fields["sent"], fields["lost"] = record.sent, record.lost
    return Sample(int(record.started_unix_s * 1e9), "soak", dict(run.tags), fields)


async def measure(run: KindRun) -> None:
    """Run (or resume) the soak: one probe every period for the trial's duration."""
    spec, t = cast(SoakSpec, run.spec), run.trial
    thr, lat = _probes(run, spec)
    result = await run_soak(thr, lat, duration_s=t.duration_s, period_s=spec.period,
                            checkpoint=run.raw_path("soak-checkpoint.jsonl"),
                            criteria=_criteria(spec),
                            on_probe=lambda record: run.emit([_sample(run, record)]))
    run.metrics.update(result.metrics)
    probes = result.probes
    available = sum(1 for p in probes if p.available)
    run.counts["soak."] = len(probes)
    run.counts["soak.rtt."] = sum(len(p.rtts_ms) for p in probes)
    run.counts["soak.loss"] = sum(p.sent for p in probes)
    run.series["soak.rtt.mean"] = [r for p in probes for r in p.rtts_ms]
    if probes:
        run.proportions["soak.availability"] = (available, len(probes))
    rates = [p.throughput_mbps for p in probes if p.throughput_mbps is not None]
    if rates:
        run.series["soak.throughput.mean"] = rates
    if result.resumed:
        run.notes.append(f"resumed: {result.resumed} of {result.planned} probes taken from "
                         "the checkpoint")
    errors = result.errors
    run.notes.extend(errors[:_MAX_NOTED_ERRORS])
    if len(errors) > _MAX_NOTED_ERRORS:
        run.notes.append(f"… and {len(errors) - _MAX_NOTED_ERRORS} more failed probes")
    run.extra["soak"] = {"planned": result.planned, "resumed": result.resumed,
                         "available": available, "checkpoint":
                             run.raw_path("soak-checkpoint.jsonl").name}


KIND = TrialKind(
    name="soak", spec=SoakSpec, measure=measure, metrics=soak_units,
    summary="hours of periodic throughput/latency probes, resumable",
    series=lambda spec: ["soak.throughput"])
