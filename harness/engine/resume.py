"""`harness run --resume RUN_DIR`: carry on with an interrupted run in its own directory.

A run is resumed only with the very scenario and lab files it started with (their SHA-256 is
in summary.json); trials that already have a verdict are kept as they are, the others (never
started, or cut short by Ctrl-C) run now, and the summary at the end lists every trial.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.base import summary as summary_model
from harness.base.errors import ConfigError, StorageError
from harness.base.summary import SummaryError
from harness.store.sqlite import SqliteStore

TrialKey = tuple[str, int]


@dataclass(frozen=True)
class ResumeState:
    """What an earlier, unfinished run left: its id, its summary, its finished trials."""

    run_dir: Path
    run_id: str
    summary: dict[str, Any]
    done: dict[TrialKey, dict[str, Any]]


def trial_finished(entry: dict[str, Any]) -> bool:
    """True for a trial that ran to its verdict (one cut short by Ctrl-C did not)."""
    return not entry.get("interrupted")


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The summary.json of a run directory (through the typed model: a newer format refused,
    an older one upgraded), or a ConfigError saying what is wrong."""
    path = run_dir / "summary.json"
    if not path.is_file():
        raise ConfigError(f"--resume {run_dir}: no summary.json there: give the directory "
                          "`harness run` printed for the interrupted run")
    try:
        return summary_model.read_summary(path).as_dict()
    except SummaryError as exc:
        raise ConfigError(f"--resume {run_dir}: {exc.reason}") from None


def resume_paths(run_dir: Path) -> tuple[Path, Path]:
    """The scenario and lab files the run was started with (as summary.json names them)."""
    data = read_summary(run_dir)
    try:
        return Path(data["scenario"]["file"]), Path(data["lab"]["file"])
    except (KeyError, TypeError):
        raise ConfigError(f"--resume {run_dir}: summary.json does not name its scenario and "
                          "lab files: give SCENARIO and --lab") from None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_resume(run_dir: Path, scenario_path: Path, lab_path: Path,
                format_version: int) -> ResumeState:
    """Check that the run can be resumed with these files; what it has done so far."""
    data = read_summary(run_dir)
    if int(data.get("format_version", 0)) > format_version:
        raise ConfigError(f"--resume {run_dir}: written by a newer ran-harness (summary format "
                          f"{data.get('format_version')}): upgrade ran-harness")
    for what, path in (("scenario", scenario_path), ("lab", lab_path)):
        recorded = (data.get(what) or {}).get("sha256")
        if recorded != _sha256(path):
            raise ConfigError(
                f"--resume {run_dir}: {path} is not the {what} file this run started with "
                f"(SHA-256 {str(recorded)[:12]}… recorded, {_sha256(path)[:12]}… now): resume "
                f"with the original {what}, or start a new run")
    if data.get("complete"):
        raise ConfigError(f"--resume {run_dir}: that run finished every trial; nothing to "
                          "resume")
    done = {(str(t["id"]), int(t["repetition"])): t for t in data["trials"]
            if trial_finished(t)}
    return ResumeState(run_dir, str(data["run_id"]), data, done)


SAMPLES = "samples.sqlite"
SET_ASIDE = "interrupted-samples.sqlite"
"""Where a resumed run keeps the samples of its interrupted attempts (same store format)."""


def set_aside_interrupted(state: ResumeState) -> dict[TrialKey, int]:
    """Move the samples of every trial run that has no verdict yet (an attempt cut short by
    Ctrl-C or a killed agent) from samples.sqlite to interrupted-samples.sqlite, before the
    resumed session measures that trial again: samples.sqlite then holds each trial's
    finished attempt once, never the interrupted attempt's samples mixed with the new ones
    under the same tags (the report's plots, `harness push` and `harness export` read it),
    and the interrupted attempt's samples stay in the run directory as evidence (signed with
    the rest). Copied first, then deleted: a crash in between leaves them in both files and
    the next resume moves them again (a no-op copy). Returns the samples moved per trial run;
    a StorageError when a file cannot be written."""
    path = state.run_dir / SAMPLES
    if not path.is_file():
        return {}
    store = SqliteStore(path)  # an older format is upgraded here, as the run would
    try:
        with closing(sqlite3.connect(path, timeout=30)) as db:
            rows = db.execute(
                "SELECT id, json_extract(tags, '$.trial'), json_extract(tags, '$.repetition') "
                "FROM series WHERE json_extract(tags, '$.trial') IS NOT NULL").fetchall()
        unfinished: dict[TrialKey, list[int]] = {}
        for sid, trial, repetition in rows:
            try:
                key = (str(trial), int(repetition))
            except (TypeError, ValueError):
                continue  # not a trial run's sample (no repetition tag)
            if key not in state.done:
                unfinished.setdefault(key, []).append(int(sid))
        if not unfinished:
            return {}
        moved: dict[TrialKey, int] = {}
        side = SqliteStore(state.run_dir / SET_ASIDE)
        try:
            for key in unfinished:
                found = list(store.query(tags={"trial": key[0], "repetition": str(key[1])}))
                moved[key] = side.write(found)
        finally:
            side.close()
    finally:
        store.close()
    ids = [sid for sids in unfinished.values() for sid in sids]
    marks = ",".join("?" * len(ids))
    try:
        with closing(sqlite3.connect(path, timeout=30)) as db, db:
            db.execute(f"DELETE FROM points WHERE series IN ({marks})", ids)
            db.execute(f"DELETE FROM series WHERE id IN ({marks}) AND id NOT IN "
                       "(SELECT DISTINCT series FROM points)", ids)
    except sqlite3.Error as exc:
        raise StorageError.from_sqlite(path, exc) from exc
    return {key: n for key, n in moved.items() if n}
