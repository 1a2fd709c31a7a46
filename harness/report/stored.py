"""A stored run read back for re-rendering its report: summary.json and the samples of
samples.sqlite, without a device and without modifying a byte of the run directory (the store is
read from a private copy: opening SQLite in place could checkpoint, upgrade or add files)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from harness.base.errors import ConfigError
from harness.base.sample import Sample
from harness.store.sqlite import SqliteStore

SUMMARY = "summary.json"
SAMPLES = "samples.sqlite"


def read_stored_summary(run_dir: Path, newest_format: int) -> dict[str, Any]:
    """The run's summary.json; ConfigError saying what is wrong (missing, unreadable, not a
    summary, or written by a newer ran-harness)."""
    path = run_dir / SUMMARY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{run_dir}: no {SUMMARY} there: give a run directory (the one "
                          "`harness run` printed)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable: {exc}") from None
    if not isinstance(data, dict) or "run_id" not in data or "trials" not in data:
        raise ConfigError(f"{path}: not a run summary (no run_id or trials)")
    version = data.get("format_version")
    if isinstance(version, int) and version > newest_format:
        raise ConfigError(f"{path}: summary format {version} is newer than this harness reads "
                          f"({newest_format}): upgrade ran-harness")
    return data


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
