"""Device health during a trial: CPU load, memory, temperature, polled through profile KPIs.

Which KPIs are health KPIs is read from their names in the device's profile (`...Cpu...`,
`...Mem...`, `...Temperature...`/`...Temp...`), so a vendor profile opts in by naming. Each
poll becomes `health` samples on the trial's timeline; the metrics are
`health.DEVICE.{cpu,memory,temperature}.{mean,max}` in the profile's units.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from drivers.capabilities import KpiSource
from harness.base.errors import HarnessError
from harness.base.sample import Sample
from harness.base.stats import summarize
from harness.base.units import Quantity
from harness.base.window import MeasuredWindow
from harness.config.monitors import HealthMonitorSettings
from harness.monitors import MonitorFactory, MonitorReport, TrialScope, periodic

if TYPE_CHECKING:
    from harness.monitors.bench_view import MonitorBench

_ASPECTS = (("cpu", re.compile(r"cpu", re.I)), ("memory", re.compile(r"mem", re.I)),
            ("temperature", re.compile(r"temp", re.I)))


def health_kpis(names: list[str]) -> dict[str, str]:
    """KPI name → aspect (cpu, memory, temperature) for the health KPIs among `names`."""
    found: dict[str, str] = {}
    for name in names:
        for aspect, pattern in _ASPECTS:
            if pattern.search(name):
                found[name] = aspect
                break
    return found


class HealthMonitor:
    """Polls the health KPIs of a trial's devices."""

    name = "health"

    def __init__(self, scope: TrialScope, sources: dict[str, KpiSource],
                 settings: HealthMonitorSettings) -> None:
        self.scope = scope
        self.settings = settings
        self.kpis = {name: health_kpis(list(src.kpi_names())) for name, src in sources.items()}
        self.sources = {n: s for n, s in sources.items() if self.kpis[n]}
        self.values: dict[tuple[str, str], list[float]] = {}
        self.units: dict[tuple[str, str], str] = {}
        self.errors: dict[str, str] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """First reading now, then every interval."""
        self._task = asyncio.create_task(periodic(self.settings.interval, self._stop, self._poll))

    async def _poll(self) -> None:
        for device, source in self.sources.items():
            kpis = self.kpis[device]
            try:
                readings = await source.read_kpis(list(kpis), [self.scope.cell])
            except HarnessError as exc:
                self.errors.setdefault(device, f"{device}: health not read: {exc}")
                continue
            now = time.time_ns()
            samples = []
            for r in readings:
                aspect = kpis[r.name]
                value = float(r.raw) * r.scale
                self.values.setdefault((device, aspect), []).append(value)
                self.units[(device, aspect)] = r.unit
                samples.append(Sample(now, "health", {
                    **self.scope.tags, "device": device, "kpi": r.name, "unit": r.unit,
                    "kind": aspect}, {"value": value, "t_s": self.scope.t_s(now)}))
            self.scope.emit(samples)

    async def stop(self, measured: Mapping[str, Quantity],
                   windows: Mapping[str, MeasuredWindow] | None = None) -> MonitorReport:
        """Last reading, then mean and max per device and aspect."""
        self._stop.set()
        if self._task is not None:
            await self._task
        report = MonitorReport(errors=list(self.errors.values()))
        for (device, aspect), values in sorted(self.values.items()):
            stats = summarize(values)
            if stats is None:
                continue
            unit = self.units[(device, aspect)]
            report.metrics[f"health.{device}.{aspect}.mean"] = Quantity(stats.mean, unit)
            report.metrics[f"health.{device}.{aspect}.max"] = Quantity(stats.max, unit)
        return report


def health_monitors(bench: MonitorBench, settings: HealthMonitorSettings) -> MonitorFactory:
    """The factory the runner hands trials: a health monitor over the trial's devices."""
    def build(scope: TrialScope) -> HealthMonitor | None:
        if not settings.enabled:
            return None
        sources: dict[str, KpiSource] = {}
        for name in scope.devices:
            device = bench.gnbs.get(name) or bench.cores.get(name)
            if device is not None:
                sources[name] = device
        monitor = HealthMonitor(scope, sources, settings)
        return monitor if monitor.sources else None
    return build
