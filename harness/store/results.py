"""Where a run's results go: one event subscriber that feeds the embedded store and, when one
is configured, InfluxDB, with the same points; that turns verdicts and notices into `verdict`
and `event` samples; that judges the run against a baseline; and that files the run in the
reports directory's catalog.

Every sample is normalised once (fixed field types, empty tags dropped), tagged with the run's
lab and site and with the facts of its device (role, vendor, model, firmware), and checked;
a sample no store can hold (NaN, a line break in a tag...) goes to neither, but is kept with
the reason in `rejected-samples.jsonl`, so the two stores never disagree and nothing vanishes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.base import jsonio
from harness.base.errors import HarnessError, StorageError
from harness.base.events import (
    Event,
    Notice,
    RunStarted,
    SamplesRecorded,
    TrialFinished,
    TrialStarted,
)
from harness.base.sample import Sample, SampleError, check_sample, normalized
from harness.base.summary import SummaryError, read_summary
from harness.base.verdict import Verdict, worst
from harness.config.lab import Lab
from harness.store.catalog import Catalog
from harness.store.compare import compare
from harness.store.files import storage_errors
from harness.store.influx import InfluxTarget
from harness.store.sink import InfluxSink
from harness.store.sqlite import SqliteStore

DEVICE_TAGS = ("role", "vendor", "model", "firmware")


@dataclass(frozen=True)
class Baseline:
    """A run to compare against, and how: relative threshold and significance level."""

    run_dir: Path
    threshold: float = 0.05
    alpha: float = 0.05


@dataclass(frozen=True)
class ResultsOptions:
    """Result destinations beyond the embedded store, and the baseline to judge against."""

    influx: InfluxTarget | None = None
    baseline: Baseline | None = None
    regression: Mapping[str, Any] | None = None  # summary.json `regression`: judged metrics
    baseline_note: str | None = None  # why no baseline was found (said once, not an error)
    flush_timeout_s: float = 15.0


def iso_to_ns(text: str | None) -> int:
    """summary.json's `2026-11-28T15:01:02.345Z` as Unix nanoseconds (now when missing)."""
    if not text:
        return time.time_ns()
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000


