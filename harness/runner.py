"""Runs a scenario on a lab: bench up, setup, trials, teardown/restore, results, report."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drivers.capabilities import ProfiledDevice, TrafficEndpoint
from harness import __version__
from harness.bench import Bench, open_bench
from harness.config.lab import Lab
from harness.config.scenario import DeviceAction, Scenario
from harness.errors import HarnessError
from harness.events import (
    EventBus,
    Notice,
    RunFinished,
    RunStarted,
    SamplesRecorded,
    TrialFinished,
    TrialStarted,
)
from harness.plan import PlannedTrial
from harness.report import write_report
from harness.store.results import ResultsOptions, RunResults
from harness.trial import TrialRun, dump_json, utc_now
from harness.verdict import Verdict, worst

SUMMARY_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RunInputs:
    """What a run needs: the validated files, their paths, and the planned trials."""

    lab: Lab
    lab_path: Path
    scenario: Scenario
    scenario_path: Path
    trials: list[PlannedTrial]


@dataclass
class RunOutcome:
    """Where a run landed and how it ended."""

    run_dir: Path
    verdict: Verdict
    interrupted: bool = False
    summary: dict[str, Any] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_run_id(scenario: str) -> str:
    """`20261128T150102Z-smoke-3f9a`: sortable, readable, unique."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario}-{secrets.token_hex(2)}"


class Runner:
    """One run = one scenario on one lab."""

    def __init__(self, inputs: RunInputs, out_dir: Path, bus: EventBus,
                 results: ResultsOptions | None = None) -> None:
        self.inputs = inputs
        self.results_options = results or ResultsOptions()
        self.bus = bus
        self.run_id = new_run_id(inputs.scenario.name)
        self.run_dir = out_dir / self.run_id
        self.restore: list[tuple[str, DeviceAction]] = []

    async def run(self) -> RunOutcome:
        """Run every trial; on Ctrl-C or error the devices are restored and results kept."""
        inputs = self.inputs
        (self.run_dir / "raw").mkdir(parents=True, exist_ok=False)
        results = RunResults(self.run_dir, run_id=self.run_id, scenario=inputs.scenario.name,
                             lab=inputs.lab, options=self.results_options, emit=self.bus.emit)
        samples: list[Any] = []
        self.bus.subscribe(results)
        self.bus.subscribe(lambda e: samples.extend(e.samples)
                           if isinstance(e, SamplesRecorded) else None)
        summary: dict[str, Any] = {
            "format_version": SUMMARY_FORMAT_VERSION, "harness_version": __version__,
            "run_id": self.run_id, "verdict": Verdict.ERROR.value,
            "scenario": {"name": inputs.scenario.name, "sha256": _sha256(inputs.scenario_path),
                         "title": inputs.scenario.title.model_dump(),
                         "file": str(inputs.scenario_path)},
            "lab": {"name": inputs.lab.name, "sha256": _sha256(inputs.lab_path),
                    "site": dict(inputs.lab.site), "file": str(inputs.lab_path)},
            "started": utc_now(), "finished": None, "interrupted": False,
            "devices": [], "trials": [], "setup_error": None, "restore_errors": [],
        }
        self.bus.emit(RunStarted(self.run_id, inputs.scenario.name, inputs.lab.name,
                                 len(inputs.trials)))
        work = Path(tempfile.mkdtemp(prefix="ran-harness-"))
        interrupted = False
        try:
            bench = await open_bench(inputs.lab, work, run_id=self.run_id,
                                     log_dir=self.run_dir / "devices")
            try:
                summary["devices"] = await self._devices(bench)
                results.set_devices(summary["devices"])
                await self._trials(bench, summary)
            finally:
                summary["restore_errors"] = await self._teardown(bench)
                await bench.close()
        except asyncio.CancelledError:
            interrupted = True
        except HarnessError as exc:
            summary["setup_error"] = str(exc)
            self.bus.emit(Notice(f"run stopped: {exc}", "error"))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        verdicts = [Verdict(t["verdict"]) for t in summary["trials"]]
        if summary["setup_error"] or len(verdicts) < len(inputs.trials):
            verdicts.append(Verdict.ERROR)
        verdict = worst(verdicts)
        summary.update(verdict=verdict.value, finished=utc_now(), interrupted=interrupted)
        results.finish(summary)  # baseline judgement, verdict samples, InfluxDB flush
        verdict = Verdict(summary["verdict"])
        dump_json(self.run_dir / "summary.json", summary)
        results.close()  # closes the store; files the run in the reports catalog
        write_report(self.run_dir, summary, samples, junit_path=self.run_dir / "junit.xml")
        self.bus.emit(RunFinished(self.run_id, verdict))
        return RunOutcome(self.run_dir, verdict, interrupted, summary)

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

    async def _trials(self, bench: Bench, summary: dict[str, Any]) -> None:
        inputs = self.inputs
        try:
            for action in inputs.scenario.setup:
                await self._apply(bench, action, remember=True)
        except HarnessError as exc:
            summary["setup_error"] = f"setup failed: {exc}"
            self.bus.emit(Notice(summary["setup_error"], "error"))
            return
        run_tags = {"run_id": self.run_id, "scenario": inputs.scenario.name}
        total = len(inputs.trials)
        for index, trial in enumerate(inputs.trials, start=1):
            self.bus.emit(TrialStarted(trial.id, trial.repetition, index, total, trial.duration_s))
            run = TrialRun(trial, bench, run_tags=run_tags, raw_dir=self.run_dir / "raw",
                           emit=lambda s: self.bus.emit(SamplesRecorded(s)))
            try:
                entry = await run.run()
            except asyncio.CancelledError:
                summary["trials"].append({
                    "id": trial.id, "repetition": trial.repetition, "kind": trial.kind,
                    "params": trial.params, "verdict": Verdict.ERROR.value, "metrics": {},
                    "criteria": [], "error": "interrupted (Ctrl-C): samples taken so far are "
                    "in samples.sqlite"})
                raise
            summary["trials"].append(entry)
            self.bus.emit(TrialFinished(trial.id, trial.repetition, Verdict(entry["verdict"]),
                                        entry))

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

    async def _teardown(self, bench: Bench) -> list[str]:
        """Scenario teardown, then put back what setup changed (newest first)."""
        problems: list[str] = []
        steps = [(a, False) for a in self.inputs.scenario.teardown]
        steps += [(a, False) for _, a in reversed(self.restore)]
        for action, remember in steps:
            if not action.params:
                continue
            try:
                await asyncio.shield(self._apply(bench, action, remember=remember))
            except (HarnessError, asyncio.CancelledError) as exc:
                problems.append(f"{action.device}: could not restore {dict(action.params)}: {exc}")
                self.bus.emit(Notice(problems[-1], "warning"))
        return problems


async def _host_entry(name: str, host: TrafficEndpoint, role: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "role": role, "vendor": "", "model": "traffic host",
                             "serial": "", "firmware": ""}
    try:
        entry["firmware"] = f"iperf3 {await host.tool_version('iperf3')}"
    except HarnessError as exc:
        entry["error"] = str(exc)
    return entry
