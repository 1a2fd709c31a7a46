"""KpiPoller arithmetic on replayed readings: wraps, resets, restarts, rates."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from drivers.capabilities import KpiReading
from harness.base.errors import DeviceUnreachable
from harness.base.sample import Sample
from harness.monitors.kpi import KpiPoller, counter_step, uptime_went_back

S = 1_000_000_000  # ns per second


def reading(raw: int, kind: str = "counter32", uptime: int | None = None,
            name: str = "octets", scale: float = 1.0) -> KpiReading:
    return KpiReading(name=name, cell=1, raw=raw, kind=kind, unit="B", scale=scale,
                      uptime_ticks=uptime)


class Replay:
    """A KpiSource that plays back canned polls (stands in for a device's counters)."""

    def __init__(self, polls: list[list[KpiReading]]) -> None:
        self.polls = polls

    def kpi_names(self) -> Sequence[str]:
        return ["octets"]

    async def read_kpis(self, names: Sequence[str], cells: Sequence[int]) -> list[KpiReading]:
        if not self.polls:
            raise DeviceUnreachable("replay exhausted")
        return self.polls.pop(0)


def poller(samples: list[Sample]) -> KpiPoller:
    return KpiPoller("gnb1", Replay([]), ["octets"], [1], 1.0, {"run": "r1"}, samples.extend)


def test_counter32_wrap_is_an_increase() -> None:
    assert counter_step("counter32", 2**32 - 10, 5, False).delta == 15
    samples: list[Sample] = []
    p = poller(samples)
    p.record([reading(2**32 - 100)], now=0)
    p.record([reading(50)], now=2 * S)
    series = p.series[("octets", 1)]
    assert series.total() == 150
    assert series.rates == [(2 * S, 75.0)]
    assert samples[-1].fields["delta"] == 150 and samples[-1].fields["rate"] == 75.0


def test_counter64_going_down_is_a_reset_and_the_pair_is_discarded() -> None:
    assert counter_step("counter64", 10**15, 5, False).delta is None
    samples: list[Sample] = []
    p = poller(samples)
    p.record([reading(1000, "counter64", scale=8e-6)], now=0)
    p.record([reading(3000, "counter64", scale=8e-6)], now=S)
    p.record([reading(100, "counter64", scale=8e-6)], now=2 * S)
    p.record([reading(600, "counter64", scale=8e-6)], now=3 * S)
    assert p.series[("octets", 1)].total() == (2000 + 500) * 8e-6
    assert samples[2].fields.get("discarded") == 1 and "delta" not in samples[2].fields


def test_uptime_going_back_is_a_restart_pair_discarded_event_emitted() -> None:
    samples: list[Sample] = []
    p = poller(samples)
    p.record([reading(1000, uptime=50_000)], now=0)
    p.record([reading(4000, uptime=50_100)], now=S)
    p.record([reading(3999, uptime=120)], now=2 * S)  # rebooted: counter restarted near 0
    p.record([reading(4999, uptime=220)], now=3 * S)
    assert p.series[("octets", 1)].total() == 3000 + 1000  # not 2^32 - 1 from a "wrap"
    assert p.restarts == [2 * S]
    events = [s for s in samples if s.measurement == "device_restart"]
    assert len(events) == 1 and events[0].tags == {"run": "r1", "device": "gnb1"}
    assert events[0].fields == {"uptime_before_s": 501.0, "uptime_after_s": 1.2}


def test_sysuptime_wrap_is_not_a_restart() -> None:
    assert not uptime_went_back(2**32 - 50, 50, 1.0)
    assert uptime_went_back(500_000, 100, 1.0)
    assert not uptime_went_back(None, 100, 1.0)
    assert not uptime_went_back(100, 200, 1.0)


def test_gauges_are_scaled_as_read() -> None:
    samples: list[Sample] = []
    p = poller(samples)
    p.record([reading(40, "gauge", scale=0.5)], now=0)
    p.record([reading(60, "gauge", scale=0.5)], now=S)
    assert p.series[("octets", 1)].values == [(0, 20.0), (S, 30.0)]
    assert p.series[("octets", 1)].total() is None


def test_run_keeps_the_device_error_and_stops() -> None:
    samples: list[Sample] = []
    source = Replay([[reading(1)], [reading(2)]])
    p = KpiPoller("gnb1", source, ["octets"], [1], 0.01, {}, samples.extend)
    asyncio.run(asyncio.wait_for(p.run(), 5))
    assert isinstance(p.error, DeviceUnreachable)
    assert p.series[("octets", 1)].total() == 1


def test_gauge_readings_that_reach_before_the_window_are_left_out() -> None:
    from harness.monitors.kpi import KpiSeries

    s = 1_000_000_000
    series = KpiSeries("gnb1", "DRB.UEThpDl", 1, "gauge", "kbit/s", period_s=2.0)
    # readings at 0..6 s; the previous trial's traffic shows in the reading at 0 s
    series.values = [(t * s, v) for t, v in enumerate([674e3, 0, 0, 5e3, 5e3, 5e3, 0])]
    # measured window from 1 s to 5.5 s: readings from 3 s (reaching back to 1 s) to 5 s
    assert series.gauge_values(1 * s, round(5.5 * s), reach_s=1.0) == [5e3, 5e3, 5e3]
    # without a declared period, one polling interval
    series.period_s = None
    assert series.gauge_values(1 * s, round(5.5 * s), reach_s=1.0) == [0, 5e3, 5e3, 5e3]
