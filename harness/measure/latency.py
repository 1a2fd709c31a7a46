"""Latency statistics shared by irtt and ping results: RTT summary, IPDV, RFC 3550 jitter, and
Y.1564 frame delay variation (pure)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from harness.base.stats import summarize
from harness.base.units import Quantity


def rfc3550_jitter(values_ms: Sequence[float | None]) -> float | None:
    """RFC 3550 §6.4.1 interarrival jitter over consecutive delays (lost packets skipped):
    J += (|D(i-1, i)| − J) / 16, starting at 0; None with fewer than two delays.

    With round-trip times the transit-time difference D is the change of RTT between two
    consecutive packets that both came back (the RTT's clock offset cancels, as in RFC 3550).
    """
    jitter = 0.0
    previous: float | None = None
    steps = 0
    for value in values_ms:
        if value is None:
            continue
        if previous is not None:
            jitter += (abs(value - previous) - jitter) / 16.0
            steps += 1
        previous = value
    return jitter if steps else None


FDV_QUANTILE = 0.99
"""Y.1564 FDV is read at this quantile of (delay − minimum delay); see `frame_delay_variation`."""


def frame_delay_variation(delays_ms: Sequence[float | None],
                          quantile: float = FDV_QUANTILE) -> float | None:
    """Frame delay variation as ITU-T Y.1564 uses it: each frame's delay minus the minimum delay
    of the step (ITU-T Y.1563's 2-point delay variation with the minimum as reference, the form
    Y.1541 bounds as an upper quantile minus the minimum), read at the nearest-rank `quantile`
    (P99 by default; the max with fewer than 100 frames). Lost frames (None) are skipped; None
    with fewer than two delays. Unlike RFC 3550 jitter, a smoothed mean of consecutive
    differences, it does not understate a slow swing of the delay: a step whose delay ranges
    over 10 ms has an FDV of about 10 ms.
    """
    values = sorted(v for v in delays_ms if v is not None)
    if len(values) < 2:
        return None
    rank = max(1, math.ceil(quantile * len(values)))  # nearest rank, 1-based
    return values[rank - 1] - values[0]


def ipdv_ms(values_ms: Sequence[float | None]) -> list[float]:
    """|IPDV| (RFC 5481) between consecutive packets that both came back."""
    out: list[float] = []
    for a, b in itertools.pairwise(values_ms):
        if a is not None and b is not None:
            out.append(abs(b - a))
    return out


def latency_metrics(rtts_ms: Sequence[float | None], loss_percent: float,
                    ipdvs_ms: Sequence[float] | None = None) -> dict[str, Quantity]:
    """`rtt.min/mean/median/p95/p99/max/std/samples`, `ipdv.mean/p95/max`, `jitter.rfc3550`,
    `loss.percent` of one latency run (RTTs in sending order; None for a lost packet)."""
    metrics: dict[str, Quantity] = {"loss.percent": Quantity(loss_percent, "%")}
    stats = summarize([v for v in rtts_ms if v is not None])
    if stats is not None:
        for name, value in stats.as_dict().items():
            metrics[f"rtt.{name}"] = Quantity(value, "" if name == "samples" else "ms")
    ipdv = summarize(list(ipdvs_ms) if ipdvs_ms is not None else ipdv_ms(rtts_ms))
    if ipdv is not None:
        metrics["ipdv.mean"] = Quantity(ipdv.mean, "ms")
        metrics["ipdv.p95"] = Quantity(ipdv.p95, "ms")
        metrics["ipdv.max"] = Quantity(ipdv.max, "ms")
    jitter = rfc3550_jitter(rtts_ms)
    if jitter is not None:
        metrics["jitter.rfc3550"] = Quantity(jitter, "ms")
    return metrics


LATENCY_UNITS: dict[str, str] = {
    **{f"rtt.{s}": "ms" for s in ("min", "mean", "median", "p5", "p95", "p99", "max", "std")},
    "rtt.samples": "", "ipdv.mean": "ms", "ipdv.p95": "ms", "ipdv.max": "ms",
    "jitter.rfc3550": "ms", "loss.percent": "%",
}
"""Every metric `latency_metrics` may produce, with its unit (for plan-time criteria checks)."""
