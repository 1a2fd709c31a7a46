"""Descriptive statistics of a series, as a report states them (numpy does the work).

Percentiles (p5, median, p95, p99) are EMPIRICAL, non-interpolated: the smallest sample x such
that at least a fraction p of the samples are ≤ x (the inverted CDF, numpy
`method="inverted_cdf"`, Hyndman & Fan definition 1). An interpolated percentile is not what
regulators count: with n = 10 and one sample at 5 Mbit/s, numpy's default P5 reads 92.75.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PERCENTILE_METHOD = "inverted_cdf"
PERCENTILE_DEFINITION = "empirical percentile (inverted CDF, not interpolated)"
PERCENTILES = {"p5": 5.0, "median": 50.0, "p95": 95.0, "p99": 99.0}
"""Percentile statistics by the suffix metrics carry (`throughput.p5`, `rtt.median`, …)."""


def percentile(values: Sequence[float], q: float) -> float:
    """The empirical q-th percentile (0 < q ≤ 100): the ⌈n·q/100⌉-th smallest sample."""
    if not values:
        raise ValueError("a percentile needs at least one value")
    return float(np.percentile(np.asarray(values, dtype=float), q, method="inverted_cdf"))


@dataclass(frozen=True)
class Summary:
    """N, mean, median, percentiles, extremes and standard deviation of a series."""

    n: int
    mean: float
    median: float
    p5: float
    p95: float
    p99: float
    min: float
    max: float
    std: float

    def as_dict(self) -> dict[str, float]:
        """Statistic name → value (n as a float too, for uniform handling)."""
        return {"mean": self.mean, "median": self.median, "p5": self.p5, "p95": self.p95,
                "p99": self.p99, "min": self.min, "max": self.max, "std": self.std,
                "samples": float(self.n)}


def summarize(values: Sequence[float]) -> Summary | None:
    """Statistics of `values`; None when there are none. std is the sample (n-1) deviation;
    percentiles are empirical (inverted CDF)."""
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    p5, p50, p95, p99 = np.percentile(arr, [5, 50, 95, 99], method="inverted_cdf")
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return Summary(n=int(arr.size), mean=float(arr.mean()), median=float(p50), p5=float(p5),
                   p95=float(p95), p99=float(p99), min=float(arr.min()), max=float(arr.max()),
                   std=std)


# Two-sided 97.5 % quantiles of Student's t for df = 1..30, then by interpolation in 1/df.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_T975_LARGE = ((40, 2.021), (60, 2.000), (120, 1.980))
Z975 = 1.959964


def t_quantile_975(df: int) -> float:
    """t₀.₉₇₅ with `df` degrees of freedom (table to 30, then interpolated in 1/df to z)."""
    if df < 1:
        raise ValueError("a t quantile needs at least 1 degree of freedom")
    if df <= 30:
        return _T975[df - 1]
    points = [(30, _T975[-1]), *_T975_LARGE]
    for (d0, t0), (d1, t1) in itertools.pairwise(points):
        if df <= d1:
            w = (1 / df - 1 / d0) / (1 / d1 - 1 / d0)
            return t0 + w * (t1 - t0)
    d0, t0 = points[-1]
    w = (1 / df) / (1 / d0)
    return Z975 + w * (t0 - Z975)


def mean_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """95 % t-interval of the mean of independent values (e.g. one per repetition); None if n<2."""
    if len(values) < 2:
        return None
    arr = np.asarray(values, dtype=float)
    half = t_quantile_975(arr.size - 1) * float(arr.std(ddof=1)) / np.sqrt(arr.size)
    centre = float(arr.mean())
    return centre - half, centre + half


def wilson_interval(successes: int, n: int, z: float = Z975) -> tuple[float, float] | None:
    """Wilson score interval of a success rate; None when n is 0."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * float(np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
