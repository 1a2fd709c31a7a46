"""Cross-check: what the UE side measured against what the gNodeB counted, over the same window.

The gNodeB's PDCP SDU volume counter (TS 28.552 `DRB.PdcpSduVolumeDL`/`UL`, names set in the
scenario) is read before the traffic, polled with timestamps while it runs (every few ms until
the traffic starts, then every `POLL_S`), and read once more after the tool returned. The
UE-side figure covers the tool's measured window (iperf3: its non-omitted intervals), so the
gNodeB's volume is taken over the same window:

- the traffic's start on the wall clock is where the counter first rose by `START_BYTES` or
  more between two polls (refined by the rate that follows, never outside that pair of polls);
- the window opens at start + the tool's omitted time, where the counter is interpolated
  between the two polls around it (the traffic is steady by then);
- it closes at start + the end of the tool's last measured interval, likewise; bytes the
  cell delivered after the receiver stopped counting (in flight at the end) are outside it.
  A receiver that counts until its traffic drained (`MeasuredWindow.ends_with_traffic`:
  iperf3's uplink server) closes it at the traffic's end: the reading taken afterwards.
  Interpolation inside a pair of readings where the traffic started or stopped follows the
  rate next to it (see `interpolate`), so an edge lands within the readings' timing.

That volume is compared with the bytes the receiver counted in its measured intervals. A
deviation beyond the tolerance (scenario `monitors.crosscheck.tolerance`, else the lab's
`crosscheck_tolerance`, else 5 %) makes the trial INCONCLUSIVE through an acceptance result
("UE/gNodeB cross-check") naming both volumes and the window. The metrics are
`crosscheck.ue_volume`, `crosscheck.gnb_volume` (Mbit), `crosscheck.deviation` (%) and
`crosscheck.mismatch` (1 beyond tolerance).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from drivers.capabilities import KpiReading, KpiSource
from harness.base.errors import HarnessError
from harness.base.units import Quantity, UnitError, convert
from harness.base.verdict import Verdict
from harness.base.window import MeasuredWindow
from harness.config.monitors import DEFAULT_TOLERANCE, CrosscheckSettings
from harness.judge.criteria import CriterionResult
from harness.monitors import MonitorFactory, MonitorReport, TrialScope
from harness.monitors.kpi import counter_step

if TYPE_CHECKING:
    from harness.monitors.bench_view import MonitorBench

__all__ = [
    "CounterPoint",
    "CrosscheckMonitor",
    "compare_volumes",
    "crosscheck_monitors",
    "effective_tolerance",
    "interpolate",
    "traffic_start",
    "window_volume",
]

SOURCE = "UE/gNodeB cross-check"
START_BYTES = 4096  # a rise smaller than this is iperf3's control exchange, not its traffic
FAST_POLL_S = 0.005  # pause between reads until the traffic starts
POLL_S = 0.1  # pause between reads once it runs
_FAST_PHASE_S = 20.0  # give up looking for the start this fast after so long


@dataclass(frozen=True)
class CounterPoint:
    """One timed counter reading: wall clock (ns) and bytes counted since the first reading."""

    time_ns: int
    bytes: float


def traffic_start(points: Sequence[CounterPoint], threshold: float = START_BYTES
                  ) -> int | None:
    """When the traffic started (wall clock, ns): inside the first pair of readings between
    which the counter rose by `threshold` bytes or more, backed off from the later reading by
    the time that rise takes at the rate of the pair after (pure; None: it never started)."""
    for i in range(1, len(points)):
        a, b = points[i - 1], points[i]
        rise = b.bytes - a.bytes
        if rise < threshold:
            continue
        if i + 1 < len(points):
            c = points[i + 1]
            seconds = (c.time_ns - b.time_ns) / 1e9
            rate = (c.bytes - b.bytes) / seconds if seconds > 0 else 0.0
            if rate > 0:
                return max(a.time_ns, b.time_ns - round(rise / rate * 1e9))
        return (a.time_ns + b.time_ns) // 2
    return None


def _rate(a: CounterPoint, b: CounterPoint) -> float:
    seconds = (b.time_ns - a.time_ns) / 1e9
    return (b.bytes - a.bytes) / seconds if seconds > 0 else 0.0


_STEADY = 0.8  # a pair that rose by less than this share of its neighbour's rate saw a start/stop


def interpolate(points: Sequence[CounterPoint], time_ns: int) -> float | None:
    """The counter at `time_ns` between the readings around it (pure; None outside them).

    Linear where the traffic ran through the whole pair of readings. Where it stopped inside
    the pair (the pair rose by less than the rate before it predicts), the counter rose at that
    earlier rate until the stop, then stayed; where it started inside the pair, it stayed, then
    rose at the rate after it. So a window edge near the traffic's own start or end is placed
    to within the readings' timing, not smeared over the gap between them."""
    for i in range(1, len(points)):
        a, b = points[i - 1], points[i]
        if not a.time_ns <= time_ns <= b.time_ns:
            continue
        span = (b.time_ns - a.time_ns) / 1e9
        rise = b.bytes - a.bytes
        before = _rate(points[i - 2], a) if i >= 2 else 0.0
        after = _rate(b, points[i + 1]) if i + 1 < len(points) else 0.0
        if before > 0 and rise < _STEADY * before * span:  # stopped inside the pair
            return min(b.bytes, a.bytes + before * (time_ns - a.time_ns) / 1e9)
        if after > 0 and rise < _STEADY * after * span:  # started inside the pair
            return max(a.bytes, b.bytes - after * (b.time_ns - time_ns) / 1e9)
        share = (time_ns - a.time_ns) / (b.time_ns - a.time_ns) if span > 0 else 1.0
        return a.bytes + share * rise
    return None


