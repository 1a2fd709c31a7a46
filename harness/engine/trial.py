"""One planned trial on the bench: peaks, monitors and KPI polling around the kind's
measurement, then statistics and criteria → its summary.json entry.

What is measured is up to the trial's kind (harness/kinds/); this module is the same for all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from drivers.capabilities import KpiSource
from drivers.profile_values import missing_peak_params
from harness.base import jsonio
from harness.base.errors import HarnessError, StorageError
from harness.base.nr_peak import Carrier, frequency_range, tdd_share
from harness.base.sample import Sample
from harness.base.stats import summarize
from harness.base.units import Quantity
from harness.base.verdict import Verdict, worst
from harness.base.window import MeasuredWindow
from harness.engine.bench import Bench
from harness.engine.plan import plan_file
from harness.judge.aggregate import JudgeContext, judge, voided
from harness.judge.criteria import CriterionResult
from harness.judge.estimates import SampleStatistics, sample_statistics
from harness.kinds import KindRegistry, KindRun, default_registry
from harness.kinds.planned import PlannedTrial
from harness.kinds.throughput import throughput_metrics
from harness.monitors import MonitorGroup
from harness.monitors.kpi import KPI_STATS, KpiPoller, KpiSeries, ambiguous_kpi

__all__ = ["CONDITION_KEYS", "TrialContext", "TrialRun", "cell_peak", "condition_mismatches",
           "dump_json", "dump_json_text", "peak_of_config",
           "throughput_metrics", "utc_now"]

TrialContext = JudgeContext
"""What a trial's criteria read (implements CriterionContext)."""

_log = logging.getLogger("harness.engine.trial")
"""Unexpected exceptions of a trial, with their traceback; records carry `run_id` (the run
attaches a handler writing reports/<run-id>/run.log, see harness.engine.runner)."""


def unexpected(exc: Exception, where: str, tags: dict[str, str]) -> str:
    """Log an exception nothing expected (traceback into the run's log) and return its text
    for the trial's `error`: the trial is ERROR, the run goes on."""
    _log.error("trial %s r%s: unexpected %s during %s: %s", tags.get("trial"),
               tags.get("repetition"), type(exc).__name__, where, exc, exc_info=exc,
               extra={"run_id": tags.get("run_id")})
    return (f"unexpected {type(exc).__name__} during {where}: {exc} "
            "(a defect of the harness or of a plugin: the traceback is in run.log)")


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds, as summary.json records times."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def cell_peak(bench: Bench, device: str, cell: int, direction: str) -> Quantity:
    """TS 38.306 peak of a gNodeB cell × its TDD share, from parameters read off the device."""
    gnb = bench.gnbs.get(device)
    if gnb is None:
        raise HarnessError(f"peak({device}): {device} is not a gNodeB of this lab")
    cfg = await gnb.cell_config(cell)
    missing = missing_peak_params(cfg)
    if missing:
        profile = getattr(getattr(gnb, "profile", None), "name", "?")
        raise HarnessError(f"peak({device}): the profile {profile} reads no "
                           f"{', '.join(missing)} of a cell: add them under cell_params "
                           "(docs/writing-a-profile.md, 'Cell parameters')")
    return peak_of_config(cfg, direction)


def peak_of_config(cfg: Mapping[str, int | str], direction: str) -> Quantity:
    """TS 38.306 peak × TDD share of cell parameters as a device reports them (pure); the
    frequency range comes from the cell's band (or, without one, its SCS). HarnessError
    when a parameter peak() needs is missing."""
    missing = missing_peak_params(cfg)
    if missing:
        raise HarnessError(f"peak() needs the cell parameter(s) {', '.join(missing)}")
    layers = int(cfg[f"layers_{direction}"])
    modulation = str(cfg[f"modulation_{direction}"])
    scs = int(cfg["scs_khz"])
    band = cfg.get("band")
    fr = frequency_range(str(band) if band is not None else None, scs)
    carrier = Carrier(int(cfg["bandwidth_mhz"]), scs, layers, modulation, direction, fr=fr)
    special = str(cfg.get("special") or "") or None
    share = tdd_share(str(cfg.get("tdd") or "FDD"), special, direction)
    return Quantity(carrier.peak_mbps() * share, "Mbit/s")


