"""Runs a scenario on a lab: bench up, snapshot, setup, trials (with monitors, retries, in
parallel when allowed), teardown and restore, results, report. Ctrl-C → interrupted, devices
restored, partial summary written; `--resume` carries such a run on."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drivers.capabilities import ProfiledDevice, TrafficEndpoint
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
from harness.config.lab import Lab
from harness.config.scenario import DeviceAction, Scenario
from harness.engine.bench import Bench, open_bench
from harness.engine.resume import ResumeState, trial_finished
from harness.engine.run_files import (
    RUN_LOG,
    close_run_log,
    open_run_log,
    storage_entry,
)
from harness.engine.sinks import SinkOptions, compose_sinks
from harness.engine.snapshot import (
    UNKNOWN,
    CellConfig,
    DeviceSnapshot,
    RestoreProblem,
    known_values,
    restore_snapshot,
    restore_targets,
    take_snapshot,
)
from harness.engine.trial import TrialRun, unexpected, utc_now
from harness.judge.aggregate import aggregate_trials, run_verdict
from harness.kinds import KindRegistry, default_registry
from harness.kinds.planned import PlannedTrial
from harness.monitors import MonitorFactory, MonitorGroup, TrialScope
from harness.monitors.alarms import alarm_monitors
from harness.monitors.crosscheck import crosscheck_monitors
from harness.monitors.health import health_monitors
from harness.report.i18n import Lang
from harness.store.files import storage_errors
from harness.store.results import ResultsOptions, RunResults

_log = logging.getLogger("harness.engine.runner")


@dataclass(frozen=True)
class RunInputs:
    """What a run needs: the validated files, their paths, and the planned trials."""

    lab: Lab
    lab_path: Path
    scenario: Scenario
    scenario_path: Path
    trials: list[PlannedTrial]
    kinds: KindRegistry = field(default_factory=default_registry)  # the one the plan used


@dataclass(frozen=True)
class RunOptions:
    """How to run: retries of ERROR trials, a cap on parallel trials, a run to resume."""

    retries: int = 0
    max_parallel: int | None = None  # None: the scenario's max_parallel
    resume: ResumeState | None = None
    report_lang: Lang = "both"  # the report's language(s): vi, en or both
    report_pdf: bool = True  # report.pdf beside report.html


@dataclass
class RunOutcome:
    """Where a run landed and how it ended."""

    run_dir: Path
    verdict: Verdict
    interrupted: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    storage_error: str | None = None  # the first run file that could not be written, and why
    summary_path: Path | None = None  # where summary.json went (None: nowhere could take it)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_run_id(scenario: str) -> str:
    """`20261128T150102Z-smoke-3f9a`: sortable, readable, unique."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario}-{secrets.token_hex(2)}"


def trial_devices(trial: PlannedTrial) -> set[str]:
    """Every device a trial uses or watches (trials on disjoint sets may run in parallel)."""
    return set(trial.devices)


def _interrupted_entry(trial: PlannedTrial) -> dict[str, Any]:
    return {"id": trial.id, "repetition": trial.repetition, "kind": trial.kind,
            "params": trial.params, "verdict": Verdict.ERROR.value, "metrics": {},
            "criteria": [], "interrupted": True,
            "error": "interrupted (Ctrl-C): samples taken so far are in samples.sqlite"}


