"""RFC 2544 §26.1 throughput: half-interval search for the highest zero-loss rate (no I/O).

Rates are L2 frame bit rates (`harness.measure.probe`). The search tries the maximum rate,
then halves the interval between the highest passing and the lowest failing rate until they are
one resolution apart or the iterations run out; then it confirms the found rate with a
full-length trial, as the RFC wants the final figure from one (search trials may be shorter).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from harness.base.errors import ConfigError, MeasurementError
from harness.measure.probe import FrameSpec, Probe, ProbeResult, check_rate

MAX_ITERATIONS = 64


@dataclass(frozen=True)
class SearchOptions:
    """How to search for the zero-loss rate; rates are L2 frame bit rates in bit/s.

    The search stops when the highest passing and lowest failing rates are `resolution` apart
    (`resolution_bps`, or `resolution_percent` of `max_rate_bps`; default 1 %) or after
    `max_iterations` search trials. A trial passes when it lost no packet (or at most
    `loss_tolerance_percent`, RFC 2544 allows none) and the sender offered within
    `max_shortfall_percent` of the rate asked (a generator that cannot reach a rate proves
    nothing about it). `confirm_s` is the confirmation trial's length (default `trial_s`;
    the RFC asks for 60 s); a failed confirmation steps down one resolution, at most
    `max_confirmations` times in all. `confirm=False` skips it.
    """

    max_rate_bps: float
    min_rate_bps: float = 0.0
    resolution_bps: float | None = None
    resolution_percent: float | None = None
    max_iterations: int = 16
    trial_s: float = 10.0
    confirm: bool = True
    confirm_s: float | None = None
    max_confirmations: int = 2
    loss_tolerance_percent: float = 0.0
    max_shortfall_percent: float = 5.0
    ip_version: int = 4

    def __post_init__(self) -> None:
        check_rate(self.max_rate_bps, "max_rate")
        check_rate(self.min_rate_bps, "min_rate", allow_zero=True)
        if self.min_rate_bps >= self.max_rate_bps:
            raise ConfigError(f"min_rate ({self.min_rate_bps:g} bit/s) must be below max_rate "
                              f"({self.max_rate_bps:g} bit/s)", field="min_rate")
        if self.resolution_bps is not None and self.resolution_percent is not None:
            raise ConfigError("give resolution in bit/s or in percent of max_rate, not both",
                              field="resolution")
        if self.resolution_bps is not None:
            check_rate(self.resolution_bps, "resolution")
        if self.resolution_percent is not None and not 0 < self.resolution_percent <= 50:
            raise ConfigError(f"expected a resolution of more than 0 and at most 50 % of "
                              f"max_rate, got {self.resolution_percent:g} %", field="resolution")
        if not 1 <= self.max_iterations <= MAX_ITERATIONS:
            raise ConfigError(f"expected 1..{MAX_ITERATIONS} iterations, got "
                              f"{self.max_iterations}", field="max_iterations")
        for name in ("trial_s", "confirm_s"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"expected a duration > 0 s, got {value!r}", field=name)
        if self.max_confirmations < 1:
            raise ConfigError(f"expected at least 1, got {self.max_confirmations}",
                              field="max_confirmations")
        for name in ("loss_tolerance_percent", "max_shortfall_percent"):
            value = getattr(self, name)
            if not 0 <= value < 100:
                raise ConfigError(f"expected 0 to under 100 %, got {value!r}", field=name)
        FrameSpec(64, self.ip_version)  # validates the IP version

    @property
    def resolution(self) -> float:
        """The search's resolution in bit/s."""
        if self.resolution_bps is not None:
            return self.resolution_bps
        percent = self.resolution_percent if self.resolution_percent is not None else 1.0
        return self.max_rate_bps * percent / 100.0

    @property
    def confirm_duration_s(self) -> float:
        """How long the confirmation trial runs."""
        return self.confirm_s if self.confirm_s is not None else self.trial_s


@dataclass(frozen=True)
class Trial:
    """One probe run: the L2 rate asked, what the probe measured, and whether it passed."""

    rate_bps: float
    result: ProbeResult
    passed: bool
    reason: str  # "no loss", "loss", "sender short": why it passed or failed

    def to_json(self) -> dict[str, Any]:
        return {"rate_bps": self.rate_bps, "passed": self.passed, "reason": self.reason,
                **self.result.to_json()}


def judge_trial(rate_bps: float, result: ProbeResult, opts: SearchOptions) -> Trial:
    """Pass or fail one trial: zero loss (or within tolerance) at the rate asked."""
    if result.sent_packets <= 0:
        raise MeasurementError(f"the probe sent no packets at {rate_bps:g} bit/s: the traffic "
                               "generator did not run (check the path and the iperf3 server)")
    if result.offered_bps < rate_bps * (1 - opts.max_shortfall_percent / 100):
        return Trial(rate_bps, result, False, "sender short")
    if opts.loss_tolerance_percent == 0:
        lost = result.lost_packets > 0
    else:
        lost = result.loss_percent > opts.loss_tolerance_percent
    return Trial(rate_bps, result, not lost, "loss" if lost else "no loss")


