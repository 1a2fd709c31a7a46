"""One planned trial on the bench: peaks, monitors and KPI polling around the kind's
measurement, then statistics and criteria → its summary.json entry.

What is measured is up to the trial's kind (harness/kinds/); this module is the same for all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drivers.capabilities import KpiSource
from harness import jsonio
from harness.aggregate import JudgeContext, judge, sample_intervals
from harness.bench import Bench
from harness.criteria import CriterionResult
from harness.errors import HarnessError
from harness.kinds import KindRun, default_registry
from harness.kinds.throughput import throughput_metrics
from harness.measure.kpi import KpiPoller
from harness.measure.peak import Carrier, tdd_share
from harness.measure.stats import summarize
from harness.monitors import MonitorGroup
from harness.plan import PlannedTrial
from harness.store.sample import Sample
from harness.units import Quantity
from harness.verdict import Verdict, worst

__all__ = ["TrialContext", "TrialRun", "cell_peak", "dump_json", "throughput_metrics",
           "utc_now"]

TrialContext = JudgeContext
"""What a trial's criteria read (implements CriterionContext)."""


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds, as summary.json records times."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def cell_peak(bench: Bench, device: str, cell: int, direction: str) -> Quantity:
    """TS 38.306 peak of a gNodeB cell × its TDD share, from parameters read off the device."""
    gnb = bench.gnbs.get(device)
    if gnb is None:
        raise HarnessError(f"peak({device}): {device} is not a gNodeB of this lab")
    cfg = await gnb.cell_config(cell)
    layers = int(cfg[f"layers_{direction}"])
    modulation = str(cfg[f"modulation_{direction}"])
    carrier = Carrier(int(cfg["bandwidth_mhz"]), int(cfg["scs_khz"]), layers, modulation,
                      direction)
    special = str(cfg.get("special") or "") or None
    share = tdd_share(str(cfg.get("tdd") or "FDD"), special, direction)
    return Quantity(carrier.peak_mbps() * share, "Mbit/s")