def _crashed_entry(trial: PlannedTrial, error: str) -> dict[str, Any]:
    """The entry of a trial whose run raised past its own handling: ERROR with the cause."""
    return {"id": trial.id, "repetition": trial.repetition, "kind": trial.kind,
            "params": trial.params, "verdict": Verdict.ERROR.value, "metrics": {},
            "criteria": [], "acceptance": [], "error": error, "started": utc_now(),
            "finished": utc_now()}


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
        self.restore: list[tuple[str, DeviceAction]] = []
        self.bench: Bench | None = None  # while the run holds the bench (tests reach the sim)
        self.snapshot: dict[str, DeviceSnapshot] = {}
        self._results: dict[int, dict[str, Any]] = {}
        self.storage_error: StorageError | None = None  # the first: no trial starts after it
        self.storage_errors: list[str] = []  # every distinct one, in order
        self.results: RunResults | None = None

    def _summary_start(self) -> dict[str, Any]:
        inputs, resume = self.inputs, self.options.resume
        summary: dict[str, Any] = {
            "format_version": SUMMARY_FORMAT_VERSION, "harness_version": __version__,
            "run_id": self.run_id, "verdict": Verdict.ERROR.value,
            "scenario": {"name": inputs.scenario.name, "sha256": _sha256(inputs.scenario_path),
                         "title": inputs.scenario.title.model_dump(),
                         "file": str(inputs.scenario_path),
                         "description": inputs.scenario.description,
                         "purpose": inputs.scenario.purpose,
                         "operator": inputs.scenario.operator,
                         "references": list(inputs.scenario.references)},
            "lab": {"name": inputs.lab.name, "sha256": _sha256(inputs.lab_path),
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
        except StorageError as exc:  # nothing touched yet: no device to restore
            self._storage_fault(exc)
            self.results = self._new_results()
            return self._cannot_start(exc)
        try:
            self.results = self._new_results()
            if self.results.start_error is not None:
                return self._cannot_start(self.results.start_error)
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
        work = Path(tempfile.mkdtemp(prefix="ran-harness-"))
        interrupted = False
        try:
            bench = await open_bench(inputs.lab, work, run_id=self.run_id,
                                     log_dir=self.run_dir / "devices")
            self.bench = bench
            try:
                summary["devices"] = await self._devices(bench)
                results.set_devices(summary["devices"])
                self.snapshot = await asyncio.shield(take_snapshot(bench))
                summary["snapshot"]["before"] = {n: s.to_json() for n, s in self.snapshot.items()}
                await self._trials(bench, summary)
            finally:
                summary["trials"] = self._ordered()
                summary["restore_errors"] = await self._teardown(bench, summary)
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

    def _note_storage(self, summary: dict[str, Any]) -> None:
        """Storage faults so far into the summary; any makes the run ERROR (at least)."""
        if not self.storage_errors:
            return
        summary["storage_error"] = str(self.storage_error)
        summary["storage_errors"] = list(self.storage_errors)
        summary["verdict"] = worst([Verdict(summary["verdict"]), Verdict.ERROR]).value

    def _ordered(self) -> list[dict[str, Any]]:
        return [self._results[i] for i in sorted(self._results)]

    async def _devices(self, bench: Bench) -> list[dict[str, Any]]:
        devices: list[dict[str, Any]] = []
        equipment: list[tuple[str, ProfiledDevice]] = [*bench.gnbs.items(),
                                                       *bench.cores.items()]
        for name, gnb in equipment:
            entry: dict[str, Any] = {"name": name, "role": gnb.profile.role,
                                     "profile": gnb.profile.name}
            try:
                facts = await gnb.facts()
                entry.update(vendor=facts.vendor, model=facts.model, serial=facts.serial,
                             firmware=facts.firmware, description=facts.description)
            except HarnessError as exc:
                entry.update(vendor="", model="", serial="", firmware="", error=str(exc))
                self.bus.emit(Notice(f"{name}: {exc}", "warning"))
            devices.append(entry)
        for name, host in bench.hosts.items():
            devices.append(await _host_entry(name, host, self.inputs.lab.devices[name].role))
        for entry in devices:
            entry["driver"] = bench.drivers.get(entry["name"], "")
            entry["ssh_host_key_policy"] = bench.ssh_policies.get(entry["name"])
        return devices

    def _monitor_factories(self, bench: Bench) -> list[MonitorFactory]:
        settings = self.inputs.scenario.monitors
        return [alarm_monitors(bench, settings.alarms), health_monitors(bench, settings.health),
                crosscheck_monitors(bench, settings.crosscheck)]

    async def _trials(self, bench: Bench, summary: dict[str, Any]) -> None:
        inputs = self.inputs
        try:
            for action in inputs.scenario.setup:
                await self._apply(bench, action, remember=True)
        except HarnessError as exc:
            summary["setup_error"] = f"setup failed: {exc}"
            self.bus.emit(Notice(summary["setup_error"], "error"))
            return
        todo = [(i, t) for i, t in enumerate(inputs.trials) if i not in self._results]
        factories = self._monitor_factories(bench)
        parallel = inputs.scenario.parallel and len(todo) > 1
        if not parallel:
            for index, trial in todo:
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
            except asyncio.CancelledError:
                self._results[index] = {**_interrupted_entry(trial), "attempts": attempt}
                raise
            except Exception as exc:  # one trial's defect never ends the run
                entry = _crashed_entry(trial, unexpected(exc, "the trial", run.tags))
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

    async def _apply(self, bench: Bench, action: DeviceAction, *, remember: bool) -> None:
        gnb = bench.gnbs.get(action.device)
        if gnb is None:
            raise HarnessError(f"{action.device} is not a gNodeB of this lab")
        if remember:
            before = await gnb.cell_config(action.cell)
            old = {k: before[k] for k in action.params if k in before}
            self.restore.append((action.device, DeviceAction(
                device=action.device, action=action.action, cell=action.cell, params=old)))
        await gnb.set_cell(action.cell, action.params)
        self.bus.emit(Notice(f"{action.device}: {action.action} cell {action.cell} "
                             f"{dict(action.params)}"))

    async def _teardown(self, bench: Bench, summary: dict[str, Any]) -> list[dict[str, Any]]:
        """Scenario teardown; then every cell back as the snapshot found it (what setup
        changed, for cells the snapshot could not read); each parameter not put back, or
        not verified, as a structured entry (summary.json's `restore_errors`)."""
        problems: list[RestoreProblem] = []
        known = self._known_values()

        def notify(text: str, level: str) -> None:
            self.bus.emit(Notice(text, level))

        for action in self.inputs.scenario.teardown:
            if not action.params:
                continue
            try:
                await asyncio.shield(self._apply(bench, action, remember=False))
            except (HarnessError, asyncio.CancelledError) as exc:
                for param, value in action.params.items():
                    problems.append(RestoreProblem(
                        action.device, action.cell, param, value,
                        known.get((action.device, action.cell), {}).get(param, UNKNOWN),
                        "failed", f"teardown step failed: {exc}"))
                    notify(problems[-1].message, "warning")
        setup_restores: dict[tuple[str, int], CellConfig] = {}
        for name, action in self.restore:  # the first read of a cell is what it was before
            setup_restores.setdefault((name, action.cell), dict(action.params))
        targets = restore_targets(self.snapshot, setup_restores)
        if targets or self.snapshot:
            task = asyncio.ensure_future(restore_snapshot(bench, targets, notify, known=known))
            try:
                after, left = await asyncio.shield(task)
            except asyncio.CancelledError:  # a second Ctrl-C: still let the restore finish
                after, left = await task
            summary["snapshot"]["after"] = {n: s.to_json() for n, s in after.items()}
            problems += left
        return [p.to_json() for p in problems]

    def _known_values(self) -> dict[tuple[str, int], CellConfig]:
        """The last cell values the run wrote (setup) or read (each trial's conditions)."""
        return known_values(
            [(a.device, a.cell, a.params) for a in self.inputs.scenario.setup],
            [(self.inputs.trials[i].via, self.inputs.trials[i].cell,
              self._results[i].get("conditions")) for i in sorted(self._results)])


async def _host_entry(name: str, host: TrafficEndpoint, role: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "role": role, "vendor": "", "model": "traffic host",
                             "serial": "", "firmware": ""}
    try:
        entry["firmware"] = f"iperf3 {await host.tool_version('iperf3')}"
    except HarnessError as exc:
        entry["error"] = str(exc)
    return entry
