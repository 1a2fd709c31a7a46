"""The simulator's own shortfall, watched beside every trial on a simulated lab.

The simulated lab is ground truth only where the simulated cell, not the simulator, is the
bottleneck. Its UDP relay counts what it failed to carry itself, apart from the cell's drops:
datagrams its delay line had no room for, those its sockets' receive queues dropped before it
read them (the kernel's SO_RXQ_OVFL count), sends the kernel refused for want of buffer — this
machine short of CPU, not the cell — and the datagrams it sent more than 2 ms after their due
time. The lab reports both per cell (`relay_lost`, `relay_late`); this monitor reads them for
the trial's gNodeBs before and after the traffic:

- any datagram the relay itself lost makes the trial INCONCLUSIVE (acceptance "simulated lab
  headroom") and voids its figures: its loss, throughput and capacity figures would be this
  machine's, not the cell's, so its criteria and the kind's own acceptance are INCONCLUSIVE
  too, a FAIL as well as a PASS (a FAIL would blame the cell for the machine's loss);
- late datagrams are reported (metric and note), not judged: they can only lengthen a delay the
  trial measures, never shorten it.

Metrics: `simlab.relay_lost` and `simlab.relay_late` (datagrams during the trial). Trials that
run in parallel on one gNodeB share its counters, so a loss during either marks both. A real
lab reports no such counters: the monitor is not built for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from harness.base.errors import HarnessError
from harness.base.units import Quantity
from harness.base.verdict import Verdict
from harness.base.window import MeasuredWindow
from harness.judge.criteria import CriterionResult
from harness.monitors import MonitorFactory, MonitorReport, TrialScope

if TYPE_CHECKING:
    from harness.monitors.bench_view import MonitorBench

__all__ = ["HeadroomMonitor", "LabStatus", "headroom_monitors", "relay_counts"]

SOURCE = "simulated lab headroom"
LabStatus = Callable[[], Awaitable[Mapping[str, Any]]]


def relay_counts(status: Mapping[str, Any], gnbs: tuple[str, ...]) -> tuple[int, int]:
    """Datagrams the relay lost and sent late so far, summed over every cell of `gnbs`, from
    the lab's status; a gNodeB the status does not list counts nothing."""
    lost = late = 0
    devices = status.get("devices") or {}
    for name in gnbs:
        cells = (devices.get(name) or {}).get("cells") or {}
        for cell in cells.values():
            lost += int(cell.get("relay_lost") or 0)
            late += int(cell.get("relay_late") or 0)
    return lost, late


class HeadroomMonitor:
    """Reads the relay's own shortfall of the trial's gNodeBs before and after the traffic."""

    name = "headroom"

    def __init__(self, scope: TrialScope, gnbs: tuple[str, ...], status: LabStatus) -> None:
        self.scope = scope
        self.gnbs = gnbs
        self.status = status
        self._before: tuple[int, int] | None = None
        self._problem: str | None = None

    async def _read(self) -> tuple[int, int]:
        try:
            return relay_counts(await self.status(), self.gnbs)
        except (HarnessError, OSError, ValueError, TypeError, AttributeError) as exc:
            raise HarnessError(f"the simulated lab's status could not be read: {exc}") from None

    async def start(self) -> None:
        """The counters before the traffic."""
        try:
            self._before = await self._read()
        except HarnessError as exc:
            self._problem = str(exc)

    async def stop(self, measured: Mapping[str, Quantity],
                   windows: Mapping[str, MeasuredWindow] | None = None) -> MonitorReport:
        """What the relay lost and sent late while the trial ran."""
        report = MonitorReport()
        after: tuple[int, int] | None = None
        if self._problem is None:
            try:
                after = await self._read()
            except HarnessError as exc:
                self._problem = str(exc)
        if self._problem is not None or self._before is None or after is None:
            report.errors.append(f"headroom: {self._problem}")
            return report
        lost, late = after[0] - self._before[0], after[1] - self._before[1]
        where = ", ".join(self.gnbs)
        report.metrics["simlab.relay_lost"] = Quantity(float(lost), "")
        report.metrics["simlab.relay_late"] = Quantity(float(late), "")
        if late:
            report.notes.append(f"{where}: the simulator's relay sent {late} datagrams more "
                                "than 2 ms after their due time (this machine short of CPU): "
                                "a delay measured on them includes the simulator's lateness, "
                                "not only the cell's")
        if lost:  # nothing lost: the metric says so; no acceptance row on every trial
            report.voids.append(f"the simulator's relay itself lost {lost} datagrams on "
                                f"{where} (this machine short of CPU): the figures are the "
                                "simulator's, not the simulated cell's")
            report.acceptance.append(CriterionResult(
                expr="simlab.relay_lost == 0", observed=Quantity(float(lost), ""),
                threshold=Quantity(0.0, ""), verdict=Verdict.INCONCLUSIVE, source=SOURCE,
                detail=f"{where}: the simulator's relay itself lost {lost} datagrams (its "
                       "delay line or socket buffers full: this machine short of CPU, not the "
                       "simulated cell), so the trial's figures measure the simulator"))
        return report


def headroom_monitors(bench: MonitorBench) -> MonitorFactory:
    """The factory the runner hands trials: on a simulated lab, a headroom monitor over the
    trial's simulated gNodeBs; nothing on a real lab."""
    def build(scope: TrialScope) -> HeadroomMonitor | None:
        status = bench.lab_status
        gnbs = tuple(name for name in scope.devices
                     if name in bench.gnbs and bench.lab.devices[name].simulated is not None)
        if status is None or not gnbs:
            return None
        return HeadroomMonitor(scope, gnbs, status)
    return build
