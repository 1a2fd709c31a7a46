"""Decimation that keeps spikes: the min/max envelope of a series per pixel bucket.

A 24 h soak at 1 Hz has 86,400 points per line, which matplotlib draws slowly and no screen or
page can show. Cutting the series into ~1,000 consecutive buckets (about one per pixel
column of the plot's axis) and keeping each bucket's minimum and maximum, at their own
times, draws the same picture: a single-sample spike or dip is its bucket's max or min, so
it is always kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.report.plots.base import FloatArray

#: Buckets per line: about the pixel columns of the axis (~6.5 in at 150 dpi). More only adds
#: vertices: the PDF draws every one of them (WeasyPrint spent 5 s on a 24 h soak's at 2,000).
BUCKETS = 1000
#: Series longer than this are decimated (2 points per bucket).
MAX_POINTS = 2 * BUCKETS

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Envelope:
    """Per bucket: its first index into the series, and the index of its min and of its max."""

    starts: IntArray
    argmin: IntArray
    argmax: IntArray

    @property
    def size(self) -> int:
        """Number of buckets."""
        return len(self.starts)


def bucket_starts(n: int, buckets: int) -> IntArray:
    """First index of each of `min(n, buckets)` consecutive, non-empty, near-equal buckets."""
    count = max(1, min(n, buckets))
    return np.unique(np.linspace(0, n, count + 1).astype(np.int64)[:-1])


def envelope(values: FloatArray, buckets: int = BUCKETS) -> Envelope:
    """The min/max envelope of `values` (non-empty) over `buckets` consecutive buckets.

    Vectorised: minimum/maximum per bucket with `reduceat`, then the first index in each
    bucket where the value equals that extreme.
    """
    n = len(values)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Envelope(empty, empty, empty)
    starts = bucket_starts(n, buckets)
    lows = np.minimum.reduceat(values, starts)
    highs = np.maximum.reduceat(values, starts)
    sizes = np.diff(np.append(starts, n))
    return Envelope(starts, _first_equal(values, np.repeat(lows, sizes), starts),
                    _first_equal(values, np.repeat(highs, sizes), starts))


def _first_equal(values: FloatArray, target: FloatArray, starts: IntArray) -> IntArray:
    """Per bucket, the first index where `values` equals the bucket's `target` value."""
    hits = np.flatnonzero(values == target)
    return hits[np.searchsorted(hits, starts)]


def decimate(times: FloatArray, values: FloatArray,
             max_points: int = MAX_POINTS) -> tuple[FloatArray, FloatArray]:
    """At most ~`max_points` points: each bucket's min and max, kept in time order.

    A series at or under `max_points` is returned as it is.
    """
    n = len(times)
    if n <= max_points:
        return times, values
    env = envelope(values, max(1, max_points // 2))
    keep = np.unique(np.concatenate((env.argmin, env.argmax)))  # sorted: time order
    return times[keep], values[keep]