@dataclass(frozen=True)
class WindowVolume:
    """The gNodeB's bytes over a UE-side window, and where that window lies on the clock."""

    bytes: float
    start_ns: int
    end_ns: int


def window_volume(points: Sequence[CounterPoint], window: MeasuredWindow
                  ) -> WindowVolume | str | None:
    """Bytes the counter rose by over `window` (pure): between traffic start + start_s and
    traffic start + end_s, each interpolated (the last reading, taken after the tool returned,
    closes a window that ends after it). None: the counter never rose (no traffic went through
    the cell); a str says why the window cannot be placed."""
    if len(points) < 2:
        return "too few counter readings"
    start = traffic_start(points)
    if start is None:
        return None
    opens = start + round(window.start_s * 1e9)
    closes = start + round(window.end_s * 1e9)
    last = points[-1]
    if opens > last.time_ns:
        return "the counter was last read before the measured window opened"
    at_open = interpolate(points, opens)
    if at_open is None:
        return "no counter readings around the start of the measured window"
    drained = window.ends_with_traffic or closes >= last.time_ns
    at_close = last.bytes if drained else interpolate(points, closes)
    if at_close is None:
        return "no counter readings around the end of the measured window"
    return WindowVolume(at_close - at_open, opens, max(closes, opens))


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


