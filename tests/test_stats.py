"""Statistics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from harness.measure.stats import (
    batch_means_interval,
    mean_interval,
    summarize,
    t_quantile_975,
    wilson_interval,
)


def test_summary_of_known_series() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s is not None
    assert (s.n, s.mean, s.median, s.min, s.max) == (5, 3.0, 3.0, 1.0, 5.0)
    assert s.std == pytest.approx(math.sqrt(2.5))
    assert s.p5 == pytest.approx(1.2)
    assert summarize([]) is None


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
    series = [float(i % 2) for i in range(100)]  # alternating: block means all 0.5
    lo, hi = batch_means_interval(series, batches=10) or (0, 0)
    assert lo == pytest.approx(0.5) and hi == pytest.approx(0.5)
    assert batch_means_interval([1.0] * 5, batches=10) is None


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(95, 100) or (0, 0)
    assert lo == pytest.approx(0.8882, abs=1e-3) and hi == pytest.approx(0.9785, abs=1e-3)
    lo0, hi0 = wilson_interval(0, 100) or (1, 1)
    assert lo0 == 0.0 and hi0 == pytest.approx(0.037, abs=1e-3)  # ~3/n rule
    assert wilson_interval(0, 0) is None
