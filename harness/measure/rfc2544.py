"""RFC 2544 benchmarks over a fixed-rate UDP probe: throughput, latency, frame loss (no I/O).

- Throughput (§26.1): the highest offered rate with zero loss, found by half-interval search
  between `min_rate_bps` and `max_rate_bps`; then a confirmation trial at the found rate, since
  the RFC wants the final figure from a full-length trial (search trials may be shorter). Only a
  confirmed rate is published; none confirmed → no throughput and an INCONCLUSIVE acceptance
  result with the search's history (`Rfc2544Result.acceptance`).
- Latency (§26.2): the probe's latency at the found rate (the confirmation trial plus
  `latency_trials` more), reported as their mean. iperf3 UDP measures none: wrap the probe with
  `harness.measure.probe.with_latency` to add one (e.g. irtt under the load).
- Frame loss (§26.3): from 100 % of the maximum rate down in steps of `step_percent` until two
  consecutive trials lose nothing.

Every rate here is an L2 frame bit rate (`harness.measure.probe`); results also report
frames/s, L1 line rate and L4 goodput. `run_rfc2544` does all three per frame size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.base.errors import ConfigError
from harness.base.units import Quantity
from harness.base.verdict import Verdict
from harness.judge.criteria import CriterionResult
from harness.measure.probe import RFC2544_FRAME_SIZES, FrameSpec, Probe
from harness.measure.rfc2544_search import (
    SearchOptions,
    SearchResult,
    Trial,
    judge_trial,
    zero_loss_search,
)

__all__ = ["FrameSizeResult", "LossCurve", "LossPoint", "Rfc2544Options", "Rfc2544Result",
           "SearchOptions", "SearchResult", "Trial", "frame_loss_curve", "judge_trial",
           "run_rfc2544", "zero_loss_search"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class LossPoint:
    """One frame-loss trial: the percentage of the maximum rate offered and the loss seen."""

    percent_of_max: float
    trial: Trial

    def to_json(self) -> dict[str, Any]:
        return {"percent_of_max": self.percent_of_max, **self.trial.to_json()}


@dataclass(frozen=True)
class LossCurve:
    """RFC 2544 §26.3 frame loss rate against offered load, from 100 % down."""

    frame: FrameSpec
    max_rate_bps: float
    points: tuple[LossPoint, ...]

    @property
    def complete(self) -> bool:
        """True when the curve ended on two consecutive zero-loss trials, as the RFC asks."""
        tail = self.points[-2:]
        return len(tail) == 2 and all(p.trial.result.lost_packets <= 0 for p in tail)

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.frame.to_json(), "max_rate_bps": self.max_rate_bps,
                "complete": self.complete, "points": [p.to_json() for p in self.points]}


async def frame_loss_curve(probe: Probe, frame_size: int, opts: SearchOptions, *,
                           step_percent: float = 10.0) -> LossCurve:
    """Frame loss at 100 %, 100 − step, ... of `max_rate_bps` until two trials lose nothing.

    At most ceil(100 / step_percent) trials; each lasts `opts.trial_s`.
    """
    if not 0 < step_percent <= 50:
        raise ConfigError(f"expected a step of more than 0 and at most 50 %, got "
                          f"{step_percent:g}", field="loss_curve.step")
    frame = FrameSpec(frame_size, opts.ip_version)
    points: list[LossPoint] = []
    clean = 0
    steps = math.ceil(100 / step_percent - 1e-9)
    for i in range(steps):
        percent = 100.0 - i * step_percent
        rate = opts.max_rate_bps * percent / 100
        result = await probe(rate, frame_size, opts.trial_s)
        trial = judge_trial(rate, result, opts)
        points.append(LossPoint(percent, trial))
        clean = clean + 1 if result.lost_packets <= 0 else 0
        if clean == 2:
            break
    return LossCurve(frame, opts.max_rate_bps, tuple(points))


@dataclass(frozen=True)
class FrameSizeResult:
    """RFC 2544 figures for one frame size: throughput search, latency there, loss curve."""

    search: SearchResult
    latency_ms: tuple[float, ...] = ()
    loss_curve: LossCurve | None = None

    @property
    def mean_latency_ms(self) -> float | None:
        """Mean of the latency trials at the throughput rate (RFC 2544 §26.2 reports the mean)."""
        return sum(self.latency_ms) / len(self.latency_ms) if self.latency_ms else None

    def to_json(self) -> dict[str, Any]:
        return {"search": self.search.to_json(), "latency_ms": list(self.latency_ms),
                "mean_latency_ms": self.mean_latency_ms,
                "loss_curve": self.loss_curve.to_json() if self.loss_curve else None}


@dataclass(frozen=True)
class Rfc2544Options:
    """A full RFC 2544 run: which frame sizes, how to search, latency and loss-curve trials."""

    search: SearchOptions
    frame_sizes: tuple[int, ...] = RFC2544_FRAME_SIZES
    latency_trials: int = 0
    loss_curve: bool = True
    loss_step_percent: float = 10.0

    def __post_init__(self) -> None:
        if not self.frame_sizes:
            raise ConfigError("expected at least one frame size", field="frame_sizes")
        if len(set(self.frame_sizes)) != len(self.frame_sizes):
            raise ConfigError(f"frame sizes repeat: {list(self.frame_sizes)}",
                              field="frame_sizes")
        for size in self.frame_sizes:
            FrameSpec(size, self.search.ip_version)
        if not 0 <= self.latency_trials <= 100:
            raise ConfigError(f"expected 0..100, got {self.latency_trials}",
                              field="latency_trials")


@dataclass(frozen=True)
class Rfc2544Result:
    """RFC 2544 results for every frame size, in the order run."""

    options: Rfc2544Options
    frames: tuple[FrameSizeResult, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """Everything, every trial included, with a format version."""
        return {"format_version": FORMAT_VERSION, "method": "RFC 2544",
                "rate_basis": "rates are L2 frame bit rates (frame with FCS, no preamble/IFG); "
                              "l1_bps adds 20 bytes per frame, l4_bps is the UDP payload",
                "frames": [f.to_json() for f in self.frames]}

    def metrics(self) -> dict[str, Quantity]:
        """Criteria-ready metrics per frame size N, named `rfc2544.<figure>.fN`.

        throughput (L2, Mbit/s), throughput_l1 (line rate, Mbit/s), goodput (L4, Mbit/s),
        frames_per_s, iterations, confirmed (1/0), latency (ms, when measured),
        frame_loss.fN.atP (loss % at P % of the maximum rate). A search that found no
        zero-loss rate, or whose rate lost frames in every confirmation trial, publishes no
        throughput figures (a criterion reading one cannot PASS); its acceptance says why.
        """
        out: dict[str, Quantity] = {}
        for fr in self.frames:
            s = fr.search
            tag = f"f{s.frame.frame_bytes}"
            if s.throughput_bps is not None:
                views = s.frame.rates(s.throughput_bps)
                out[f"rfc2544.throughput.{tag}"] = Quantity(views["l2_bps"] / 1e6, "Mbit/s")
                out[f"rfc2544.throughput_l1.{tag}"] = Quantity(views["l1_bps"] / 1e6,
                                                               "Mbit/s")
                out[f"rfc2544.goodput.{tag}"] = Quantity(views["l4_bps"] / 1e6, "Mbit/s")
                out[f"rfc2544.frames_per_s.{tag}"] = Quantity(views["frames_per_s"], "")
            out[f"rfc2544.iterations.{tag}"] = Quantity(float(s.iterations), "")
            out[f"rfc2544.confirmed.{tag}"] = Quantity(1.0 if s.confirmed else 0.0, "")
            latency = fr.mean_latency_ms
            if latency is not None:
                out[f"rfc2544.latency.{tag}"] = Quantity(latency, "ms")
            if fr.loss_curve is not None:
                for point in fr.loss_curve.points:
                    at = f"{point.percent_of_max:g}".replace(".", "_")
                    out[f"rfc2544.frame_loss.{tag}.at{at}"] = Quantity(
                        point.trial.result.loss_percent, "%")
        return out


    def acceptance(self) -> list[CriterionResult]:
        """Per frame size, whether the throughput stands: PASS for a rate confirmed by a
        full-length zero-loss trial (or, with confirmation off, by the search's), INCONCLUSIVE
        with the search's history when no rate was confirmed."""
        return [search_acceptance(fr.search, self.options.search) for fr in self.frames]


_SOURCE = ("RFC 2544 §26.1 (throughput: the highest rate at which no frame is lost; the "
           "final figure from a full-length trial)")


def search_acceptance(search: SearchResult, opts: SearchOptions) -> CriterionResult:
    """The built-in acceptance of one frame size's zero-loss search."""
    tag = f"f{search.frame.frame_bytes}"
    expr = f"rfc2544 {tag}: zero-loss throughput confirmed"
    history = search.history_text()
    rate = search.throughput_bps
    if rate is None:
        why = {"unconfirmed": f"every confirmation trial ({len(search.confirmations)}, "
                              f"{opts.confirm_duration_s:g} s each) lost frames",
               "loss_at_min": f"frames were lost even at the minimum rate "
                              f"({opts.min_rate_bps / 1e6:g} Mbit/s)"}.get(
            search.outcome, f"no rate passed ({search.outcome})")
        return CriterionResult(expr, None, None, Verdict.INCONCLUSIVE, _SOURCE,
                               f"no throughput published: {why}. {history}")
    observed = Quantity(rate / 1e6, "Mbit/s")
    if search.confirmed:
        detail = f"confirmed at {rate / 1e6:.4g} Mbit/s by a {opts.confirm_duration_s:g} s trial"
    else:
        detail = ("not confirmed (confirm: false): the figure comes from a search trial of "
                  f"{opts.trial_s:g} s")
    if not search.converged:
        detail += (f"; the search did not converge ({search.iterations} iterations): the figure "
                   "is a lower bound")
    return CriterionResult(expr, observed, None, Verdict.PASS, _SOURCE, f"{detail}. {history}")


async def run_rfc2544(probe: Probe, opts: Rfc2544Options) -> Rfc2544Result:
    """Throughput search, latency at the found rate and loss curve for each frame size."""
    results: list[FrameSizeResult] = []
    for size in opts.frame_sizes:
        search = await zero_loss_search(probe, size, opts.search)
        latency = await _latency(probe, size, search, opts)
        curve = (await frame_loss_curve(probe, size, opts.search,
                                        step_percent=opts.loss_step_percent)
                 if opts.loss_curve else None)
        results.append(FrameSizeResult(search, latency, curve))
    return Rfc2544Result(opts, tuple(results))


async def _latency(probe: Probe, size: int, search: SearchResult,
                   opts: Rfc2544Options) -> tuple[float, ...]:
    """Latencies at the throughput rate: the passing confirmation's (else the search trial's
    there), then `latency_trials` more trials."""
    rate = search.throughput_bps
    if rate is None:
        return ()
    at_rate = [t for t in search.confirmations if t.passed and t.rate_bps == rate]
    at_rate = at_rate or [t for t in search.trials if t.passed and t.rate_bps == rate][:1]
    samples = [t.result.latency_ms for t in at_rate]
    duration = opts.search.confirm_duration_s
    for _ in range(opts.latency_trials):
        samples.append((await probe(rate, size, duration)).latency_ms)
    return tuple(s for s in samples if s is not None)
