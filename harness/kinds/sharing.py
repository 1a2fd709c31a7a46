"""`sharing`: multi-operator RAN sharing (MOCN), each PLMN's throughput share and isolation.

The algorithm is harness/measure/sharing.py. Operators are (UE host, DN host) pairs of the lab;
each UE host's `plmn:` names its operator, and the trial's `shares:` (keyed by PLMN) gives the
configured shares, so the metric names (`sharing.plmn_452_02.share`…) are known from the spec
and checked against the criteria before anything runs. With no criteria, the trial is judged
by harness/measure/sharing.py's DEFAULT_CRITERIA.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, cast

from pydantic import Field, model_validator

from harness.base.sample import Sample
from harness.base.schema import FieldError, Identifier, NonEmptyStr, StrictModel
from harness.kinds import TrialKind
from harness.kinds.base import Bitrate, KindRun, PlanContext, TrialBase
from harness.kinds.sharing_run import SharingOptions, operators_on_bench, run_sharing
from harness.kinds.throughput import Protocol as IpProtocol
from harness.measure.sharing import DEFAULT_CRITERIA, metric_names


class OperatorLeg(StrictModel):
    """One operator's traffic path: its UE-side host (whose plmn: names it) and DN host."""

    ue: Identifier
    dn: Identifier


class SharingSpec(TrialBase):
    """Concurrent traffic per PLMN through one gNodeB (`via`)."""

    kind: Literal["sharing"]
    via: Identifier
    operators: Annotated[list[OperatorLeg], Field(min_length=2)]
    shares: dict[NonEmptyStr, Annotated[float, Field(gt=0, le=1)]]
    victim: NonEmptyStr | None = None
    direction: Literal["dl", "ul"] = "dl"
    protocol: IpProtocol = "tcp"
    streams: Annotated[int, Field(ge=1, le=128)] = 4
    bitrate: Bitrate | None = None  # UDP: each operator's offered rate (above its share)
    capacity: Bitrate | None = None  # the cell's capacity; default estimated

    @model_validator(mode="before")
    @classmethod
    def _default_criteria(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("criteria"):
            return {**data, "criteria": list(DEFAULT_CRITERIA)}
        return data

    @model_validator(mode="after")
    def _checks(self) -> SharingSpec:
        if self.protocol == "udp" and self.bitrate is None:
            raise FieldError("a UDP sharing trial needs each operator's offered rate: add "
                             "e.g. bitrate: 200 Mbit/s (above its share)", at=("protocol",))
        if sum(self.shares.values()) > 1 + 1e-9:
            raise FieldError("the shares add up to more than 1", at=("shares",))
        if self.victim is not None and self.victim not in self.shares:
            raise FieldError(f"victim {self.victim} is not a PLMN of shares "
                             f"({', '.join(self.shares)})", at=("victim",))
        if len(self.operators) != len(self.shares):
            raise FieldError(f"{len(self.operators)} operators but {len(self.shares)} shares: "
                             "give one share per operator's PLMN", at=("shares",))
        for field in ("ue", "dn"):
            names = [getattr(o, field) for o in self.operators]
            if len(set(names)) != len(names):
                raise FieldError(f"each operator needs its own {field} host", at=("operators",))
        return self

    def devices(self) -> set[str]:
        """The gNodeB and every operator's hosts."""
        return super().devices() | {n for o in self.operators for n in (o.ue, o.dn)}


def sharing_units(spec: TrialBase) -> Mapping[str, str]:
    """Metrics of a sharing trial over the PLMNs of its `shares:`."""
    s = cast(SharingSpec, spec)
    units: dict[str, str] = {}
    for name in metric_names(list(s.shares)):
        unit = "%" if name.endswith(("share", "share_error", "isolation", "share_error.max")) \
            else "Mbit/s"
        units[name] = unit
    return units


def check_lab(spec: TrialBase, ctx: PlanContext) -> list[tuple[tuple[str | int, ...], str]]:
    """Each operator's hosts exist with the right roles and each UE host's PLMN has a share."""
    s, lab = cast(SharingSpec, spec), ctx.lab
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for i, leg in enumerate(s.operators):
        for field, role in (("ue", "ue-host"), ("dn", "dn-host")):
            name = getattr(leg, field)
            device = lab.devices.get(name)
            if device is None:
                problems.append((("operators", i, field), f"no device '{name}' in the lab "
                                 f"(devices: {', '.join(lab.devices)})"))
            elif device.role != role:
                problems.append((("operators", i, field),
                                 f"device '{name}' is a {device.role}, not a {role}"))
        ue = lab.devices.get(leg.ue)
        if ue is not None and ue.role == "ue-host":
            if ue.plmn is None:
                problems.append((("operators", i, "ue"), f"UE host {leg.ue} has no plmn: in "
                                 "the lab: a sharing trial needs each UE host's PLMN"))
            elif ue.plmn not in s.shares:
                problems.append((("shares",), f"no share for PLMN {ue.plmn} (UE host "
                                 f"{leg.ue}): shares has {', '.join(s.shares)}"))
    return problems


async def measure(run: KindRun) -> None:
    """Run the alone and together phases and record every operator's throughput."""
    spec, t = cast(SharingSpec, run.spec), run.trial
    legs = [(o.ue, o.dn) for o in spec.operators]
    operators = operators_on_bench(run.bench, spec.via, legs, spec.shares)
    opts = SharingOptions(
        direction=spec.direction, protocol=spec.protocol, streams=spec.streams,
        duration_s=t.duration_s, omit_s=t.omit_s, bitrate_bps=spec.bitrate,
        victim=spec.victim, capacity_mbps=spec.capacity / 1e6 if spec.capacity else None,
        timeout_s=t.timeout_s)

    def keep(phase: str, plmn: str, raw: str) -> None:
        run.raw_path(f"{phase}.{plmn}.iperf3.json").write_text(raw, encoding="utf-8")

    result = await run_sharing(operators, opts, keep_raw=keep)
    run.metrics.update(result.metrics)
    run.exact.add("sharing.")  # whole-phase volume ratios (harness/judge/estimates.py)
    samples: list[Sample] = []
    for (phase, plmn), iperf in result.results.items():
        tags = {**run.tags, "phase": phase, "plmn": plmn, "direction": spec.direction}
        samples.extend(Sample(int((iperf.start_unix_s + i.end_s) * 1e9), "sharing", dict(tags),
                              {"bits_per_second": i.bits_per_second, "omitted": i.omitted})
                       for i in iperf.intervals)
    run.emit(samples)
    if result.capacity_estimated:
        run.notes.append(f"cell capacity estimated from the together phase: "
                         f"{result.capacity_mbps:.1f} Mbit/s (Σ throughput / Σ shares)")
    run.extra["sharing"] = {"victim": result.victim, "alone": result.alone,
                            "together": result.together,
                            "capacity_mbps": result.capacity_mbps,
                            "capacity_estimated": result.capacity_estimated}


KIND = TrialKind(
    name="sharing", spec=SharingSpec, measure=measure, metrics=sharing_units,
    summary="multi-operator RAN sharing: each PLMN's throughput share and isolation",
    needs_hosts=False, check_lab=check_lab)
