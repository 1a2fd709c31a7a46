"""Progress for CI: one JSON object per event, one per line (JSON Lines), on a text stream.

Every object has `schema` ("ran-harness/progress"), `version` (PROGRESS_VERSION), `type` and
`time` (ISO 8601 UTC); the other keys depend on the type:

    run_started     run_id, scenario, lab, trials, planned_s
    trial_started   trial, repetition, index, total, duration_s, attempt
    samples         count, measurements {name: count}, throughput_mbps (latest traffic-tool
                    interval, if any), live [{trial, repetition, source, mbps}] (each trial's
                    throughput in this batch: the tool's, else the gNodeB's throughput KPIs)
    trial_finished  trial, repetition, verdict, error, attempts, metrics {name: {value, unit}}
    notice          level, text
    run_finished    run_id, verdict

New keys may appear within a version; a key's meaning never changes without a new version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TextIO

from harness.base import jsonio
from harness.base.events import (
    Event,
    Notice,
    RunFinished,
    RunStarted,
    SamplesRecorded,
    TrialFinished,
    TrialStarted,
)
from harness.cli.progress_live import sample_rates

PROGRESS_SCHEMA = "ran-harness/progress"
PROGRESS_VERSION = 1


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_json(event: Event) -> dict[str, Any] | None:
    """The JSON object for one event (pure apart from the timestamp)."""
    body: dict[str, Any]
    if isinstance(event, RunStarted):
        body = {"type": "run_started", "run_id": event.run_id, "scenario": event.scenario,
                "lab": event.lab, "trials": event.trials, "planned_s": event.planned_s}
    elif isinstance(event, TrialStarted):
        body = {"type": "trial_started", "trial": event.trial_id,
                "repetition": event.repetition, "index": event.index, "total": event.total,
                "duration_s": event.duration_s, "attempt": event.attempt}
    elif isinstance(event, SamplesRecorded):
        if not event.samples:
            return None
        counts: dict[str, int] = {}
        for sample in event.samples:
            counts[sample.measurement] = counts.get(sample.measurement, 0) + 1
        body = {"type": "samples", "count": len(event.samples), "measurements": counts}
        rate = latest_throughput_mbps(event)
        if rate is not None:
            body["throughput_mbps"] = round(rate, 3)
        live = sample_rates(event.samples)
        if live:
            body["live"] = [{"trial": key[0], "repetition": key[1], "source": r.source,
                             "mbps": round(r.mbps, 3)} for key, r in live.items()]
    elif isinstance(event, TrialFinished):
        result = event.result
        body = {"type": "trial_finished", "trial": event.trial_id,
                "repetition": event.repetition, "verdict": event.verdict.value,
                "error": result.get("error"), "attempts": result.get("attempts", 1),
                "metrics": result.get("metrics", {})}
    elif isinstance(event, Notice):
        body = {"type": "notice", "level": event.level, "text": event.text}
    elif isinstance(event, RunFinished):
        body = {"type": "run_finished", "run_id": event.run_id, "verdict": event.verdict.value}
    else:
        return None
    return {"schema": PROGRESS_SCHEMA, "version": PROGRESS_VERSION, "time": utc_now(), **body}


def latest_throughput_mbps(event: SamplesRecorded) -> float | None:
    """The last traffic-interval rate in a batch of samples, in Mbit/s."""
    for sample in reversed(event.samples):
        if sample.measurement == "throughput":
            value = sample.fields.get("bits_per_second")
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value) / 1e6
    return None


class JsonProgress:
    """Writes each event as one JSON line to `stream` (flushed, so CI sees it at once)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, event: Event) -> None:
        data = event_json(event)
        if data is None:
            return
        self.stream.write(jsonio.dumps(data, ensure_ascii=False, default=str) + "\n")
        self.stream.flush()