class TrialRun:
    """Runs one planned trial and turns what happened into its summary.json entry."""

    def __init__(self, trial: PlannedTrial, bench: Bench, *, run_tags: dict[str, str],
                 raw_dir: Path, emit: Callable[[list[Sample]], None],
                 monitors: MonitorGroup | None = None, kinds: KindRegistry | None = None) -> None:
        self.trial = trial
        self.kinds = kinds or default_registry()
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
        self.storage_error: StorageError | None = None  # an evidence file it could not write

    async def _run_subtrial(self, trial: PlannedTrial, tags: dict[str, str]) -> dict[str, Any]:
        """A trial a kind runs inside this one (a regression after an upgrade), same bench."""
        return await TrialRun(trial, self.bench, run_tags=tags, raw_dir=self.raw_dir,
                              emit=self.emit, kinds=self.kinds).run()

    async def run(self) -> dict[str, Any]:
        """Measure and judge; any device or tool failure makes the trial ERROR, samples kept."""
        t = self.trial
        entry: dict[str, Any] = {"id": t.id, "repetition": t.repetition, "kind": t.kind,
                                 "params": t.params, "started": utc_now(), "metrics": {},
                                 "criteria": [], "error": None}
        errors: list[str] = []
        kind_run = KindRun(trial=t, bench=self.bench, tags=self.tags, raw_dir=self.raw_dir,
                           emit=self.emit, plan_file=partial(plan_file, registry=self.kinds),
                           run_trial=self._run_subtrial)
        direction = t.direction if t.direction in ("dl", "ul") else "dl"
        ctx = TrialContext(metrics=kind_run.metrics, direction=direction)
        voids: list[str] = []  # why the trial's own figures measure the equipment
        try:
            await self._setup()
            entry["facts_before"] = await self._facts()
            await self._conditions(entry)
            await self._peaks(ctx)
            watch = await self.monitors.start()
            try:
                pollers = await self._measure(kind_run, errors)
            except BaseException:
                await self.monitors.cancel()
                raise
            watch.merge(await self.monitors.stop(ctx.metrics, kind_run.windows))
            ctx.metrics.update(watch.metrics)
            voids = list(watch.voids)
            if voids:  # the kind's own acceptance read the equipment's figures (monitors' not)
                kind_run.acceptance[:] = voided(kind_run.acceptance, voids)
            kind_run.acceptance.extend(watch.acceptance)
            entry["monitors"] = watch.to_json()
            kind_run.notes.extend(_kpi_metrics(pollers, ctx.metrics, kind_run.windows,
                                               t.kpi_interval_s, ctx.withheld))
        except HarnessError as exc:
            errors.append(str(exc))
        except Exception as exc:  # a trial boundary: ERROR, the run goes on
            errors.append(unexpected(exc, "the trial", self.tags))
        entry["facts_after"] = await self._facts()  # a firmware upgrade shows both versions
        statistics = SampleStatistics()
        try:
            statistics = sample_statistics(kind_run.series, kind_run.proportions)
        except Exception as exc:  # a trial boundary: ERROR, what was measured is kept
            errors.append(unexpected(exc, "the statistics", self.tags))
        ctx.intervals = statistics.intervals
        ctx.series = kind_run.series
        ctx.counts = {n: c for n in ctx.metrics if (c := kind_run.count_of(n)) is not None}
        entry["metrics"] = {name: q.to_json() for name, q in sorted(ctx.metrics.items())}
        entry["n"] = dict(sorted(ctx.counts.items()))
        entry["ci"] = {n: [lo, hi] for n, (lo, hi) in sorted(ctx.intervals.items())}
        entry["proportions"] = {n: [k, m] for n, (k, m) in kind_run.proportions.items()}
        entry["statistics"] = dict(sorted(statistics.methods.items()))  # how each CI was made
        entry["exact"] = sorted(kind_run.exact)
        entry["peaks"] = {f"{d}/{r}": q.to_json() for (d, r), q in ctx.peaks.items()}
        entry["notes"] = list(kind_run.notes)
        if ctx.withheld:
            entry["withheld"] = dict(sorted(ctx.withheld.items()))  # metric → why no value
        entry.update(kind_run.extra)
        results: list[CriterionResult] = []
        if not errors:
            try:
                results = judge(t.criteria, ctx, t.min_samples, kind_run.exact)
            except Exception as exc:  # a trial boundary: ERROR, not a crash
                errors.append(unexpected(exc, "judging", self.tags))
        if voids:  # figures of the equipment, not of the device: neither PASS nor FAIL
            results = voided(results, voids)
            entry["void"] = voids
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

    async def _facts(self) -> dict[str, dict[str, str]]:
        """Vendor, model, serial and firmware of the gNodeBs and cores the trial uses, as they
        answer now; a device that does not answer gets its error instead (never fatal)."""
        devices = {**self.bench.gnbs, **self.bench.cores}
        found: dict[str, dict[str, str]] = {}
        for name in sorted(self.trial.devices & devices.keys()):
            try:
                facts = await devices[name].facts()
            except Exception as exc:  # recorded: the measurement decides the verdict
                found[name] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            found[name] = {"vendor": facts.vendor, "model": facts.model,
                           "serial": facts.serial, "firmware": facts.firmware}
        return found

    async def _conditions(self, entry: dict[str, Any]) -> None:
        """The measurement conditions of the trial's cell, read off its gNodeB at the start
        and recorded; a trial parameter naming a cell parameter that the device contradicts
        (matrix `bandwidth: 40` on a 100 MHz cell) is a HarnessError naming both values."""
        t = self.trial
        gnb = self.bench.gnbs.get(t.via or "")
        if gnb is None:
            return
        cfg = await gnb.cell_config(t.cell)
        firmware = (await gnb.facts()).firmware
        entry["conditions"] = {**cfg, "cell": t.cell, "firmware": firmware,
                               "source": f"read from {t.via} at start"}
        problems = condition_mismatches(t.params, cfg)
        if problems:
            raise HarnessError(f"conditions: {'; '.join(problems)} — set the cell in the "
                               "trial's setup (set_cell) or fix the parameter")

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
        kind = self.kinds.get(t.kind)
        sources: dict[str, KpiSource] = {**self.bench.gnbs, **self.bench.cores}
        pollers = [  # a gNodeB's KPIs on each monitored cell, a core's once
            KpiPoller(name, sources[name], kpis,
                      t.kpi_cells if name in self.bench.gnbs else [t.cell], t.kpi_interval_s,
                      self.tags, self.emit, per_cell=name in self.bench.gnbs)
            for name, kpis in t.monitor.items() if name in sources
        ]
        tasks = [asyncio.create_task(p.run()) for p in pollers]
        try:
            await kind.measure(kind_run)
        except HarnessError as exc:
            errors.append(str(exc))
            if isinstance(exc, StorageError):
                self.storage_error = exc
        except Exception as exc:  # a trial boundary: ERROR, the run goes on
            errors.append(unexpected(exc, f"the {t.kind} measurement", self.tags))
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


