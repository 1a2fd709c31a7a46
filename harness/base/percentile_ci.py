"""Distribution-free 95 % interval of a percentile from order statistics (DOMAIN.md §6).

For the empirical p-quantile of n samples, the interval is [x₍ₗ₎, x₍ᵤ₎] with ranks
l = ⌊n·p − w⌋ and u = ⌈n·p + w⌉, w = z₀.₉₇₅·√(n·p·(1 − p)) for independent samples. The count
of samples below the quantile is a sum of indicators; on an autocorrelated series (per-second
throughput, per-packet RTT) its variance is larger, so w is widened to n × the batch-means
half-width of the indicator series' mean (harness/base/batch_means.py) when that is wider.
When a rank falls outside 1..n (too few samples for this percentile: P5 needs n ≳ 110 for
independent samples, P99 n ≳ 380), or the indicator series gets no batch-means interval, there
is NO interval — a criterion on the percentile is then INCONCLUSIVE.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from harness.base.batch_means import batch_means_ci
from harness.base.stats import Z975, percentile


def percentile_ci(values: Sequence[float], q: float) -> tuple[float, float] | None:
    """95 % order-statistic interval of the empirical q-th percentile (0 < q < 100), or None."""
    arr = np.sort(np.asarray(values, dtype=float))
    n = arr.size
    if n < 2 or not 0 < q < 100 or not np.isfinite(arr).all():
        return None
    p = q / 100.0
    width = Z975 * math.sqrt(n * p * (1 - p))
    estimate = percentile(list(arr), q)
    indicators = (np.asarray(values, dtype=float) <= estimate).astype(float)
    if 0.0 < indicators.mean() < 1.0:
        dependent = batch_means_ci(list(indicators))
        if dependent is None:
            return None
        width = max(width, n * (dependent.high - dependent.low) / 2)
    low, high = math.floor(n * p - width), math.ceil(n * p + width)
    if low < 1 or high > n:
        return None
    return float(arr[low - 1]), float(arr[high - 1])
