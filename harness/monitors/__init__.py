"""Monitors: what runs beside every trial's measurement (alarms, device health, cross-check).

A monitor is built per trial from a `TrialScope`, started just before the trial's traffic and
stopped just after it; its report adds metrics (usable in criteria, e.g. `alarms.critical == 0`)
and notes to the trial's entry. Samples it takes carry the trial's tags and `t_s`, the seconds
since the trial started, so that every series lines up on the trial's timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.base.sample import Sample
from harness.base.units import Quantity
from harness.base.window import MeasuredWindow
from harness.judge.criteria import CriterionResult

__all__ = ["Monitor", "MonitorFactory", "MonitorGroup", "MonitorReport", "TrialScope"]

_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TrialScope:
    """What a monitor needs to know of the trial it watches."""

    trial_id: str
    repetition: int
    devices: tuple[str, ...]  # gNodeBs and cores the trial touches (or watches)
    cell: int
    direction: str
    via: str | None  # the gNodeB carrying the trial's traffic, if any
    tags: Mapping[str, str]
    emit: Callable[[list[Sample]], None]
    started_ns: int = field(default_factory=time.time_ns)

    def t_s(self, time_ns: int) -> float:
        """Seconds since the trial started (the trial's timeline)."""
        return round((time_ns - self.started_ns) / 1e9, 3)


@dataclass
class MonitorReport:
    """What monitors add to a trial: metrics, notes (a flagged mismatch), errors (a monitor
    that could not watch: the trial's measurement still stands), acceptance results that
    take part in the trial's verdict (e.g. a cross-check beyond tolerance → INCONCLUSIVE), and
    voids: reasons the trial's own figures measure the test equipment rather than the device
    (the simulator's relay lost datagrams). A void trial's criteria and the kind's own
    acceptance are INCONCLUSIVE whatever they read, a FAIL too: a FAIL measured through the
    equipment's own loss is the equipment's."""

    metrics: dict[str, Quantity] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    acceptance: list[CriterionResult] = field(default_factory=list)
    voids: list[str] = field(default_factory=list)

    def merge(self, other: MonitorReport) -> None:
        """Add another monitor's report to this one."""
        self.metrics.update(other.metrics)
        self.notes.extend(other.notes)
        self.errors.extend(other.errors)
        self.acceptance.extend(other.acceptance)
        self.voids.extend(other.voids)

    def to_json(self) -> dict[str, Any]:
        """The trial entry's `monitors` field."""
        return {"notes": list(self.notes), "errors": list(self.errors)}  # voids: entry "void"


class Monitor(Protocol):
    """Watches something while a trial runs."""

    name: str

    async def start(self) -> None:
        """Take the first readings and start watching (background tasks allowed)."""

    async def stop(self, measured: Mapping[str, Quantity],
                   windows: Mapping[str, MeasuredWindow] | None = None) -> MonitorReport:
        """Stop watching; `measured` are the trial's own metrics and `windows` the part of
        the traffic they cover (for cross-checks)."""


MonitorFactory = Callable[[TrialScope], Monitor | None]
"""Builds the monitor for one trial, or None when there is nothing for it to watch."""


class MonitorGroup:
    """The monitors of one trial, started and stopped together; one that fails never takes
    the others (or the trial) down with it."""

    def __init__(self, monitors: Sequence[Monitor]) -> None:
        self.monitors = list(monitors)
        self._started: list[Monitor] = []

    @classmethod
    def build(cls, factories: Sequence[MonitorFactory], scope: TrialScope) -> MonitorGroup:
        """Every factory's monitor for this trial (those with something to watch)."""
        return cls([m for m in (f(scope) for f in factories) if m is not None])

    async def start(self) -> MonitorReport:
        """Start every monitor; a failed start is an error in the report."""
        report = MonitorReport()
        for monitor in self.monitors:
            try:
                await monitor.start()
                self._started.append(monitor)
            except Exception as exc:  # a monitor must never stop the trial
                report.errors.append(f"{monitor.name} monitor did not start: {exc}")
        return report

    async def stop(self, measured: Mapping[str, Quantity],
                   windows: Mapping[str, MeasuredWindow] | None = None) -> MonitorReport:
        """Stop the started monitors (bounded wait each) and gather their reports."""
        report = MonitorReport()
        started, self._started = self._started, []
        for monitor in started:
            try:
                report.merge(await asyncio.wait_for(monitor.stop(measured, windows),
                                                    _STOP_TIMEOUT_S))
            except TimeoutError:
                report.errors.append(f"{monitor.name} monitor did not stop within "
                                     f"{_STOP_TIMEOUT_S:g} s")
            except Exception as exc:
                report.errors.append(f"{monitor.name} monitor failed: {exc}")
        return report

    async def cancel(self) -> None:
        """Stop everything without waiting for reports (the trial was interrupted)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.stop({}), _STOP_TIMEOUT_S)


async def periodic(interval_s: float, stop: asyncio.Event,
                   tick: Callable[[], Any]) -> None:
    """Await `tick()` every `interval_s` until `stop` is set (and once more at the end)."""
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while True:
        await tick()
        if stop.is_set():
            return
        next_at += interval_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_at - loop.time()))
