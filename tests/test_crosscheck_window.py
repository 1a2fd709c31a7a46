"""UE/gNodeB cross-check over the UE's measured window (omit excluded), and its verdict."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from drivers.capabilities import KpiReading
from harness.base.units import Quantity
from harness.base.verdict import Verdict
from harness.base.window import MeasuredWindow
from harness.config.monitors import CrosscheckSettings
from harness.monitors import MonitorGroup, TrialScope
from harness.monitors.crosscheck import (
    SOURCE,
    CounterPoint,
    CrosscheckMonitor,
    effective_tolerance,
    interpolate,
    traffic_start,
    window_volume,
)

S = 1_000_000_000  # ns


def _traffic(start_s: float, stop_s: float, rate: float, polls: Sequence[float]
             ) -> list[CounterPoint]:
    """Counter readings at `polls` (s) of traffic at `rate` B/s from start_s to stop_s."""
    return [CounterPoint(round(t * S), rate * min(max(0.0, t - start_s), stop_s - start_s))
            for t in polls]


def test_window_excludes_the_omit_and_matches_the_ue_window() -> None:
    # 1 s omitted + 3 s measured at 100 MB/s; traffic from t=10.0 s to 14.0 s, polled every
    # 5 ms until it starts and every 100 ms after; the last reading after the tool returned.
    polls = [9.5 + 0.005 * i for i in range(101)]
    polls += [polls[-1] + 0.1 * i for i in range(1, 40)] + [14.35]
    points = _traffic(10.0, 14.0, 100e6, polls)
    window = MeasuredWindow(start_s=1.0, end_s=4.0, bytes=300_000_000,
                            omitted_bytes=100_000_000)
    placed = window_volume(points, window)
    assert not isinstance(placed, str) and placed is not None
    assert placed.bytes == pytest.approx(300e6, rel=0.005)
    assert placed.start_ns == pytest.approx(11 * S, abs=0.006 * S)
    # the old arithmetic (last reading − first) took the omitted second in: 4/3 of the UE
    assert points[-1].bytes - points[0].bytes == pytest.approx(400e6)


def test_start_is_found_inside_the_pair_where_the_counter_rose() -> None:
    points = _traffic(1.03, 5.0, 1e6, [0.9, 1.0, 1.1, 1.2, 1.3])
    start = traffic_start(points)
    assert start is not None and start == pytest.approx(1.03 * S, abs=1e6)
    # control bytes below the threshold are not the traffic
    quiet = [CounterPoint(0, 0.0), CounterPoint(S // 10, 300.0), CounterPoint(S // 5, 600.0)]
    assert traffic_start(quiet) is None


def test_edges_inside_a_pair_follow_the_neighbouring_rate() -> None:
    # traffic stops at 4.02 s, between readings at 4.0 and 4.1: the counter at 4.05 is the
    # stop value, not a line through the gap
    points = _traffic(0.0, 4.02, 1e6, [3.8, 3.9, 4.0, 4.1, 4.2])
    assert interpolate(points, round(4.05 * S)) == pytest.approx(4.02e6)
    assert interpolate(points, round(4.01 * S)) == pytest.approx(4.01e6)
    assert interpolate(points, round(3.85 * S)) == pytest.approx(3.85e6)


def test_lab_tolerance_applies_unless_the_scenario_sets_one() -> None:
    assert effective_tolerance(CrosscheckSettings(), None) == 5.0
    assert effective_tolerance(CrosscheckSettings(), 2.0) == 2.0
    assert effective_tolerance(CrosscheckSettings.model_validate({"tolerance": "3%"}), 2.0) == 3


class OvercountingGnb:
    """KpiSource stand-in for a gNodeB whose volume counter counts `factor` × what it carried
    (a miscounting PDCP counter, or traffic from elsewhere in the cell: faults the simulated
    gNodeB cannot produce). It carries `rate` B/s between `start()` and `stop()`."""

    def __init__(self, rate: float, factor: float) -> None:
        self.rate, self.factor = rate, factor
        self.began: int | None = None
        self.ended: int | None = None

    def carried(self, now: int) -> float:
        if self.began is None:
            return 0.0
        end = self.ended if self.ended is not None else now
        return self.rate * max(0, end - self.began) / S

    def kpi_names(self) -> Sequence[str]:
        return ["DRB.PdcpSduVolumeDL"]

    async def read_kpis(self, names: Sequence[str], cells: Sequence[int]) -> list[KpiReading]:
        octets = round(self.carried(time.time_ns()) * self.factor)
        return [KpiReading("DRB.PdcpSduVolumeDL", 1, octets, "counter64", "Mbit", 8e-6)]


def _scope() -> TrialScope:
    return TrialScope("t", 1, ("gnb1",), 1, "dl", "gnb1", {}, lambda _samples: None)


async def _run(gnb: OvercountingGnb, omit_s: float, measured_s: float,
               tolerance: float) -> tuple[MonitorGroup, Verdict, str, float]:
    monitor = CrosscheckMonitor(_scope(), "gnb1", gnb, "DRB.PdcpSduVolumeDL", tolerance)
    group = MonitorGroup([monitor])
    await group.start()
    await asyncio.sleep(0.2)
    gnb.began = time.time_ns()
    await asyncio.sleep(omit_s + measured_s)
    gnb.ended = time.time_ns()
    await asyncio.sleep(0.15)
    ue = MeasuredWindow(omit_s, omit_s + measured_s, round(gnb.rate * measured_s),
                        round(gnb.rate * omit_s))
    report = await group.stop({"throughput.bytes": Quantity(float(ue.bytes), "B")},
                              {"": ue})
    [result] = report.acceptance
    assert result.source == SOURCE
    return group, result.verdict, result.detail, report.metrics["crosscheck.deviation"].value


def test_mismatch_beyond_tolerance_is_inconclusive() -> None:
    _, verdict, detail, deviation = asyncio.run(_run(OvercountingGnb(50e6, 1.10), 0.5, 1.0, 5))
    assert verdict is Verdict.INCONCLUSIVE
    assert deviation == pytest.approx(10, abs=2)
    assert "Mbit" in detail and "the UE received" in detail and "0.5 s omitted" in detail


def test_agreement_within_tolerance_passes_and_excludes_the_omit() -> None:
    _, verdict, _, deviation = asyncio.run(_run(OvercountingGnb(50e6, 1.0), 0.5, 1.0, 5))
    assert verdict is Verdict.PASS
    assert abs(deviation) <= 2  # the old code counted the omitted 0.5 s in: +50 %


def test_lab_crosscheck_tolerance_is_validated(tmp_path: Path) -> None:
    from harness.base.errors import ConfigError
    from harness.base.loader import load_model
    from harness.config.lab import Lab
    from tests.runner_helpers import FAST_LAB

    path = tmp_path / "lab.yaml"
    path.write_text(FAST_LAB + "crosscheck: {tolerance: 2.5%}\n", encoding="utf-8")
    lab = load_model(path, Lab)
    assert lab.crosscheck is not None and lab.crosscheck.tolerance == 2.5
    path.write_text(FAST_LAB + "crosscheck: {tolerance: 0}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"crosscheck\.tolerance: .*above 0"):
        load_model(path, Lab)
