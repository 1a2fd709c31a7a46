"""Runs a scenario on a lab: bench up, snapshot, setup, trials (with monitors, retries, in
parallel when allowed), teardown and restore, results, report. Ctrl-C → interrupted, devices
restored, partial summary written; `--resume` carries such a run on."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import __version__
from harness.base.errors import HarnessError, StorageError
from harness.base.events import (
    EventBus,
    Notice,
    RunFinished,
    RunStarted,
    SamplesRecorded,
    TrialFinished,
    TrialStarted,
)
from harness.base.sinks import RunSink, SummaryWriter
from harness.base.summary import SUMMARY_FORMAT_VERSION
from harness.base.verdict import Verdict, worst
from harness.engine.bench import Bench, open_bench
from harness.engine.cell_changes import CellChanges
from harness.engine.devices import device_entries
from harness.engine.interrupt import RunInterrupt, interruptible
from harness.engine.resume import SET_ASIDE, set_aside_interrupted, trial_finished
from harness.engine.run_files import (
    RUN_LOG,
    close_run_log,
    open_run_log,
)
from harness.engine.run_types import (
    RunInputs,
    RunOptions,
    RunOutcome,
    file_sha256,
    new_run_id,
)
from harness.engine.sinks import SinkOptions, compose_sinks
from harness.engine.snapshot import (
    DeviceSnapshot,
    take_snapshot,
)
from harness.engine.trial import TrialRun, unexpected, utc_now
from harness.engine.trial_entries import crashed_entry, interrupted_entry, storage_entry
from harness.judge.aggregate import aggregate_trials, run_verdict
from harness.kinds.planned import PlannedTrial
from harness.monitors import MonitorFactory, MonitorGroup, TrialScope
from harness.monitors.alarms import alarm_monitors
from harness.monitors.crosscheck import crosscheck_monitors
from harness.monitors.headroom import headroom_monitors
from harness.monitors.health import health_monitors
from harness.store.files import storage_errors
from harness.store.results import ResultsOptions, RunResults

_log = logging.getLogger("harness.engine.runner")

__all__ = ["RunInputs", "RunOptions", "RunOutcome", "Runner", "new_run_id", "trial_devices"]


def trial_devices(trial: PlannedTrial) -> set[str]:
    """Every device a trial uses or watches (trials on disjoint sets may run in parallel)."""
    return set(trial.devices)


class Runner:
    """One run = one scenario on one lab."""

    def __init__(self, inputs: RunInputs, out_dir: Path, bus: EventBus,
                 results: ResultsOptions | None = None,
                 options: RunOptions | None = None,
                 sinks: Sequence[RunSink] | None = None) -> None:
        self.inputs = inputs
        self.options = options or RunOptions()
        self.results_options = results or ResultsOptions()
        # where results go beyond samples.sqlite, as the command line composed them
        self.sinks = list(sinks) if sinks is not None else \
            compose_sinks(SinkOptions(self.results_options, lab=inputs.lab,
                                      report_lang=self.options.report_lang,
                                      report_pdf=self.options.report_pdf))
        self.bus = bus
        resume = self.options.resume
        self.run_id = resume.run_id if resume else new_run_id(inputs.scenario.name)
        self.run_dir = resume.run_dir if resume else out_dir / self.run_id
        self.changes = CellChanges(inputs, self._notify)  # what setup changed, put back
        self.bench: Bench | None = None  # while the run holds the bench (tests reach the sim)
        self.interrupt: RunInterrupt | None = None  # Ctrl-C handling while the run is on
        self.snapshot: dict[str, DeviceSnapshot] = {}
        self._results: dict[int, dict[str, Any]] = {}
        self.storage_error: StorageError | None = None  # the first: no trial starts after it
        self.storage_errors: list[str] = []  # every distinct one, in order
        self.results: RunResults | None = None
        self._set_aside: dict[tuple[str, int], int] = {}  # resumed: samples moved per trial

    def _summary_start(self) -> dict[str, Any]:
        inputs, resume = self.inputs, self.options.resume
        summary: dict[str, Any] = {
            "format_version": SUMMARY_FORMAT_VERSION, "harness_version": __version__,
            "run_id": self.run_id, "verdict": Verdict.ERROR.value,
            "scenario": {"name": inputs.scenario.name, "sha256": file_sha256(inputs.scenario_path),
                         "title": inputs.scenario.title.model_dump(),
                         "file": str(inputs.scenario_path),
                         "description": inputs.scenario.description,
                         "purpose": inputs.scenario.purpose,
                         "operator": inputs.scenario.operator,
                         "references": list(inputs.scenario.references)},
            "lab": {"name": inputs.lab.name, "sha256": file_sha256(inputs.lab_path),
                    "site": dict(inputs.lab.site), "file": str(inputs.lab_path)},
            "started": utc_now(), "finished": None, "interrupted": False, "complete": False,
            "devices": [], "trials": [], "setup_error": None, "restore_errors": [],
            "snapshot": {}, "sessions": [],
        }
        if resume is not None:
            summary["started"] = resume.summary.get("started") or summary["started"]
            summary["sessions"] = list(resume.summary.get("sessions") or [])
            index = {(t.id, t.repetition): i for i, t in enumerate(inputs.trials)}
            for key, entry in resume.done.items():
                if key in index:
                    self._results[index[key]] = entry
            summary["trials"] = self._ordered()
        summary["sessions"].append({"started": utc_now(), "resumed": resume is not None})
        return summary

    async def run(self) -> RunOutcome:
        """Run every trial; on Ctrl-C or error the devices are restored and results kept; a
        run file that cannot be written stops the run (no new trial) as ERROR, never a crash."""
        inputs = self.inputs
        try:
            with storage_errors(self.run_dir / "raw"):
                (self.run_dir / "raw").mkdir(parents=True,
                                             exist_ok=self.options.resume is not None)
            log_handler = open_run_log(self.run_dir, self.run_id, self._storage_fault)
            if self.options.resume is not None:  # the interrupted attempts' samples aside
                self._set_aside = set_aside_interrupted(self.options.resume)
        except StorageError as exc:  # nothing touched yet: no device to restore
            self._storage_fault(exc)
            self.results = self._new_results()
            return self._cannot_start(exc)
        try:
            self.results = self._new_results()
            if self.results.start_error is not None:
                return self._cannot_start(self.results.start_error)
            with interruptible(lambda text: self.bus.emit(Notice(text, "warning"))) as stop:
                self.interrupt = stop
                return await self._run(inputs, self.results)
        finally:
            close_run_log(log_handler)

    def _new_results(self) -> RunResults:
        """The run's result router, with samples.sqlite and the composed sinks started."""
        return RunResults(
            self.run_dir, run_id=self.run_id, scenario=self.inputs.scenario.name,
            lab=self.inputs.lab, options=self.results_options, emit=self.bus.emit,
            on_fault=self._storage_fault, sinks=self.sinks, note_faults=self._note_storage,
            resumed=self.options.resume is not None)

    def _cannot_start(self, exc: StorageError) -> RunOutcome:
        """The run directory or samples.sqlite cannot be written: no device touched; the
        summary still goes out (in a fallback directory when the run directory refuses it)."""
        summary = self._summary_start()
        summary["setup_error"] = f"the run could not start: {exc}"
        assert self.results is not None
        return self._finish(summary, self.results, False)

    def _storage_fault(self, exc: StorageError) -> None:
        """A run file could not be written: said once per file and reason; the first one
        stops the run after the trial under way (its devices are still restored)."""
        text = str(exc)
        if text in self.storage_errors:
            return
        self.storage_errors.append(text)
        first = self.storage_error is None
        if first:
            self.storage_error = exc
        self.bus.emit(Notice(f"storage fault: {text}" + ("; no further trial starts, the "
                                                         "devices are restored" if first
                                                         else ""), "error"))

    def _check_interrupt(self) -> None:
        """Before a trial: stop if the run was asked to (a Ctrl-C whose cancellation an await
        swallowed included: see harness/engine/interrupt.py)."""
        if self.interrupt is not None:
            self.interrupt.check()
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # a parallel trial's own task
            raise asyncio.CancelledError

    def _storage_stopped(self) -> bool:
        """True once a storage fault has stopped the run (checked before every trial)."""
        if self.results is not None:
            self.results.check()
        return self.storage_error is not None

    async def _run(self, inputs: RunInputs, results: RunResults) -> RunOutcome:
        self.bus.subscribe(results)
        summary = self._summary_start()
        planned = sum(t.duration_s for t in inputs.trials)
        self.bus.emit(RunStarted(self.run_id, inputs.scenario.name, inputs.lab.name,
                                 len(inputs.trials), planned))
        if self._results:
            self.bus.emit(Notice(f"resuming {self.run_id}: {len(self._results)} of "
                                 f"{len(inputs.trials)} trial(s) already done"))
        for (trial_id, repetition), count in self._set_aside.items():
            self.bus.emit(Notice(f"{trial_id} #{repetition}: {count} sample(s) of its "
                                 f"interrupted attempt moved to {SET_ASIDE}; it runs again"))
        work = Path(tempfile.mkdtemp(prefix="ran-harness-"))
        interrupted = False
        try:
            bench = await open_bench(inputs.lab, work, run_id=self.run_id,
                                     log_dir=self.run_dir / "devices",
                                     attach=self.options.attach)
            self.bench = bench
            try:
                summary["devices"] = await device_entries(
                    bench, self.inputs.lab, lambda text: self.bus.emit(Notice(text, "warning")))
                results.set_devices(summary["devices"])
                self.snapshot = await asyncio.shield(take_snapshot(bench))
                summary["snapshot"]["before"] = {n: s.to_json() for n, s in self.snapshot.items()}
                await self._trials(bench, summary)
            finally:
                summary["trials"] = self._ordered()
                summary["restore_errors"] = await self.changes.teardown(
                    bench, self.snapshot, self._results, summary)
                self.bench = None
                await bench.close()
        except asyncio.CancelledError:
            interrupted = True
        except HarnessError as exc:
            summary["setup_error"] = str(exc)
            self.bus.emit(Notice(f"run stopped: {exc}", "error"))
        except Exception as exc:  # still write the summary of what ran
            _log.error("run stopped: unexpected %s: %s", type(exc).__name__, exc,
                       exc_info=exc, extra={"run_id": self.run_id})
            summary["setup_error"] = (f"unexpected {type(exc).__name__}: {exc} (traceback in "
                                      f"{RUN_LOG})")
            self.bus.emit(Notice(f"run stopped: {summary['setup_error']}", "error"))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self._finish(summary, results, interrupted)

    def _finish(self, summary: dict[str, Any], results: RunResults,
                interrupted: bool) -> RunOutcome:
        trials = self._ordered()
        complete = len(trials) == len(self.inputs.trials) and all(
            trial_finished(t) for t in trials)
        aggregates = aggregate_trials(self.inputs.trials, trials)  # per trial id, with CIs
        verdicts = [run_verdict(trials, aggregates)]
        if summary["setup_error"] or not complete or summary["restore_errors"]:
            verdicts.append(Verdict.ERROR)  # a device not restored (or not verified): ERROR
        summary.update(trials=trials, verdict=worst(verdicts).value, finished=utc_now(),
                       aggregates=aggregates,
                       interrupted=interrupted, complete=complete and not interrupted)
        summary["sessions"][-1]["finished"] = summary["finished"]
        # every sink in the composed order: SQLite, InfluxDB, plugins, report, JUnit,
        # summary.json, catalog (each sees the storage faults noted so far)
        results.finish(summary, prepare=self._before_output)
        results.close()
        summary_path = next((s.summary_path for s in self.sinks
                             if isinstance(s, SummaryWriter)), None)
        verdict = Verdict(summary["verdict"])
        self.bus.emit(RunFinished(self.run_id, verdict))
        return RunOutcome(self.run_dir, verdict, interrupted, summary,
                          str(self.storage_error) if self.storage_error else None,
                          summary_path)

    def _before_output(self, summary: dict[str, Any]) -> None:
        """Before each sink writes: a vanished run directory is a storage fault (never
        recreated), and the storage faults so far go into the summary."""
        if not self.run_dir.is_dir():
            self._storage_fault(StorageError(self.run_dir, "the run directory vanished during "
                                             "the run", code="ENOENT"))
        self._note_storage(summary)

    def _say(self, text: str) -> None:
        self.bus.emit(Notice(text, "error"))

    def _notify(self, text: str, level: str) -> None:
        self.bus.emit(Notice(text, level))

    def _note_storage(self, summary: dict[str, Any]) -> None:
        """Storage faults so far into the summary; any makes the run ERROR (at least)."""
        if not self.storage_errors:
            return
        summary["storage_error"] = str(self.storage_error)
        summary["storage_errors"] = list(self.storage_errors)
        summary["verdict"] = worst([Verdict(summary["verdict"]), Verdict.ERROR]).value

    def _ordered(self) -> list[dict[str, Any]]:
        return [self._results[i] for i in sorted(self._results)]

    def _monitor_factories(self, bench: Bench) -> list[MonitorFactory]:
        settings = self.inputs.scenario.monitors
        return [alarm_monitors(bench, settings.alarms), health_monitors(bench, settings.health),
                crosscheck_monitors(bench, settings.crosscheck), headroom_monitors(bench)]

    async def _trials(self, bench: Bench, summary: dict[str, Any]) -> None:
        inputs = self.inputs
        try:
            for action in inputs.scenario.setup:
                await self.changes.apply(bench, action, remember=True)
        except HarnessError as exc:
            summary["setup_error"] = f"setup failed: {exc}"
            self.bus.emit(Notice(summary["setup_error"], "error"))
            return
        todo = [(i, t) for i, t in enumerate(inputs.trials) if i not in self._results]
        factories = self._monitor_factories(bench)
        parallel = inputs.scenario.parallel and len(todo) > 1
        if not parallel:
            for index, trial in todo:
                self._check_interrupt()
                if self._storage_stopped():
                    return
                await self._run_trial(bench, index, trial, factories, watch_all=True)
            return
        limit = self.options.max_parallel or inputs.scenario.max_parallel
        slots = asyncio.Semaphore(limit)
        locks: dict[str, asyncio.Lock] = {}

        async def one(index: int, trial: PlannedTrial) -> None:
            mine = [locks.setdefault(n, asyncio.Lock()) for n in sorted(trial_devices(trial))]
            async with slots:
                for lock in mine:  # sorted order: no two trials wait on each other
                    await lock.acquire()
                try:
                    self._check_interrupt()
                    if self._storage_stopped():
                        return
                    await self._run_trial(bench, index, trial, factories, watch_all=False)
                finally:
                    for lock in mine:
                        lock.release()

        tasks = [asyncio.create_task(one(i, t)) for i, t in todo]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_trial(self, bench: Bench, index: int, trial: PlannedTrial,
                         factories: list[MonitorFactory], *, watch_all: bool) -> None:
        """One planned trial, run again (up to --retries times) while it ends in ERROR."""
        run_tags = {"run_id": self.run_id, "scenario": self.inputs.scenario.name}
        total = len(self.inputs.trials)
        devices = trial_devices(trial)
        if watch_all:  # one trial at a time: any device's alarm may concern it
            devices |= {*bench.gnbs, *bench.cores}
        errors: list[str] = []
        entry: dict[str, Any] = {}
        for attempt in range(1, self.options.retries + 2):
            self.bus.emit(TrialStarted(trial.id, trial.repetition, index + 1, total,
                                       trial.duration_s, attempt))
            emit = self._emitter()
            scope = TrialScope(
                trial.id, trial.repetition, tuple(sorted(devices)), trial.cell,
                trial.direction, trial.via,
                {**run_tags, "trial": trial.id, "repetition": str(trial.repetition)}, emit)
            run = TrialRun(trial, bench, run_tags=run_tags, raw_dir=self.run_dir / "raw",
                           emit=emit, monitors=MonitorGroup.build(factories, scope),
                           kinds=self.inputs.kinds)
            try:
                entry = await run.run()
                # a Ctrl-C during the trial whose cancellation an await swallowed: the trial
                # was cut short (iperf3 stopped early), never judged as if it ran its course
                self._check_interrupt()
            except asyncio.CancelledError:
                self._results[index] = {**interrupted_entry(trial), "attempts": attempt}
                raise
            except Exception as exc:  # one trial's defect never ends the run
                entry = crashed_entry(trial, unexpected(exc, "the trial", run.tags))
            if run.storage_error is not None:  # its evidence file could not be written
                self._storage_fault(run.storage_error)
            if self._storage_stopped() and self.storage_error is not None:
                entry = storage_entry(entry, self.storage_error)
            entry["attempts"] = attempt
            if errors:
                entry["previous_errors"] = list(errors)
            if entry["verdict"] != Verdict.ERROR.value or attempt > self.options.retries \
                    or self.storage_error is not None:
                break
            errors.append(str(entry.get("error")))
            self.bus.emit(Notice(f"{trial.id} #{trial.repetition}: ERROR ({entry.get('error')})"
                                 f"; running it again (attempt {attempt + 1})", "warning"))
        self._results[index] = entry
        self.bus.emit(TrialFinished(trial.id, trial.repetition, Verdict(entry["verdict"]),
                                    entry))

    def _emitter(self) -> Any:
        return lambda samples: self.bus.emit(SamplesRecorded(samples))