class RunResults:
    """The results of one run (an event subscriber); `finish` then `close` at the end."""

    def __init__(self, run_dir: Path, *, run_id: str, scenario: str, lab: Lab,
                 options: ResultsOptions, emit: Callable[[Event], None],
                 on_fault: Callable[[StorageError], None] | None = None) -> None:
        self.run_dir = run_dir
        self.options = options
        self._emit = emit
        self._on_fault = on_fault
        self.fault: StorageError | None = None  # the first storage fault; SQLite stops then
        self.unsaved = 0  # samples not stored in samples.sqlite because of it
        self.store = SqliteStore(run_dir / "samples.sqlite")  # StorageError when it cannot
        self._store_id = _file_id(self.store.path)
        self._store_closed = False
        self.sink: InfluxSink | None = None
        if options.influx is not None:
            try:
                self.sink = InfluxSink(options.influx, run_dir, replay_from=run_dir.parent)
            except (HarnessError, OSError) as exc:  # the run goes on; samples are in SQLite
                emit(Notice(f"InfluxDB sink not started: {exc}; `harness push "
                            f"{run_dir.name}` can send the samples later", "error"))
        site = {k.lower(): str(v) for k, v in lab.site.items()}
        self.run_tags = {"run_id": run_id, "scenario": scenario, "lab": lab.name,
                         "site": site.get("name") or site.get("location", ""),
                         "operator": site.get("operator", "")}
        self._devices: dict[str, dict[str, str]] = {}
        self._last_event_ns = 0
        self._finished = False
        self._rejected = 0

    # --- events -----------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        if self._finished:
            return
        if isinstance(event, SamplesRecorded):
            self.record(event.samples)
        elif isinstance(event, TrialFinished):
            self.record(self._trial_verdict(event.result))
        elif isinstance(event, TrialStarted):
            self.record([self._event("trial_started", "info", f"{event.trial_id} "
                                     f"#{event.repetition} started",
                                     trial=event.trial_id, repetition=str(event.repetition))])
        elif isinstance(event, RunStarted):
            self.record([self._event("run_started", "info",
                                     f"{event.trials} trial(s) planned")])
        elif isinstance(event, Notice):
            self.record([self._event("notice", event.level, event.text)])
        self._relay_sink_messages()

    def set_devices(self, devices: Sequence[Mapping[str, Any]]) -> None:
        """Device facts (summary.json `devices`) that samples of each device are tagged with."""
        self._devices = {str(d["name"]): {k: str(d.get(k) or "") for k in DEVICE_TAGS}
                         for d in devices if d.get("name")}

    def record(self, samples: Sequence[Sample]) -> None:
        """Normalise, tag and check samples, then hand the same points to every store."""
        ready: list[Sample] = []
        for sample in samples:
            sample = self._tagged(normalized(sample))
            try:
                check_sample(sample)
            except SampleError as exc:
                self._reject(sample, str(exc))
                continue
            ready.append(sample)
        if not ready:
            return
        if self.fault is None:
            try:
                self.store.write(ready)
            except StorageError as exc:
                self._failed(exc)
        if self.fault is not None:
            self.unsaved += len(ready)
        if self.sink is not None:
            self.sink.write(ready)

    def _failed(self, exc: StorageError) -> None:
        """The first storage fault: kept, handed to the runner (which stops the run); the
        SQLite store takes nothing more (what it committed before stays consistent)."""
        if self.fault is None:
            self.fault = exc
        if self._on_fault is not None:
            self._on_fault(exc)

    def check(self) -> StorageError | None:
        """A storage fault not seen yet: samples.sqlite vanished (or replaced) under the run,
        where SQLite itself would go on writing into a deleted file."""
        if self.fault is None and _file_id(self.store.path) != self._store_id:
            self._failed(StorageError(self.store.path, "the file vanished during the run",
                                      code="ENOENT"))
        return self.fault

    def rescue(self, directory: Path) -> Path | None:
        """Copy what samples.sqlite committed to `directory` (when the run directory lost it);
        the copy's path, or None when that failed too (said as a notice)."""
        target = directory / "samples.sqlite"
        try:
            with storage_errors(directory):
                directory.mkdir(parents=True, exist_ok=True)
            self.store.backup_to(target)
        except StorageError as exc:
            self._emit(Notice(f"could not copy the samples to {target}: {exc}", "error"))
            return None
        return target

    def _tagged(self, sample: Sample) -> Sample:
        extra = {k: v for k, v in self.run_tags.items() if v and k not in sample.tags}
        device = self._devices.get(sample.tags.get("device", ""))
        if device:
            extra.update((k, v) for k, v in device.items() if v and k not in sample.tags)
        if not extra:
            return sample
        return Sample(sample.time_ns, sample.measurement, {**sample.tags, **extra},
                      sample.fields)

    def _reject(self, sample: Sample, reason: str) -> None:
        self._rejected += 1
        entry = {"reason": reason, "time_ns": sample.time_ns, "measurement": sample.measurement,
                 "tags": dict(sample.tags), "fields": {k: v if isinstance(v, int | float | str)
                                                       else repr(v)
                                                       for k, v in sample.fields.items()}}
        path = self.run_dir / "rejected-samples.jsonl"
        try:
            with storage_errors(path), open(path, "a", encoding="utf-8") as out:
                out.write(jsonio.dumps(entry, ensure_ascii=False, default=repr) + "\n")
        except StorageError as exc:
            self._failed(exc)
        if self._rejected == 1:
            self._emit(Notice(f"a sample could not be stored: {reason}; it is kept in "
                              "rejected-samples.jsonl (further ones too)", "warning"))

    def _event(self, kind: str, level: str, text: str, **tags: str) -> Sample:
        now = max(time.time_ns(), self._last_event_ns + 1)  # one event, one timestamp
        self._last_event_ns = now
        return Sample(now, "event", {**tags, "kind": kind, "severity": level},
                      {"message": " ".join(text.split())})

    def _trial_verdict(self, result: Mapping[str, Any]) -> list[Sample]:
        when = iso_to_ns(result.get("finished"))
        verdict = Verdict(result["verdict"])
        tags = {"trial": str(result["id"]), "repetition": str(result["repetition"])}
        fields: dict[str, float | int | bool | str] = {
            "verdict": verdict.value, "code": verdict.severity,
            "passed": verdict is Verdict.PASS}
        for name, metric in (result.get("metrics") or {}).items():
            value = metric.get("value") if isinstance(metric, Mapping) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                fields[name] = float(value)
        if result.get("error"):
            fields["error"] = " ".join(str(result["error"]).split())
        samples = [Sample(when, "verdict", {**tags, "level": "trial"}, fields)]
        for criterion in result.get("criteria") or ():
            cv = Verdict(criterion["verdict"])
            cfields: dict[str, float | int | bool | str] = {
                "verdict": cv.value, "code": cv.severity, "passed": cv is Verdict.PASS}
            for part in ("observed", "threshold"):
                found = criterion.get(part)
                if isinstance(found, Mapping) and isinstance(found.get("value"), int | float):
                    cfields[part] = float(found["value"])
            if criterion.get("source"):
                cfields["source"] = str(criterion["source"])
            samples.append(Sample(when, "verdict", {**tags, "level": "criterion",
                                                    "criterion": str(criterion["expr"])},
                                  cfields))
        return samples

    def _relay_sink_messages(self) -> None:
        if self.sink is None:
            return
        for level, text in self.sink.messages():
            self._emit(Notice(text, level))

    # --- the end of the run -------------------------------------------------------------
    def finish(self, summary: dict[str, Any]) -> None:
        """Judge against the baseline, store the run's verdict, flush InfluxDB, and note in
        `summary` (results, baseline) what happened. Call before summary.json is written."""
        self._judge_baseline(summary)
        verdict = Verdict(summary["verdict"])
        self.record([Sample(iso_to_ns(summary.get("finished")), "verdict", {"level": "run"},
                            {"verdict": verdict.value, "code": verdict.severity,
                             "passed": verdict is Verdict.PASS,
                             "trials": len(summary.get("trials") or ())})])
        self._finished = True
        self.check()
        results: dict[str, Any] = {"samples": self._count(),
                                   "rejected_samples": self._rejected}
        if self.fault is not None:
            results["unsaved_samples"] = self.unsaved
            results["storage_error"] = str(self.fault)
        if self.sink is not None:
            timeout = 5.0 if summary.get("interrupted") else self.options.flush_timeout_s
            status = self.sink.close(timeout)
            self._relay_sink_messages()
            results["influxdb"] = status.as_json()
            if status.pending:
                self._emit(Notice(f"{status.pending} point(s) wait in the run's InfluxDB spool: "
                                  f"`harness push {self.run_dir.name}` sends them", "warning"))
        summary["results"] = results

    def _judge_baseline(self, summary: dict[str, Any]) -> None:
        """Record what a comparison judges (`regression`), compare with the baseline, and make
        a regression its own verdict reason: `baseline.verdict`, `baseline.trials[]` and
        `verdict_reasons` say it apart from the trials' verdicts; the run's verdict is the
        worst of both (a regression FAILs, an unresolved one is INCONCLUSIVE)."""
        if self.options.regression:
            summary["regression"] = dict(self.options.regression)
        base = self.options.baseline
        if base is None:
            if self.options.baseline_note:
                summary["baseline"] = {"run_id": None, "note": self.options.baseline_note}
                self._emit(Notice(f"no baseline comparison: {self.options.baseline_note}",
                                  "warning"))
            return
        try:
            baseline = read_summary(base.run_dir).as_dict()
        except SummaryError as exc:
            summary["baseline"] = {"run_id": None, "note": f"baseline unreadable: {exc}"}
            self._emit(Notice(f"no baseline comparison: {exc}", "warning"))
            return
        result = compare(baseline, summary, threshold=base.threshold, alpha=base.alpha)
        summary["baseline"] = {**result.as_json(), "run_id": result.baseline_run}
        for diff in [*result.regressions, *result.inconclusive]:
            what = "regression" if diff.status == "regression" else "possible regression"
            self._emit(Notice(f"{what} against {result.baseline_run}: {diff.trial} "
                              f"{diff.describe()}",
                              "error" if diff.status == "regression" else "warning"))
        measured = Verdict(summary["verdict"])
        summary["verdict_reasons"] = [
            {"reason": "trials", "verdict": measured.value},
            {"reason": "regression", "verdict": result.verdict.value,
             "against": result.baseline_run, "regressions": len(result.regressions),
             "inconclusive": len(result.inconclusive)}]
        summary["verdict"] = worst([measured, result.verdict]).value

    def _count(self) -> int | None:
        try:
            return self.store.count()
        except Exception as exc:
            self._emit(Notice(f"could not count the samples in {self.store.path}: {exc}",
                              "warning"))
            return None

    def close_store(self) -> None:
        """Stop the sink and close samples.sqlite; a failing close is a storage fault."""
        self._finished = True
        if self.sink is not None and not self.sink.closed:
            self.sink.close(self.options.flush_timeout_s)
        if self._store_closed:
            return
        self._store_closed = True
        try:
            self.store.close()
        except StorageError as exc:
            self._failed(exc)

    def close(self) -> None:
        """Close the store and file the run in the catalog (after summary.json is written)."""
        self.close_store()
        self.register()

    def register(self) -> None:
        """File the run in the reports directory's catalog (an index: a failure is a
        warning, `harness runs` rebuilds it)."""
        try:
            catalog = Catalog(self.run_dir.parent)
            try:
                catalog.register(self.run_dir)
            finally:
                catalog.close()
        except Exception as exc:  # the catalog is an index: never lose a run over it
            self._emit(Notice(f"could not add the run to {self.run_dir.parent}/catalog.sqlite: "
                              f"{exc} (`harness runs` rebuilds it)", "warning"))


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a file, None when it is gone."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino
