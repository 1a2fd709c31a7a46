"""Alarm capture during a trial: traps as they arrive, and the active-alarm table polled.

Every alarm seen becomes an `alarm` sample (kind: active at start, raised, cleared, trap) on
the trial's timeline. The metrics count the distinct alarms that were active at some point
while the trial ran, by severity: `alarms.critical`, `alarms.major`, `alarms.minor`,
`alarms.warning`, `alarms.total` (so `alarms.critical == 0` reads "no critical alarm stood
during the measurement"), and `alarms.raised`, those that appeared during it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from drivers.alarms import alarm_from_trap
from drivers.capabilities import AlarmEvent, AlarmSource
from drivers.transport.traps import Trap
from harness.base.errors import HarnessError
from harness.base.sample import Sample
from harness.base.units import Quantity
from harness.base.window import MeasuredWindow
from harness.config.monitors import AlarmMonitorSettings
from harness.monitors import MonitorFactory, MonitorReport, TrialScope, periodic

if TYPE_CHECKING:
    from harness.monitors.bench_view import MonitorBench

SEVERITY_METRICS = ("critical", "major", "minor", "warning")
AlarmKey = tuple[str, str, str, str]  # device, severity, source, text


def alarm_key(alarm: AlarmEvent) -> AlarmKey:
    """What makes two reports (a trap, a table row) the same alarm."""
    return (alarm.device, alarm.severity, alarm.source, alarm.text)


def alarm_metrics(seen: Mapping[AlarmKey, AlarmEvent], raised: int) -> dict[str, Quantity]:
    """Counts by severity of the distinct alarms seen (pure)."""
    metrics = {f"alarms.{s}": Quantity(0.0, "") for s in SEVERITY_METRICS}
    for key in seen:
        if key[1] in SEVERITY_METRICS:
            metrics[f"alarms.{key[1]}"] = Quantity(metrics[f"alarms.{key[1]}"].value + 1, "")
    metrics["alarms.total"] = Quantity(float(sum(1 for k in seen if k[1] != "cleared")), "")
    metrics["alarms.raised"] = Quantity(float(raised), "")
    return metrics


class AlarmMonitor:
    """Watches the alarms of a trial's devices (traps through the bench's hub, tables polled)."""

    name = "alarms"

    def __init__(self, bench: MonitorBench, scope: TrialScope,
                 settings: AlarmMonitorSettings) -> None:
        self.bench = bench
        self.scope = scope
        self.settings = settings
        self.devices = [d for d in scope.devices if d in bench.gnbs or d in bench.cores]
        self.seen: dict[AlarmKey, AlarmEvent] = {}
        self.active: dict[str, set[AlarmKey]] = {}
        self.raised = 0
        self.traps = 0
        self.errors: dict[str, str] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._refused: dict[tuple[str, str], int] = {}  # the hub's trap rejections at start

    def _tables(self) -> dict[str, AlarmSource]:
        tables: dict[str, AlarmSource] = {}
        for name in self.devices:
            device = self.bench.gnbs.get(name) or self.bench.cores.get(name)
            if isinstance(device, AlarmSource) and device.profile.alarm_table is not None:
                tables[name] = device
        return tables

    async def start(self) -> None:
        """Read the tables once (the alarms standing at the start), then keep polling."""
        if self.bench.traps is not None:
            self._unsubscribe = self.bench.traps.subscribe(self._trap)
            self._refused = dict(self.bench.traps.rejections)
        await self._poll(first=True)
        self._task = asyncio.create_task(periodic(self.settings.interval, self._stop, self._poll))

    async def _poll(self, first: bool = False) -> None:
        for name, device in self._tables().items():
            try:
                rows = await device.active_alarms()
            except HarnessError as exc:
                self.errors.setdefault(name, f"{name}: active alarms not read: {exc}")
                continue
            now = {alarm_key(a): a for a in rows}
            before = self.active.get(name, set())
            samples: list[Sample] = []
            for key, alarm in now.items():
                if key not in before:
                    kind = "active" if first else "raised"
                    self.raised += 0 if first or key in self.seen else 1
                    self.seen.setdefault(key, alarm)
                    samples.append(self._sample(alarm, kind))
            for key in before - set(now):
                samples.append(self._sample(self.seen[key], "cleared"))
            self.active[name] = set(now)
            if samples:
                self.scope.emit(samples)

    def _trap(self, device: str, trap: Trap) -> None:
        if device not in self.devices:
            return
        gnb = self.bench.gnbs.get(device) or self.bench.cores.get(device)
        spec = gnb.profile.alarms if gnb is not None else None
        alarm = alarm_from_trap(device, trap, spec)
        self.traps += 1
        if alarm.severity != "cleared" and alarm_key(alarm) not in self.seen:
            self.seen[alarm_key(alarm)] = alarm
            self.raised += 1
        self.scope.emit([self._sample(alarm, "trap")])

    def _sample(self, alarm: AlarmEvent, kind: str) -> Sample:
        now = time.time_ns()
        fields: dict[str, float | int | bool | str] = {
            "text": alarm.text or "-", "source": alarm.source or "-", "t_s": self.scope.t_s(now)}
        if alarm.alarm_id:
            fields["alarm_id"] = alarm.alarm_id
        if alarm.trap_oid:
            fields["trap_oid"] = alarm.trap_oid
        return Sample(now, "alarm", {**self.scope.tags, "device": alarm.device,
                                     "severity": alarm.severity, "kind": kind}, fields)

    async def stop(self, measured: Mapping[str, Quantity],
                   windows: Mapping[str, MeasuredWindow] | None = None) -> MonitorReport:
        """Read the tables a last time, stop listening, count what was seen."""
        self._stop.set()
        if self._task is not None:
            await self._task
        if self._unsubscribe is not None:
            self._unsubscribe()
        report = MonitorReport(metrics=alarm_metrics(self.seen, self.raised),
                               errors=list(self.errors.values()))
        report.metrics["alarms.traps"] = Quantity(float(self.traps), "")
        refused = self.bench.traps.rejection_summary(self._refused) if self.bench.traps else ""
        if refused:  # forged or malformed: counted here, never alarms
            report.notes.append(f"traps refused during the trial (not alarms): {refused}")
        if self.raised:
            report.notes.append(f"{self.raised} alarm(s) raised during the trial: " + "; ".join(
                f"{k[0]} {k[1]} {k[3]}" for k in list(self.seen)[-5:]))
        return report


def alarm_monitors(bench: MonitorBench, settings: AlarmMonitorSettings) -> MonitorFactory:
    """The factory the runner hands trials: an alarm monitor over the trial's devices."""
    def build(scope: TrialScope) -> AlarmMonitor | None:
        if not settings.enabled:
            return None
        monitor = AlarmMonitor(bench, scope, settings)
        return monitor if monitor.devices else None
    return build
