"""KPI polling while traffic runs: raw device readings → samples, counters → deltas."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from drivers.capabilities import KpiReading, KpiSource
from harness.errors import HarnessError
from harness.store.sample import Sample

_WRAP = {"counter32": 2**32, "counter64": 2**64}


@dataclass
class KpiSeries:
    """Everything polled for one (device, KPI, cell) during a trial."""

    device: str
    kpi: str
    cell: int
    kind: str
    unit: str
    raw: list[tuple[int, int | float]] = field(default_factory=list)  # (time_ns, raw)
    # (time_ns, scaled): gauges as read; counters as the increase since the first reading
    values: list[tuple[int, float]] = field(default_factory=list)

    def total(self) -> float | None:
        """Counters: the scaled increase over the whole trial (wraps handled)."""
        return self.values[-1][1] if self.kind in _WRAP and self.values else None


class KpiPoller:
    """Polls one device every `interval_s` until stopped; reads once more on the way out."""

    def __init__(self, device_name: str, device: KpiSource, names: Sequence[str],
                 cells: Sequence[int], interval_s: float, tags: dict[str, str],
                 emit: Callable[[list[Sample]], None]) -> None:
        self.device_name = device_name
        self.device = device
        self.names = list(names)
        self.cells = list(cells)
        self.interval_s = interval_s
        self.tags = tags
        self.emit = emit
        self.series: dict[tuple[str, int], KpiSeries] = {}
        self.error: HarnessError | None = None
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """Poll until `stop()`; a device error ends polling and is kept in `self.error`."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                self._record(await self.device.read_kpis(self.names, self.cells))
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

    def _record(self, readings: list[KpiReading]) -> None:
        now = time.time_ns()
        samples: list[Sample] = []
        for r in readings:
            series = self.series.setdefault(
                (r.name, r.cell),
                KpiSeries(self.device_name, r.name, r.cell, r.kind, r.unit))
            fields: dict[str, float | int] = {"raw": r.raw}
            if r.kind in _WRAP:
                # Counters: `value` is the scaled increase since the trial's first reading.
                cumulative = 0.0
                if series.raw:
                    delta = (int(r.raw) - int(series.raw[-1][1])) % _WRAP[r.kind]
                    cumulative = series.values[-1][1] + delta * r.scale
                    fields["delta"] = delta * r.scale
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
