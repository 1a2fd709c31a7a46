"""Cross-check: what the UE side measured against what the gNodeB counted.

The gNodeB's PDCP SDU volume counter (TS 28.552 `DRB.PdcpSduVolumeDL`/`UL`, names set in the
scenario) is read just before and just after the traffic; its increase is compared with the
bytes iperf3 received (`throughput.bytes`). A deviation beyond the scenario's tolerance is
flagged: a note on the trial, a warning, and `crosscheck.mismatch` = 1, which criteria can use
(`crosscheck.mismatch == 0`). The metrics are `crosscheck.ue_volume`, `crosscheck.gnb_volume`
(Mbit), `crosscheck.deviation` (%) and `crosscheck.mismatch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from drivers.capabilities import KpiReading, KpiSource
from harness.errors import HarnessError
from harness.measure.kpi import counter_step
from harness.monitors import MonitorFactory, MonitorReport, TrialScope
from harness.monitors.settings import CrosscheckSettings
from harness.units import Quantity, convert

if TYPE_CHECKING:
    from harness.bench import Bench


def compare_volumes(ue: Quantity, gnb: Quantity, tolerance_pct: float
                    ) -> tuple[dict[str, Quantity], str | None]:
    """Metrics of the comparison, and the mismatch note when beyond tolerance (pure)."""
    ue_mbit = convert(ue, "Mbit").value
    gnb_mbit = convert(gnb, "Mbit").value
    metrics = {"crosscheck.ue_volume": Quantity(ue_mbit, "Mbit"),
               "crosscheck.gnb_volume": Quantity(gnb_mbit, "Mbit")}
    if ue_mbit <= 0:
        deviation = 0.0 if gnb_mbit <= 0 else 100.0
    else:
        deviation = (gnb_mbit - ue_mbit) / ue_mbit * 100
    metrics["crosscheck.deviation"] = Quantity(deviation, "%")
    mismatch = abs(deviation) > tolerance_pct
    metrics["crosscheck.mismatch"] = Quantity(1.0 if mismatch else 0.0, "")
    note = (f"cross-check mismatch: the gNodeB counted {gnb_mbit:.3f} Mbit, the UE side "
            f"measured {ue_mbit:.3f} Mbit ({deviation:+.1f} %, tolerance ±{tolerance_pct:g} %)"
            if mismatch else None)
    return metrics, note


class CrosscheckMonitor:
    """Reads the gNodeB's volume counter around the traffic and compares it with iperf3's."""

    name = "crosscheck"

    def __init__(self, scope: TrialScope, device: str, source: KpiSource, kpi: str,
                 settings: CrosscheckSettings) -> None:
        self.scope = scope
        self.device = device
        self.source = source
        self.kpi = kpi
        self.settings = settings
        self.first: KpiReading | None = None

    async def _read(self) -> KpiReading:
        readings = await self.source.read_kpis([self.kpi], [self.scope.cell])
        return readings[0]

    async def start(self) -> None:
        """The counter before the traffic."""
        self.first = await self._read()

    async def stop(self, measured: Mapping[str, Quantity]) -> MonitorReport:
        """The counter after the traffic, compared with `throughput.bytes`."""
        report = MonitorReport()
        ue = measured.get("throughput.bytes")
        if self.first is None or ue is None:
            return report  # nothing measured (the trial says why)
        try:
            last = await self._read()
        except HarnessError as exc:
            report.errors.append(f"cross-check: {self.device} {self.kpi} not read: {exc}")
            return report
        step = counter_step(last.kind, int(self.first.raw), int(last.raw), restarted=False)
        if step.delta is None:
            report.notes.append(f"cross-check skipped: {self.device} {self.kpi} went back "
                                "(counter reset)")
            return report
        gnb = Quantity(step.delta * last.scale, last.unit)
        metrics, note = compare_volumes(ue, gnb, self.settings.tolerance)
        report.metrics.update(metrics)
        if note is not None:
            report.notes.append(f"{self.device}: {note}")
        return report


def crosscheck_monitors(bench: Bench, settings: CrosscheckSettings) -> MonitorFactory:
    """The factory the runner hands trials: a cross-check on the trial's `via` gNodeB, when
    its profile has the volume counter."""
    def build(scope: TrialScope) -> CrosscheckMonitor | None:
        if (not settings.enabled or scope.via is None or scope.via not in bench.gnbs
                or scope.direction not in ("dl", "ul")):
            return None
        gnb = bench.gnbs[scope.via]
        kpi = settings.kpi_dl if scope.direction == "dl" else settings.kpi_ul
        if kpi not in gnb.kpi_names():
            return None
        return CrosscheckMonitor(scope, scope.via, gnb, kpi, settings)
    return build
