"""The summary entries of trials that did not end with their own verdict: cut short by Ctrl-C,
crashed past their kind's own handling, or run while a run file could not be written."""

from __future__ import annotations

from typing import Any

from harness.base.errors import StorageError
from harness.base.verdict import Verdict
from harness.engine.trial import utc_now
from harness.kinds.planned import PlannedTrial


def interrupted_entry(trial: PlannedTrial) -> dict[str, Any]:
    """The entry of a trial a Ctrl-C cut short: ERROR, marked interrupted (a resume runs it
    again)."""
    return {"id": trial.id, "repetition": trial.repetition, "kind": trial.kind,
            "params": trial.params, "verdict": Verdict.ERROR.value, "metrics": {},
            "criteria": [], "interrupted": True,
            "error": "interrupted (Ctrl-C): samples taken so far are in samples.sqlite"}


def crashed_entry(trial: PlannedTrial, error: str) -> dict[str, Any]:
    """The entry of a trial whose run raised past its own handling: ERROR with the cause."""
    return {"id": trial.id, "repetition": trial.repetition, "kind": trial.kind,
            "params": trial.params, "verdict": Verdict.ERROR.value, "metrics": {},
            "criteria": [], "acceptance": [], "error": error, "started": utc_now(),
            "finished": utc_now()}


def storage_entry(entry: dict[str, Any], fault: StorageError) -> dict[str, Any]:
    """A trial that ran while a run file could not be written: ERROR (what it measured may
    not all be on disk), its own error kept, the storage fault named."""
    said = f"storage fault during the trial: {fault}"
    error = entry.get("error")
    return {**entry, "verdict": Verdict.ERROR.value,
            "error": error if error and str(fault.path) in str(error) else
            (f"{error}; {said}" if error else said)}
