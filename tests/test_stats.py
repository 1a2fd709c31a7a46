"""Statistics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.base.batch_means import batch_means_ci
from harness.base.percentile_ci import percentile_ci
from harness.base.stats import (
    mean_interval,
    percentile,
    summarize,
    t_quantile_975,
    wilson_interval,
)


def test_summary_of_known_series() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s is not None
    assert (s.n, s.mean, s.median, s.min, s.max) == (5, 3.0, 3.0, 1.0, 5.0)
    assert s.std == pytest.approx(math.sqrt(2.5))
    assert s.p5 == 1.0 and s.p95 == 5.0  # empirical: the ⌈n·p⌉-th smallest sample
    assert summarize([]) is None


def test_percentiles_are_empirical_not_interpolated() -> None:
    """Regression (fails on the old code: numpy's interpolated P5 read 92.75 and passed a
    '≥ 95 % of samples ≥ 30 Mbit/s' reading of P5 ≥ 30)."""
    samples = [5.0] + [100.0 + i for i in range(9)]  # n = 10, one sample at 5 Mbit/s
    s = summarize(samples)
    assert s is not None and s.p5 == 5.0
    assert percentile(samples, 5) == 5.0 and percentile(samples, 10) == 5.0
    assert percentile(samples, 11) == 100.0
    assert s.median == percentile(samples, 50) == 103.0  # 5th smallest, not (103 + 104) / 2


@pytest.mark.parametrize(("df", "t"), [(1, 12.706), (4, 2.776), (30, 2.042), (60, 2.000),
                                       (120, 1.980)])
def test_t_table(df: int, t: float) -> None:
    assert t_quantile_975(df) == pytest.approx(t, abs=1e-3)


def test_t_interpolated_and_limit() -> None:
    assert 2.000 < t_quantile_975(50) < 2.021
    assert t_quantile_975(10**6) == pytest.approx(1.96, abs=1e-3)
    with pytest.raises(ValueError):
        t_quantile_975(0)


def test_mean_interval_hand_computed() -> None:
    # mean 10, s = 1, n = 5 → ± 2.776 / sqrt(5) = ± 1.2415
    interval = mean_interval([9.0, 9.0, 10.0, 11.0, 11.0])
    assert interval is not None
    assert interval[0] == pytest.approx(10 - 1.2415, abs=1e-3)
    assert interval[1] == pytest.approx(10 + 1.2415, abs=1e-3)
    assert mean_interval([1.0]) is None


def test_batch_means_uses_blocks() -> None:
    series = [float(i % 2) for i in range(100)]  # alternating: negatively correlated samples
    ci = batch_means_ci(series)
    assert ci is not None and ci.batch_size == 1  # r1 = −1 is no reason to batch: conservative
    assert ci.low < 0.5 < ci.high
    assert batch_means_ci([1.0] * 4) is None


def test_percentile_interval_by_order_statistics() -> None:
    rng = np.random.default_rng(3)
    values = list(rng.permutation(np.arange(1.0, 21.0)))  # 1..20 in random order
    ci = percentile_ci(values, 50)
    assert ci is not None
    # ranks 10 ± 1.96·√5 → x(5) .. x(15) for independent samples; dependence only widens it
    assert ci[0] <= 5.0 and ci[1] >= 15.0 and ci[0] < percentile(values, 50) < ci[1]
    assert percentile_ci(values[:12], 5) is None  # rank n·p − w < 1: too few for a P5


@pytest.mark.parametrize(("phi", "q"), [(0.0, 50.0), (0.8, 50.0), (0.0, 95.0), (0.5, 95.0)])
def test_percentile_interval_coverage_on_ar1(phi: float, q: float) -> None:
    """n = 300. Not covered: P95 at φ = 0.8 (measured: 91 % of given intervals cover, 42 % of
    series get none — the tail's indicators are too sparse and correlated)."""
    rng = np.random.default_rng(11)
    sd = 1 / math.sqrt(1 - phi * phi)
    truth = sd * {50.0: 0.0, 95.0: 1.6448536}[q]
    covered = refused = 0
    for _ in range(300):
        e = rng.standard_normal(300)
        x = np.empty(300)
        x[0] = e[0] * sd
        for i in range(1, 300):
            x[i] = phi * x[i - 1] + e[i]
        ci = percentile_ci(list(x), q)
        if ci is None:
            refused += 1
        else:
            covered += ci[0] <= truth <= ci[1]
    assert covered / (300 - refused) >= 0.92 and refused <= 30


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(95, 100) or (0, 0)
    assert lo == pytest.approx(0.8882, abs=1e-3) and hi == pytest.approx(0.9785, abs=1e-3)
    lo0, hi0 = wilson_interval(0, 100) or (1, 1)
    assert lo0 == 0.0 and hi0 == pytest.approx(0.037, abs=1e-3)  # ~3/n rule
    assert wilson_interval(0, 0) is None
