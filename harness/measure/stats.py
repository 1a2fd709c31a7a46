"""Descriptive statistics of a series, as a report states them (numpy does the work)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


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
    """Statistics of `values`; None when there are none. std is the sample (n-1) deviation."""
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    p5, p50, p95, p99 = np.percentile(arr, [5, 50, 95, 99])
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return Summary(n=int(arr.size), mean=float(arr.mean()), median=float(p50), p5=float(p5),
                   p95=float(p95), p99=float(p99), min=float(arr.min()), max=float(arr.max()),
                   std=std)
