"""Where a run's results go: one event subscriber that feeds every result sink
(`harness.base.sinks.RunSink`: SQLite first, then InfluxDB, the report, summary.json, the
catalog and plugins, as the command line composed them) the same points; that turns verdicts
and notices into `verdict` and `event` samples; and that judges the run against a baseline.

Every sample is normalised once (fixed field types, empty tags dropped), tagged with the run's
lab and site and with the facts of its device (role, vendor, model, firmware), and checked;
a sample no store can hold (NaN, a line break in a tag...) goes to no sink, but is kept with
the reason in `rejected-samples.jsonl`, so the sinks never disagree and nothing vanishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.base import jsonio
from harness.base.errors import StorageError
from harness.base.events import (
    Event,
    Notice,
    RunStarted,
    SamplesRecorded,
    TrialFinished,
    TrialStarted,
)
from harness.base.sample import Sample, SampleError, check_sample, normalized
from harness.base.sinks import RunContext, RunSink
from harness.base.summary import SummaryError, read_summary
from harness.base.verdict import Verdict, worst
from harness.config.lab import Lab
from harness.store.compare import compare
from harness.store.files import storage_errors
from harness.store.influx import InfluxTarget
from harness.store.sqlite import SqliteStore
from harness.store.sqlite_sink import SqliteSink

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
    """The results of one run (an event subscriber): feeds every sink the same points.

    The embedded SQLite store (`SqliteSink`) always comes first; `sinks` are the others the
    command line composed (InfluxDB, the report, JUnit, summary.json, the catalog, plugins).
    A sink that raises StorageError is a storage fault of the run (`on_fault`); one that raises
    anything else is said once and recorded in summary.json `sink_errors`; either way the
    points it did not take are counted and the run is ERROR. `finish`, then `close`.
    """

    def __init__(self, run_dir: Path, *, run_id: str, scenario: str, lab: Lab,
                 options: ResultsOptions, emit: Callable[[Event], None],
                 on_fault: Callable[[StorageError], None] | None = None,
                 sinks: Sequence[RunSink] = (),
                 note_faults: Callable[[dict[str, Any]], None] | None = None,
                 resumed: bool = False) -> None:
        self.run_dir = run_dir
        self.options = options
        self._emit = emit
        self._on_fault = on_fault
        self.fault: StorageError | None = None  # the first storage fault; SQLite stops then
        self.sqlite = SqliteSink()
        self.context = RunContext(run_id, run_dir, scenario, lab.name,
                                  notice=lambda text, level: emit(Notice(text, level)),
                                  storage_fault=self._failed,
                                  note_faults=note_faults or (lambda summary: None),
                                  resumed=resumed)
        self.sinks: list[RunSink] = []
        self.start_error: StorageError | None = None  # samples.sqlite cannot be opened
        try:
            self.sqlite.start(self.context)
            self.sinks.append(self.sqlite)
        except StorageError as exc:  # the run cannot start; the other sinks still report it
            self.start_error = exc
            self._failed(exc)
        self.lost: dict[str, int] = {}  # sink name → points it did not take
        self.sink_errors: dict[str, str] = {}  # sink name → what went wrong (not storage)
        for sink in sinks:
            if self._guard(sink, sink.start, self.context):
                self.sinks.append(sink)
        site = {k.lower(): str(v) for k, v in lab.site.items()}
        self.run_tags = {"run_id": run_id, "scenario": scenario, "lab": lab.name,
                         "site": site.get("name") or site.get("location", ""),
                         "operator": site.get("operator", "")}
        self._devices: dict[str, dict[str, str]] = {}
        self._last_event_ns = 0
        self._finished = False
        self._closed: set[str] = set()  # sinks closed
        self._rejected = 0

    @property
    def store(self) -> SqliteStore:
        """The run's samples.sqlite."""
        return self.sqlite.store

    @property
    def unsaved(self) -> int:
        """Samples not stored in samples.sqlite because of a storage fault."""
        return self.lost.get(self.sqlite.name, 0)

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
        for sink in self.sinks:
            if sink.name not in self.sink_errors:
                self._guard(sink, sink.event, event)

    def set_devices(self, devices: Sequence[Mapping[str, Any]]) -> None:
        """Device facts (summary.json `devices`) that samples of each device are tagged with."""
        self._devices = {str(d["name"]): {k: str(d.get(k) or "") for k in DEVICE_TAGS}
                         for d in devices if d.get("name")}

    def record(self, samples: Sequence[Sample]) -> None:
        """Normalise, tag and check samples, then hand the same points to every sink."""
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
        for sink in self.sinks:
            stopped = sink.name in self.sink_errors or (sink is self.sqlite
                                                        and self.fault is not None)
            if stopped or not self._guard(sink, sink.samples, ready):
                self.lost[sink.name] = self.lost.get(sink.name, 0) + len(ready)

    def _guard(self, sink: RunSink, step: Callable[..., object], *args: Any) -> bool:
        """Run one step of a sink; False (said, recorded) when it failed."""
        try:
            step(*args)
        except StorageError as exc:
            self._failed(exc)
            return False
        except Exception as exc:  # a plugin sink's defect must not end the run, nor vanish
            if sink.name not in self.sink_errors:
                self.sink_errors[sink.name] = f"{type(exc).__name__}: {exc}"
                self._emit(Notice(f"result sink {sink.name!r} failed: {type(exc).__name__}: "
                                  f"{exc}; it receives nothing more and the run is ERROR",
                                  "error"))
            return False
        return True

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
        if self.fault is None:
            vanished = self.sqlite.check()
            if vanished is not None:
                self._failed(vanished)
        return self.fault

    def rescue(self, directory: Path) -> Path | None:
        """Copy what samples.sqlite committed to `directory` (when the run directory lost it)."""
        return self.sqlite.rescue(directory)

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

    # --- the end of the run -------------------------------------------------------------
    def finish(self, summary: dict[str, Any],
               prepare: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Judge against the baseline, store the run's verdict, then let every sink finish in
        order (SQLite counts and closes, InfluxDB flushes, the report, summary.json…);
        `prepare(summary)` runs before each sink's turn (the runner notes storage faults)."""
        self._judge_baseline(summary)
        verdict = Verdict(summary["verdict"])
        self.record([Sample(iso_to_ns(summary.get("finished")), "verdict", {"level": "run"},
                            {"verdict": verdict.value, "code": verdict.severity,
                             "passed": verdict is Verdict.PASS,
                             "trials": len(summary.get("trials") or ())})])
        self._finished = True
        self.check()
        summary["results"] = {"samples": None, "rejected_samples": self._rejected}
        for sink in self.sinks:
            self._note(summary)
            if prepare is not None:
                prepare(summary)
            if sink.name not in self.sink_errors:
                self._guard(sink, sink.finish, summary)
            if sink is self.sqlite:
                self._close(sink)
        self._note(summary)
        if prepare is not None:
            prepare(summary)

    def _note(self, summary: dict[str, Any]) -> None:
        """What the sinks lost so far, into summary.json; lost data makes the run ERROR."""
        results = summary.setdefault("results", {})
        if self.fault is not None:
            results["unsaved_samples"] = self.unsaved
            results["storage_error"] = str(self.fault)
        if self.sink_errors:
            summary["sink_errors"] = [{"sink": name, "error": error,
                                       "lost_samples": self.lost.get(name, 0)}
                                      for name, error in self.sink_errors.items()]
            summary["verdict"] = worst([Verdict(summary["verdict"]), Verdict.ERROR]).value

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
        except SummaryError as exc:  # asked for and not judged: never a silent PASS
            summary["baseline"] = {"run_id": None, "verdict": Verdict.INCONCLUSIVE.value,
                                   "note": f"baseline unreadable: {exc.reason}"}
            self._emit(Notice(f"no baseline comparison: {exc.reason}", "error"))
            measured = Verdict(summary["verdict"])
            summary["verdict_reasons"] = [
                {"reason": "trials", "verdict": measured.value},
                {"reason": "regression", "verdict": Verdict.INCONCLUSIVE.value,
                 "against": None, "note": "baseline unreadable"}]
            summary["verdict"] = worst([measured, Verdict.INCONCLUSIVE]).value
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

    def _close(self, sink: RunSink) -> None:
        if sink.name not in self._closed:
            self._closed.add(sink.name)
            self._guard(sink, sink.close)

    def close(self) -> None:
        """Close every sink not closed yet (after `finish`, or after the run failed to)."""
        self._finished = True
        for sink in self.sinks:
            self._close(sink)
