"""KPI polling while traffic runs: raw device readings → samples, counters → deltas and rates.

Counter32 increases are taken modulo 2^32 (a wrap is an increase, not a drop). A Counter64
never wraps in practice, so one that goes down was reset. A device whose sysUpTime goes down
restarted: the sample pair that spans the restart is discarded (the counters started over, so
their difference means nothing), a `device_restart` sample is emitted and polling goes on from
the new values.

A reading the device marked `suspect` (a PM file's TS 32.435 flag: the counter is unreliable for
that period) is recorded like any other, its sample carrying the field `suspect = 1`, and its
time is kept in `KpiSeries.suspect`: gauge statistics leave it out, a counter's step to it
gives no rate, and the trial withholds a counter's total that includes one (harness/engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from drivers.capabilities import KpiReading, KpiSource
from harness.base.errors import HarnessError
from harness.base.sample import Sample

_WRAP = {"counter32": 2**32, "counter64": 2**64}
KPI_STATS = ("delta", "mean", "max")
"""What a trial reports of a monitored KPI: counters `.delta`, gauges `.mean` and `.max`."""
_UPTIME_WRAP = 2**32  # sysUpTime is TimeTicks: it wraps after ~497 days


def kpi_metric_names(device: str, kpi: str, cells: Sequence[int]) -> set[str]:
    """Every metric name a trial may report for `kpi` of `device` polled on `cells`: one per
    cell (`gnb1.DRB.UEThpDl.cell2.mean`) and, with exactly one cell or none (a core, whose
    KPIs have no cell), the bare `gnb1.DRB.UEThpDl.mean` as well."""
    base = f"{device}.{kpi}"
    names = {f"{base}.cell{c}.{stat}" for c in cells for stat in KPI_STATS}
    if len(set(cells)) <= 1:
        names |= {f"{base}.{stat}" for stat in KPI_STATS}
    return names


def ambiguous_kpi(device: str, kpi: str, cells: Sequence[int]) -> str:
    """Why the bare name of a KPI polled on several cells has no value: which cell it would
    be is ambiguous, and a criterion must name one (never a silent pick)."""
    listed = ", ".join(str(c) for c in sorted(set(cells)))
    return (f"ambiguous: {device}.{kpi} is monitored on cells {listed}: name the cell, "
            f"e.g. {device}.{kpi}.cell{min(cells)}.mean (or .delta for a counter)")


@dataclass
class KpiSeries:
    """Everything polled for one (device, KPI, cell) during a trial."""

    device: str
    kpi: str
    cell: int
    kind: str
    unit: str
    period_s: float | None = None  # gauges: how far back one reading reaches (profile)
    raw: list[tuple[int, int | float]] = field(default_factory=list)  # (time_ns, raw)
    # (time_ns, scaled): gauges as read; counters as the increase since the first reading
    values: list[tuple[int, float]] = field(default_factory=list)
    # counters: (time_ns, scaled increase per second) between consecutive valid readings
    rates: list[tuple[int, float]] = field(default_factory=list)
    suspect: list[int] = field(default_factory=list)  # time_ns of readings marked suspect

    def total(self) -> float | None:
        """Counters: the scaled increase over the whole trial (wraps handled)."""
        return self.values[-1][1] if self.kind in _WRAP and self.values else None

    def gauge_values(self, since_ns: int, until_ns: int, reach_s: float) -> list[float]:
        """Gauge readings that hold only traffic of [since_ns, until_ns]: taken no later than
        `until_ns`, and at least the gauge's reach (its `period_s`, else `reach_s`) after
        `since_ns` — a reading averages over a period before it, so an earlier one still
        holds what ran before (the previous trial's traffic, or this trial's warm-up).
        Readings marked suspect are left out (`suspect_in` counts them)."""
        reach = round((self.period_s if self.period_s is not None else reach_s) * 1e9)
        flagged = set(self.suspect)
        return [v for t, v in self.values
                if t - reach >= since_ns and t <= until_ns and t not in flagged]

    def suspect_in(self, since_ns: int, until_ns: int, reach_s: float) -> int:
        """How many readings `gauge_values` leaves out only for their `suspect` mark."""
        reach = round((self.period_s if self.period_s is not None else reach_s) * 1e9)
        return sum(1 for t in self.suspect if t - reach >= since_ns and t <= until_ns)


@dataclass(frozen=True)
class CounterStep:
    """What one counter reading adds: its increase (None = discard the pair) and why."""

    delta: int | None
    reason: str = ""  # "", "restart" or "reset"


def counter_step(kind: str, previous: int, current: int, restarted: bool) -> CounterStep:
    """The increase of a counter between two readings (pure; see the module docstring)."""
    if restarted:
        return CounterStep(None, "restart")
    if current >= previous:
        return CounterStep(current - previous)
    if kind == "counter32":
        return CounterStep((current - previous) % _WRAP[kind])
    return CounterStep(None, "reset")


def uptime_went_back(previous: int | None, current: int | None, elapsed_s: float) -> bool:
    """True when sysUpTime says the device restarted between two polls `elapsed_s` apart.

    A TimeTicks wrap (a value near 2^32 followed by a small one, consistent with the time
    that passed) is not a restart.
    """
    if previous is None or current is None or current >= previous:
        return False
    wrapped = (current - previous) % _UPTIME_WRAP
    return abs(wrapped / 100 - elapsed_s) > max(5.0, elapsed_s)


class KpiPoller:
    """Polls one device every `interval_s` until stopped; reads once more on the way out."""

    def __init__(self, device_name: str, device: KpiSource, names: Sequence[str],
                 cells: Sequence[int], interval_s: float, tags: dict[str, str],
                 emit: Callable[[list[Sample]], None], *, per_cell: bool = True) -> None:
        self.device_name = device_name
        self.per_cell = per_cell  # a gNodeB's KPIs are per cell; a core's have no cell
        self.device = device
        self.names = list(names)
        self.cells = list(cells)
        self.interval_s = interval_s
        self.tags = tags
        self.emit = emit
        self.series: dict[tuple[str, int], KpiSeries] = {}
        self.error: HarnessError | None = None
        self.restarts: list[int] = []  # time_ns of each detected device restart
        self._uptime: tuple[int, int] | None = None  # (time_ns, ticks) of the last poll
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """Poll until `stop()`; a device error ends polling and is kept in `self.error`."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                self.record_timed(await self.device.read_kpis(self.names, self.cells))
            except HarnessError as exc:
                self.error = exc
                return
            if self._stop.is_set():
                return
            next_at += self.interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, next_at - loop.time()))

    def stop(self) -> None:
        """Ask for one last reading, then end."""
        self._stop.set()

    def _restarted(self, readings: list[KpiReading], now: int) -> bool:
        ticks = next((r.uptime_ticks for r in readings if r.uptime_ticks is not None), None)
        if ticks is None:
            return False
        before = self._uptime
        self._uptime = (now, ticks)
        if before is None:
            return False
        if not uptime_went_back(before[1], ticks, (now - before[0]) / 1e9):
            return False
        self.restarts.append(now)
        self.emit([Sample(now, "device_restart", {**self.tags, "device": self.device_name},
                          {"uptime_before_s": before[1] / 100, "uptime_after_s": ticks / 100})])
        return True

    def record_timed(self, readings: list[KpiReading]) -> None:
        """Record a poll's readings: those stamped with their own time (PM files: the period
        end, a poll may bring several periods) in time order at that time, the rest now."""
        stamped: dict[int, list[KpiReading]] = {}
        for r in readings:
            if r.time_ns is not None:
                stamped.setdefault(r.time_ns, []).append(r)
        for at in sorted(stamped):
            self.record(stamped[at], at)
        live = [r for r in readings if r.time_ns is None]
        if live or not readings:
            self.record(live)

    def record(self, readings: list[KpiReading], now: int | None = None) -> None:
        """Turn one poll's readings into series points and samples (public for replaying)."""
        now = time.time_ns() if now is None else now
        restarted = self._restarted(readings, now)
        samples: list[Sample] = []
        for r in readings:
            series = self.series.setdefault(
                (r.name, r.cell),
                KpiSeries(self.device_name, r.name, r.cell, r.kind, r.unit, r.period_s))
            fields: dict[str, float | int] = {"raw": r.raw}
            if r.suspect:
                fields["suspect"] = 1  # the device says this value is unreliable
                series.suspect.append(now)
            if r.kind in _WRAP:
                # Counters: `value` is the scaled increase since the trial's first reading.
                cumulative = series.values[-1][1] if series.values else 0.0
                if series.raw:
                    prev_time, prev_raw = series.raw[-1]
                    step = counter_step(r.kind, int(prev_raw), int(r.raw), restarted)
                    if step.delta is not None:
                        cumulative += step.delta * r.scale
                        fields["delta"] = step.delta * r.scale
                        elapsed = (now - prev_time) / 1e9
                        if elapsed > 0 and not r.suspect:
                            rate = step.delta * r.scale / elapsed
                            series.rates.append((now, rate))
                            fields["rate"] = rate
                    else:
                        fields["discarded"] = 1  # this pair spans a restart or a reset
                series.values.append((now, cumulative))
                fields["value"] = cumulative
            else:
                series.values.append((now, r.raw * r.scale))
                fields["value"] = r.raw * r.scale
            series.raw.append((now, r.raw))
            samples.append(Sample(now, "kpi", {**self.tags, "device": self.device_name,
                                               "kpi": r.name, "cell": str(r.cell),
                                               "unit": r.unit}, fields))
        self.emit(samples)