class TrialRun:
    """Runs one planned trial and turns what happened into its summary.json entry."""

    def __init__(self, trial: PlannedTrial, bench: Bench, *, run_tags: dict[str, str],
                 raw_dir: Path, emit: Callable[[list[Sample]], None],
                 monitors: MonitorGroup | None = None) -> None:
        self.trial = trial
        self.monitors = monitors or MonitorGroup([])  # started/stopped around the measurement
        self.bench = bench
        self.tags = {**run_tags, "trial": trial.id, "repetition": str(trial.repetition),
                     "kind": trial.kind}
        if trial.direction:
            self.tags["direction"] = trial.direction
        if trial.protocol:
            self.tags["protocol"] = trial.protocol
        self.raw_dir = raw_dir
        self.emit = emit

    async def run(self) -> dict[str, Any]:
        """Measure and judge; any device or tool failure makes the trial ERROR, samples kept."""
        t = self.trial
        entry: dict[str, Any] = {"id": t.id, "repetition": t.repetition, "kind": t.kind,
                                 "params": t.params, "started": utc_now(), "metrics": {},
                                 "criteria": [], "error": None}
        errors: list[str] = []
        kind_run = KindRun(trial=t, bench=self.bench, tags=self.tags, raw_dir=self.raw_dir,
                           emit=self.emit)
        direction = t.direction if t.direction in ("dl", "ul") else "dl"
        ctx = TrialContext(metrics=kind_run.metrics, direction=direction)
        try:
            await self._setup()
            await self._peaks(ctx)
            watch = await self.monitors.start()
            try:
                pollers = await self._measure(kind_run, errors)
            except BaseException:
                await self.monitors.cancel()
                raise
            watch.merge(await self.monitors.stop(ctx.metrics))
            ctx.metrics.update(watch.metrics)
            kind_run.acceptance.extend(watch.acceptance)
            entry["monitors"] = watch.to_json()
            _kpi_metrics(pollers, ctx.metrics)
        except HarnessError as exc:
            errors.append(str(exc))
        ctx.intervals = sample_intervals(kind_run.series, kind_run.proportions)
        ctx.counts = {n: c for n in ctx.metrics if (c := kind_run.count_of(n)) is not None}
        entry["metrics"] = {name: q.to_json() for name, q in sorted(ctx.metrics.items())}
        entry["n"] = dict(sorted(ctx.counts.items()))
        entry["ci"] = {n: [lo, hi] for n, (lo, hi) in sorted(ctx.intervals.items())}
        entry["proportions"] = {n: [k, m] for n, (k, m) in kind_run.proportions.items()}
        entry["peaks"] = {f"{d}/{r}": q.to_json() for (d, r), q in ctx.peaks.items()}
        entry["notes"] = list(kind_run.notes)
        entry.update(kind_run.extra)
        results: list[CriterionResult] = [] if errors else judge(t.criteria, ctx, t.min_samples)
        entry["criteria"] = [r.to_json() for r in results]
        entry["acceptance"] = [r.to_json() for r in kind_run.acceptance]
        if errors:
            entry["verdict"] = Verdict.ERROR.value
            entry["error"] = "; ".join(errors)
        else:
            entry["verdict"] = worst(r.verdict for r in [*results, *kind_run.acceptance]).value
        entry["finished"] = utc_now()
        return entry

    async def _setup(self) -> None:
        """The trial's own setup actions (e.g. this bandwidth of the matrix); the run restores
        every device from its snapshot at the end."""
        for action in self.trial.spec.setup:
            gnb = self.bench.gnbs.get(action.device)
            if gnb is None:
                raise HarnessError(f"setup: {action.device} is not a gNodeB of this lab")
            await gnb.set_cell(action.cell, dict(action.params))

    async def _peaks(self, ctx: TrialContext) -> None:
        t = self.trial
        for criterion in t.criteria:
            for device in sorted(criterion.device_refs):
                for direction in ("dl", "ul"):
                    if (device, direction) not in ctx.peaks:
                        ctx.peaks[(device, direction)] = await cell_peak(
                            self.bench, device, t.cell, direction)

    async def _measure(self, kind_run: KindRun, errors: list[str]) -> list[KpiPoller]:
        """The kind's measurement with the trial's KPIs polled alongside."""
        t = self.trial
        kind = default_registry().get(t.kind)
        sources: dict[str, KpiSource] = {**self.bench.gnbs, **self.bench.cores}
        pollers = [
            KpiPoller(name, sources[name], kpis, [t.cell], t.kpi_interval_s, self.tags,
                      self.emit)
            for name, kpis in t.monitor.items() if name in sources
        ]
        tasks = [asyncio.create_task(p.run()) for p in pollers]
        try:
            await kind.measure(kind_run)
        except HarnessError as exc:
            errors.append(str(exc))
        finally:
            for p in pollers:
                p.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True),
                                       timeout=10)
        for p in pollers:
            if p.error is not None:
                errors.append(f"KPI polling of {p.device_name} stopped: {p.error}")
        return pollers


def _kpi_metrics(pollers: list[KpiPoller], metrics: dict[str, Quantity]) -> None:
    """`DEVICE.KPI.delta` of counters, `.mean`/`.max` of gauges."""
    for poller in pollers:
        for series in poller.series.values():
            base = f"{series.device}.{series.kpi}"
            total = series.total()
            if total is not None:
                metrics[f"{base}.delta"] = Quantity(total, series.unit)
            elif series.values:
                stats = summarize([v for _, v in series.values])
                if stats is not None:
                    metrics[f"{base}.mean"] = Quantity(stats.mean, series.unit)
                    metrics[f"{base}.max"] = Quantity(stats.max, series.unit)


def dump_json(path: Path, data: Any) -> None:
    """Write JSON the way every run file is written (UTF-8, indented, stable key order)."""
    path.write_text(jsonio.dumps(data, what=path.name, indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