# Trial parameters (matrix or spec keys) that clearly name a cell parameter → its name in the
# device's cell configuration. Other keys are not conditions of the cell and are not compared.
CONDITION_KEYS: dict[str, str] = {
    "bandwidth": "bandwidth_mhz", "bandwidth_mhz": "bandwidth_mhz", "scs": "scs_khz",
    "scs_khz": "scs_khz", "band": "band", "tdd": "tdd", "layers_dl": "layers_dl",
    "layers_ul": "layers_ul", "modulation_dl": "modulation_dl", "modulation_ul": "modulation_ul",
}


def condition_mismatches(params: Mapping[str, Any], cell: Mapping[str, int | str]
                         ) -> list[str]:
    """Where a trial's parameters and the cell the device reports disagree (pure)."""
    problems: list[str] = []
    for key, field_name in CONDITION_KEYS.items():
        if key not in params or field_name not in cell:
            continue
        want, have = params[key], cell[field_name]
        same = (str(want).strip().lower() == str(have).strip().lower()
                if isinstance(have, str) else _number(want) == have)
        if not same:
            problems.append(f"the trial says {key} = {want}, the device reports "
                            f"{field_name} = {have}")
    return problems


def _number(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def _kpi_metrics(pollers: list[KpiPoller], metrics: dict[str, Quantity],
                 windows: Mapping[str, MeasuredWindow], interval_s: float,
                 withheld: dict[str, str] | None = None) -> list[str]:
    """`DEVICE.KPI.cellN.delta` of counters, `.mean`/`.max` of gauges, per polled cell, over
    the trial's measured window (see `KpiSeries.gauge_values`; a gauge without a declared
    period is taken to reach back one polling interval); notes for gauges with no reading
    inside it. With one polled cell the bare `DEVICE.KPI.delta` is that cell's value; with
    several it is withheld as ambiguous (a criterion names the cell); a core's KPIs have no
    cell and only the bare name.

    Readings the device marked suspect are never evidence: a gauge's statistics leave them
    out (with a note); a counter whose increase over the trial includes a suspect period, or
    a gauge with only suspect readings, reports no value and goes into `withheld` with the
    reason (a criterion on it is INCONCLUSIVE)."""
    withheld = {} if withheld is None else withheld
    notes: list[str] = []
    window = windows.get("") or next(iter(windows.values()), None)
    for poller in pollers:
        first = min((s.values[0][0] for s in poller.series.values() if s.values), default=0)
        since, until = first, time.time_ns()
        if window is not None and window.launched_ns:
            since = window.launched_ns + round(window.start_s * 1e9)
            until = window.returned_ns
        cells: dict[str, list[int]] = {}
        for series in poller.series.values():
            cells.setdefault(series.kpi, []).append(series.cell)
            bare = f"{series.device}.{series.kpi}"
            base = f"{bare}.cell{series.cell}" if poller.per_cell else bare
            _series_metrics(series, base, (since, until), interval_s, metrics, withheld, notes)
        for kpi, polled in cells.items():
            bare = f"{poller.device_name}.{kpi}"
            if not poller.per_cell:
                continue
            if len(polled) > 1:
                for stat in KPI_STATS:
                    withheld[f"{bare}.{stat}"] = ambiguous_kpi(poller.device_name, kpi, polled)
                continue
            for stat in KPI_STATS:  # one cell: the bare name is that cell's value
                named = f"{bare}.cell{polled[0]}.{stat}"
                if named in metrics:
                    metrics[f"{bare}.{stat}"] = metrics[named]
                if named in withheld:
                    withheld[f"{bare}.{stat}"] = withheld[named]
    for name in withheld:  # another cell's value must not stand in for a withheld one
        metrics.pop(name, None)
    return notes


def _series_metrics(series: KpiSeries, base: str, window: tuple[int, int], interval_s: float,
                    metrics: dict[str, Quantity], withheld: dict[str, str],
                    notes: list[str]) -> None:
    """One polled (KPI, cell)'s `.delta` or `.mean`/`.max` under the name `base`."""
    since, until = window
    total = series.total()
    if total is not None and series.suspect:
        withheld[f"{base}.delta"] = (
            f"{len(series.suspect)} of {len(series.values) - 1} period(s) of {base} "
            "marked suspect by the device: its increase over the trial is unknown")
        notes.append(f"{base}.delta: not reported ({withheld[f'{base}.delta']})")
    elif total is not None:
        metrics[f"{base}.delta"] = Quantity(total, series.unit)
    elif series.values:
        stats = summarize(series.gauge_values(since, until, interval_s))
        flagged = series.suspect_in(since, until, interval_s)
        if flagged and stats is None:
            reason = (f"all {flagged} reading(s) of {base} in the measured window "
                      "marked suspect by the device")
            withheld[f"{base}.mean"] = withheld[f"{base}.max"] = reason
            notes.append(f"{base}: not reported ({reason})")
            return
        if flagged:
            notes.append(f"{base}: {flagged} reading(s) marked suspect by the device "
                         "left out of .mean/.max")
        if stats is not None:
            metrics[f"{base}.mean"] = Quantity(stats.mean, series.unit)
            metrics[f"{base}.max"] = Quantity(stats.max, series.unit)
        else:
            reach = series.period_s if series.period_s is not None else interval_s
            notes.append(f"{base}: no reading holds only the measured window's "
                         f"traffic (each reading reaches {reach:g} s back): not "
                         "reported")


def dump_json_text(name: str, data: Any) -> str:
    """JSON text the way every run file is written (indented, strict, non-ASCII kept)."""
    return jsonio.dumps(data, what=name, indent=2, ensure_ascii=False) + "\n"


def dump_json(path: Path, data: Any) -> None:
    """Write JSON the way every run file is written (UTF-8, indented, stable key order)."""
    path.write_text(dump_json_text(path.name, data), encoding="utf-8")
