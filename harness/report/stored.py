"""A stored run read back for re-rendering its report: summary.json and the samples of
samples.sqlite, without a device and without modifying a byte of the run directory (the store is
read from a private copy: opening SQLite in place could checkpoint, upgrade or add files)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from harness.base.errors import ConfigError, HarnessError
from harness.base.sample import Sample
from harness.base.summary import SUMMARY_FORMAT_VERSION, read_summary
from harness.report.plots.source import StoreSource
from harness.store.sqlite import SqliteStore

SUMMARY = "summary.json"
SAMPLES = "samples.sqlite"


def read_stored_summary(run_dir: Path, newest_format: int = SUMMARY_FORMAT_VERSION
                        ) -> dict[str, Any]:
    """The run's summary.json through its typed model; ConfigError saying what is wrong
    (missing, unreadable, not a summary, or written by a newer ran-harness)."""
    path = run_dir / SUMMARY
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {SUMMARY} there: give a run directory (the one "
                          "`harness run` printed)")
    summary = read_summary(path)  # SummaryError (a ConfigError) names the problem
    if summary.format_version > newest_format:
        raise ConfigError(f"{path}: summary format {summary.format_version} is newer than "
                          f"this harness reads ({newest_format}): upgrade ran-harness")
    return summary.as_dict()


def stored_samples(run_dir: Path) -> StoreSource | list[Sample]:
    """The run's samples for the plots: samples.sqlite read in place, read-only (one query
    per trial and measurement, nothing added to the directory); a store of an older format
    is read from a copy instead (`read_stored_samples`)."""
    store = run_dir / SAMPLES
    if not store.is_file():
        return []
    try:
        return StoreSource(store)
    except HarnessError:
        return read_stored_samples(run_dir)


def read_stored_samples(run_dir: Path) -> list[Sample]:
    """Every sample of the run's store, read from a copy (the original is never opened);
    an empty list when the run has no store."""
    source = run_dir / SAMPLES
    if not source.is_file():
        return []
    with tempfile.TemporaryDirectory(prefix="ran-harness-report-") as tmp:
        copy = Path(tmp) / SAMPLES
        shutil.copyfile(source, copy)
        for suffix in ("-wal",):  # committed samples not yet checkpointed
            extra = run_dir / f"{SAMPLES}{suffix}"
            if extra.is_file():
                shutil.copyfile(extra, Path(tmp) / f"{SAMPLES}{suffix}")
        store = SqliteStore(copy, create=False)
        try:
            return list(store.samples())
        finally:
            store.close()
