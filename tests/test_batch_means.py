"""Coverage of the batch-means interval on autocorrelated series (fixed seed), and the cases
where it must refuse to give one."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness.base.batch_means import MIN_BATCHES, batch_means_ci, batch_sizes
from harness.base.stats import mean_interval

REPS = 1000


def _ar1(rng: np.random.Generator, n: int, phi: float) -> list[float]:
    """A stationary AR(1) series of mean 0 and unit innovations."""
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / math.sqrt(1 - phi * phi)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return list(x)


def _coverage(n: int, phi: float) -> tuple[float, float]:
    """(share of given intervals covering the true mean 0, share of series with none)."""
    rng = np.random.default_rng(20240)
    covered = refused = 0
    for _ in range(REPS):
        ci = batch_means_ci(_ar1(rng, n, phi))
        if ci is None:
            refused += 1
        else:
            covered += ci.low <= 0.0 <= ci.high
    return covered / max(1, REPS - refused), refused / REPS


@pytest.mark.parametrize("n", [60, 120, 300])
@pytest.mark.parametrize("phi", [0.0, 0.5, 0.8])
def test_coverage_of_the_nominal_95_percent(n: int, phi: float) -> None:
    coverage, refused = _coverage(n, phi)
    assert coverage >= 0.93, f"n={n} φ={phi}: {coverage:.3f} covered"
    # refusing is no way out of the coverage requirement: at n ≥ 60 nearly every series has one
    assert refused <= (0.02 if n >= 120 else 0.05), f"n={n} φ={phi}: {refused:.3f} refused"


def _old_ten_batches(series: list[float]) -> tuple[float, float] | None:
    """The method before issue 9: always 10 batches, trailing samples dropped."""
    size = len(series) // 10
    arr = np.asarray(series[: size * 10]).reshape(10, size)
    return mean_interval(arr.mean(axis=1).tolist())


def test_old_fixed_ten_batches_undercover_and_the_new_method_does_not() -> None:
    """Regression (fails on the old code, which had only the 10-batch scheme): AR(1) φ = 0.8,
    n = 30 — about 3 independent samples' worth."""
    rng = np.random.default_rng(7)
    series = [_ar1(rng, 30, 0.8) for _ in range(REPS)]
    old = [ci for s in series if (ci := _old_ten_batches(s)) is not None]
    old_coverage = sum(lo <= 0.0 <= hi for lo, hi in old) / len(old)
    assert old_coverage < 0.80  # what the issue measured: 70 %
    new = [ci for s in series if (ci := batch_means_ci(s)) is not None]
    coverage = sum(ci.low <= 0.0 <= ci.high for ci in new) / len(new)
    refused = 1 - len(new) / REPS
    assert coverage >= 0.90 and refused <= 0.15, (coverage, refused)
    # a confident interval that misses: 30 % of series before, under 10 % now
    assert (len(new) - sum(ci.low <= 0.0 <= ci.high for ci in new)) / REPS < 0.10


def test_every_sample_is_used_the_first_batch_takes_the_remainder() -> None:
    series = [float(i % 2) for i in range(23)]  # alternating: r1 of single samples is −1
    ci = batch_means_ci(series)
    assert ci is not None
    assert ci.batch_size * (ci.batches - 1) + ci.first_batch == 23
    assert ci.mean == pytest.approx(sum(series) / 23)


def test_no_interval_when_no_batch_size_is_uncorrelated() -> None:
    ramp = [float(i) for i in range(19)]  # a drift: batch means stay correlated at every size
    assert batch_means_ci(ramp) is None
    # a longer drift gets an interval only with its variance inflated past the data's range
    wide = batch_means_ci([float(i) for i in range(40)])
    assert wide is None or (wide.low < 0.0 and wide.high > 39.0)
    assert batch_means_ci([1.0, 2.0, 3.0, 4.0]) is None  # fewer than 5 batches of one sample
    assert batch_means_ci([1.0, float("nan")] * 10) is None


def test_batch_sizes_leave_five_batches() -> None:
    sizes = batch_sizes(100)
    assert sizes[0] == 1 and all(100 // b >= MIN_BATCHES for b in sizes)
    assert all(b2 >= b1 * 1.25 or b2 == b1 + 1 for b1, b2 in itertools.pairwise(sizes))


def test_constant_series_has_a_zero_width_interval() -> None:
    ci = batch_means_ci([5.0] * 12)
    assert ci is not None and (ci.low, ci.high) == (5.0, 5.0)