@dataclass(frozen=True)
class SearchResult:
    """The outcome of a zero-loss search for one frame size.

    `outcome`: "found" (converged between a passing and a failing rate), "max_rate" (no loss
    even at the maximum), "loss_at_min" (loss even at the minimum: no throughput),
    "unconverged" (iterations ran out first; `throughput_bps` is the best rate that passed,
    if any), "unconfirmed" (the search found a rate but every confirmation trial lost frames:
    no throughput is published, `lower_bps` keeps the unconfirmed rate as history).
    `lower_bps`/`upper_bps` bracket the throughput: the highest rate that passed a search trial
    (None if none) and the lowest that failed (None if none). `throughput_bps` is set only
    for a rate that passed its confirmation (or the search's, with confirmation turned off).
    """

    frame: FrameSpec
    outcome: str
    throughput_bps: float | None
    confirmed: bool
    lower_bps: float | None
    upper_bps: float | None
    resolution_bps: float
    trials: tuple[Trial, ...]
    confirmations: tuple[Trial, ...] = ()

    @property
    def iterations(self) -> int:
        """Search trials run (the confirmation trials are not counted)."""
        return len(self.trials)

    @property
    def converged(self) -> bool:
        """True when the throughput is known to within the resolution."""
        return self.outcome in ("found", "max_rate", "loss_at_min")

    def history(self) -> list[dict[str, Any]]:
        """Every trial in order (search, then confirmation): rate, loss, verdict."""
        return [{"phase": phase, "rate_bps": t.rate_bps, "offered_bps": t.result.offered_bps,
                 "loss_percent": t.result.loss_percent, "lost_packets": t.result.lost_packets,
                 "passed": t.passed, "reason": t.reason}
                for phase, trials in (("search", self.trials),
                                      ("confirmation", self.confirmations)) for t in trials]

    def history_text(self) -> str:
        """The history in one line: `rate Mbit/s → loss %` per trial, by phase."""
        def one(t: Trial) -> str:
            return f"{t.rate_bps / 1e6:.4g} Mbit/s → {t.result.loss_percent:.3g} % ({t.reason})"
        text = "search: " + ", ".join(one(t) for t in self.trials)
        if self.confirmations:
            text += "; confirmations: " + ", ".join(one(t) for t in self.confirmations)
        return text

    @property
    def generator_limited(self) -> bool:
        """True when some trial failed because the sender could not offer the rate asked."""
        return any(t.reason == "sender short" for t in (*self.trials, *self.confirmations))

    def to_json(self) -> dict[str, Any]:
        """The search, every trial included, as stored with the run."""
        rates = self.frame.rates(self.throughput_bps) if self.throughput_bps is not None else None
        return {"frame": self.frame.to_json(), "outcome": self.outcome,
                "throughput": rates, "confirmed": self.confirmed,
                "lower_bps": self.lower_bps, "upper_bps": self.upper_bps,
                "resolution_bps": self.resolution_bps, "iterations": self.iterations,
                "generator_limited": self.generator_limited,
                "trials": [t.to_json() for t in self.trials],
                "confirmations": [t.to_json() for t in self.confirmations],
                "history": self.history()}


async def zero_loss_search(probe: Probe, frame_size: int, opts: SearchOptions) -> SearchResult:
    """RFC 2544 §26.1 throughput: half-interval search for the highest zero-loss rate.

    Tries `max_rate_bps` first (done if it passes), then halves the interval between the
    highest passing rate (initially `min_rate_bps`, untested) and the lowest failing one. If
    nothing passed once the interval is within the resolution, `min_rate_bps` itself is tried.
    Then confirms the found rate with a `confirm_duration_s` trial (see `SearchOptions`).
    """
    frame = FrameSpec(frame_size, opts.ip_version)
    resolution = opts.resolution
    trials: list[Trial] = []

    async def attempt(rate: float, duration: float) -> Trial:
        return judge_trial(rate, await probe(rate, frame_size, duration), opts)

    lower: float | None = None
    upper: float | None = None
    first = await attempt(opts.max_rate_bps, opts.trial_s)
    trials.append(first)
    if first.passed:
        lower = opts.max_rate_bps
    else:
        upper = opts.max_rate_bps
    while upper is not None and len(trials) < opts.max_iterations:
        floor = lower if lower is not None else opts.min_rate_bps
        if upper - floor <= resolution:
            if lower is not None or opts.min_rate_bps <= 0:
                break
            rate = opts.min_rate_bps  # nothing passed yet: does the minimum itself?
        else:
            rate = (floor + upper) / 2
        trial = await attempt(rate, opts.trial_s)
        trials.append(trial)
        if trial.passed:
            lower = rate
        else:
            upper = rate
        if rate == opts.min_rate_bps and not trial.passed:
            break
    outcome = _outcome(lower, upper, resolution, opts)
    result = SearchResult(frame, outcome, lower, False, lower, upper, resolution, tuple(trials))
    if not opts.confirm or lower is None:
        return result
    return await _confirm(result, attempt, opts)


def _outcome(lower: float | None, upper: float | None, resolution: float,
             opts: SearchOptions) -> str:
    if upper is None:
        return "max_rate"
    if lower is None:
        at_min = upper <= opts.min_rate_bps or (opts.min_rate_bps <= 0 and upper <= resolution)
        return "loss_at_min" if at_min else "unconverged"
    return "found" if upper - lower <= resolution else "unconverged"


async def _confirm(result: SearchResult, attempt: Callable[[float, float], Awaitable[Trial]],
                   opts: SearchOptions) -> SearchResult:
    """Run full-length trials at the found rate, stepping down one resolution on loss (at most
    `max_confirmations` trials); none passing → outcome "unconfirmed" and no throughput: a rate
    that lost frames in its full-length trial is not RFC 2544 §26.1's throughput."""
    rate = result.lower_bps
    confirmations: list[Trial] = []
    while rate is not None and len(confirmations) < opts.max_confirmations:
        trial = await attempt(rate, opts.confirm_duration_s)
        confirmations.append(trial)
        if trial.passed:
            return replace(result, throughput_bps=rate, confirmed=True,
                           confirmations=tuple(confirmations))
        next_rate = rate - result.resolution_bps
        rate = next_rate if next_rate >= opts.min_rate_bps and next_rate > 0 else None
    return replace(result, outcome="unconfirmed", throughput_bps=None,
                   confirmations=tuple(confirmations))