def _clock(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"


def acceptance(device: str, kpi: str, metrics: Mapping[str, Quantity], window: MeasuredWindow,
               placed: WindowVolume, tolerance_pct: float) -> CriterionResult:
    """The cross-check's verdict: INCONCLUSIVE beyond tolerance, else PASS (pure)."""
    deviation = metrics["crosscheck.deviation"]
    bad = metrics["crosscheck.mismatch"].value > 0
    detail = (f"{device} {kpi} counted {metrics['crosscheck.gnb_volume'].value:.3f} Mbit, the UE "
              f"received {metrics['crosscheck.ue_volume'].value:.3f} Mbit over the same window "
              f"({_clock(placed.start_ns)}–{_clock(placed.end_ns)}: the measured "
              f"{window.duration_s:.3f} s after {window.start_s:g} s omitted): "
              f"{deviation.value:+.2f} %, tolerance ±{tolerance_pct:g} %")
    if bad:
        detail += ": the two sides disagree, so the UE figure cannot be trusted"
    return CriterionResult(
        expr=f"|crosscheck.deviation| <= {tolerance_pct:g} %", observed=deviation,
        threshold=Quantity(tolerance_pct, "%"),
        verdict=Verdict.INCONCLUSIVE if bad else Verdict.PASS, source=SOURCE, detail=detail)


class CrosscheckMonitor:
    """Polls the gNodeB's volume counter through the traffic and compares, over the UE's
    measured window, what it counted with what the UE received."""

    name = "crosscheck"

    def __init__(self, scope: TrialScope, device: str, source: KpiSource, kpi: str,
                 tolerance: float = DEFAULT_TOLERANCE) -> None:
        self.scope = scope
        self.device = device
        self.source = source
        self.kpi = kpi
        self.tolerance = tolerance
        self.points: list[CounterPoint] = []
        self.problem: str | None = None  # why the counter could not be followed
        self._last: KpiReading | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        """One timed reading, appended to `points` (time: the middle of the request)."""
        sent = time.time_ns()
        reading = (await self.source.read_kpis([self.kpi], [self.scope.cell]))[0]
        now = (sent + time.time_ns()) // 2
        if self._last is None:
            self.points.append(CounterPoint(now, 0.0))
        else:
            step = counter_step(reading.kind, int(self._last.raw), int(reading.raw),
                                restarted=False)
            if step.delta is None:
                raise HarnessError(f"{self.device} {self.kpi} went back (counter reset)")
            added = convert(Quantity(step.delta * reading.scale, reading.unit), "B").value
            self.points.append(CounterPoint(now, self.points[-1].bytes + added))
        self._last = reading

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        fast_until = loop.time() + _FAST_PHASE_S
        try:
            while not self._stop.is_set():
                started = traffic_start(self.points) is not None
                pause = POLL_S if started or loop.time() > fast_until else FAST_POLL_S
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=pause)
                if not self._stop.is_set():
                    await self._read()
        except (HarnessError, UnitError) as exc:
            self.problem = str(exc)

    async def start(self) -> None:
        """The counter before the traffic; then follow it."""
        try:
            await self._read()
        except UnitError as exc:
            raise HarnessError(f"{self.device} {self.kpi} is not a volume: {exc}") from None
        self._task = asyncio.create_task(self._follow())

    async def stop(self, measured: Mapping[str, Quantity],
                   windows: Mapping[str, MeasuredWindow] | None = None) -> MonitorReport:
        """The counter after the traffic; the volumes over the UE's measured window compared."""
        report = MonitorReport()
        self._stop.set()
        if self._task is not None:
            await self._task
        window = (windows or {}).get("")
        if window is None or "throughput.bytes" not in measured:
            return report  # nothing measured (the trial says why)
        try:
            await self._read()
        except HarnessError as exc:
            self.problem = self.problem or str(exc)
        if self.problem is not None:
            report.errors.append(f"cross-check: {self.device} {self.kpi} not followed: "
                                 f"{self.problem}")
            return report
        placed = window_volume(self.points, window)
        if placed is None:  # the counter never moved: the gNodeB carried nothing of it
            placed = WindowVolume(0.0, window.launched_ns, window.returned_ns)
        if isinstance(placed, str):
            report.errors.append(f"cross-check: {self.device} {self.kpi}: {placed}")
            return report
        metrics, note = compare_volumes(Quantity(float(window.bytes), "B"),
                                        Quantity(placed.bytes, "B"), self.tolerance)
        report.metrics.update(metrics)
        report.acceptance.append(acceptance(self.device, self.kpi, metrics, window, placed,
                                            self.tolerance))
        if note is not None:
            report.notes.append(f"{self.device}: {note}")
        return report


def crosscheck_monitors(bench: MonitorBench, settings: CrosscheckSettings) -> MonitorFactory:
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
        return CrosscheckMonitor(scope, scope.via, gnb, kpi, tolerance)

    tolerance = effective_tolerance(settings, bench.lab.crosscheck.tolerance
                                    if bench.lab.crosscheck is not None else None)
    return build


def effective_tolerance(settings: CrosscheckSettings, lab_tolerance: float | None) -> float:
    """The scenario's tolerance, else the lab's, else the default (5 %)."""
    if settings.tolerance is not None:
        return settings.tolerance
    return lab_tolerance if lab_tolerance is not None else DEFAULT_TOLERANCE
