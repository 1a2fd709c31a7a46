"""The embedded store as a run sink: every point into the run's samples.sqlite.

Its first storage fault stops it (what it committed before stays consistent) and is raised to
the run, which stops starting trials; a file that vanished (or was replaced) under the run is
found by `check`, since SQLite itself would go on writing into a deleted file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.base.errors import StorageError
from harness.base.sample import Sample
from harness.base.sinks import RunContext, Sink
from harness.store.files import fallback, storage_errors
from harness.store.sqlite import SqliteStore

__all__ = ["SqliteSink"]


class SqliteSink(Sink):
    """samples.sqlite in the run directory."""

    name = "sqlite"

    def __init__(self) -> None:
        self._store: SqliteStore | None = None
        self._id: tuple[int, int] | None = None
        self._closed = False

    @property
    def store(self) -> SqliteStore:
        """The open store (after `start`)."""
        if self._store is None:
            raise StorageError("samples.sqlite", "the store was not opened")
        return self._store

    def start(self, run: RunContext) -> None:
        """Open (or, on resume, reopen) samples.sqlite; StorageError when it cannot."""
        super().start(run)
        self._store = SqliteStore(run.run_dir / "samples.sqlite")
        self._id = _file_id(self._store.path)

    def samples(self, samples: Sequence[Sample]) -> None:
        """Commit the points; StorageError on a full disk, a read-only file…"""
        self.store.write(samples)

    def check(self) -> StorageError | None:
        """A fault not raised by a write: the file vanished or was replaced under the run."""
        if self._store is not None and _file_id(self._store.path) != self._id:
            return StorageError(self._store.path, "the file vanished during the run",
                                code="ENOENT")
        return None

    def count(self) -> int | None:
        """Points stored; None (said) when the store cannot count them."""
        try:
            return self.store.count()
        except Exception as exc:
            self.run.notice(f"could not count the samples in {self.store.path}: {exc}",
                            "warning")
            return None

    def rescue(self, directory: Path) -> Path | None:
        """Copy what samples.sqlite committed to `directory` (when the run directory lost it);
        the copy's path, or None when that failed too (said as a notice)."""
        target = directory / "samples.sqlite"
        try:
            with storage_errors(directory):
                directory.mkdir(parents=True, exist_ok=True)
            self.store.backup_to(target)
        except StorageError as exc:
            self.run.notice(f"could not copy the samples to {target}: {exc}", "error")
            return None
        return target

    def finish(self, summary: dict[str, Any]) -> None:
        """Say how many points the store holds (summary.json `results.samples`); when the
        run directory lost samples.sqlite, copy what SQLite still holds to a fallback
        directory (named on the console and in summary.json `fallback`)."""
        summary.setdefault("results", {})["samples"] = self.count()
        if self._store is not None and not self._store.path.exists():
            run = self.run
            fallback(run.run_dir, run.run_id, summary, "samples.sqlite", self.rescue,
                     lambda text: run.notice(text, "error"))

    def close(self) -> None:
        """Close samples.sqlite once; a failing close is a storage fault (raised)."""
        if self._closed or self._store is None:
            return
        self._closed = True
        self._store.close()


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a file, None when it is gone."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino
