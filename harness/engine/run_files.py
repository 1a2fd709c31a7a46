"""A run's own files when the disk misbehaves: run.log that turns a refused write into a
storage fault (not a traceback per record), the summary written in the run directory or, when
that cannot take it, in a fallback directory that is named on the console."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.base.errors import StorageError
from harness.base.sinks import Sink
from harness.base.summary import SummaryError, summary_json
from harness.engine.trial import dump_json_text
from harness.store.files import fallback, storage_errors, write_text

log = logging.getLogger(__name__)

RUN_LOG = "run.log"
"""reports/<run-id>/run.log: what went wrong inside the run's trials, tracebacks included."""
_LOGGERS = ("harness.engine.trial", "harness.engine.runner")


class _RunFilter(logging.Filter):
    """Only records of one run (their `run_id`), so runs in one process keep apart."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "run_id", None) == self.run_id


class RunLogFile(logging.FileHandler):
    """run.log: a write the disk refuses is a storage fault of the run, not a traceback."""

    def __init__(self, path: Path, on_fault: Callable[[StorageError], None]) -> None:
        with storage_errors(path):
            super().__init__(path, encoding="utf-8")
        self._on_fault = on_fault

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            self._on_fault(StorageError.from_os(self.baseFilename, exc))
            return
        super().handleError(record)


def open_run_log(run_dir: Path, run_id: str,
                  on_fault: Callable[[StorageError], None]) -> logging.Handler:
    """Attach a handler writing this run's records to run_dir/run.log (appended on resume)."""
    handler = RunLogFile(run_dir / RUN_LOG, on_fault)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RunFilter(run_id))
    for name in _LOGGERS:
        logging.getLogger(name).addHandler(handler)
    return handler


def close_run_log(handler: logging.Handler) -> None:
    """Detach and close the run's log handler."""
    for name in _LOGGERS:
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def _json_text(path: Path, data: Any) -> str:
    """JSON text of a run file."""
    return dump_json_text(path.name, data)


def _summary_text(path: Path, summary: dict[str, Any]) -> str:
    """summary.json's text through its typed model; should the run's summary not match the
    model (a defect), it is still written as it is, with the mismatch recorded in it: a
    summary is never lost to its own validation."""
    try:
        return summary_json(summary)
    except SummaryError as exc:
        log.error("summary.json does not match its model: %s", exc)
        return _json_text(path, {**summary, "model_error": str(exc)})


def write_summary(run_dir: Path, run_id: str, summary: dict[str, Any],
                  say: Callable[[str], None], on_fault: Callable[[StorageError], None],
                  note: Callable[[dict[str, Any]], None]) -> Path | None:
    """summary.json in the run directory, else in the first fallback directory that takes
    it (said on the console); None when nowhere could (said too)."""
    path = run_dir / "summary.json"
    try:
        write_text(path, _summary_text(path, summary))
        return path
    except StorageError as exc:
        on_fault(exc)
    note(summary)
    return summary_fallback(run_dir, run_id, summary, say)


def summary_fallback(run_dir: Path, run_id: str, summary: dict[str, Any],
                     say: Callable[[str], None]) -> Path | None:
    """summary.json into the first fallback directory that takes it (said on the console)."""
    def write(directory: Path) -> Path:
        with storage_errors(directory):
            directory.mkdir(parents=True, exist_ok=True)
        write_text(directory / "summary.json", _summary_text(directory / "summary.json", summary))
        return directory / "summary.json"

    return fallback(run_dir, run_id, summary, "summary.json", write, say)


class SummarySink(Sink):
    """summary.json, written through its typed model, in the run directory or — when that
    cannot take it or has vanished — in a fallback directory named on the console."""

    name = "summary"

    def __init__(self) -> None:
        self.summary_path: Path | None = None  # where it went (None: nowhere could take it)

    def finish(self, summary: dict[str, Any]) -> None:
        """Write summary.json (the last sink but the catalog sees the final summary)."""
        run = self.run

        def say(text: str) -> None:
            run.notice(text, "error")

        if not run.run_dir.is_dir():  # never recreate it: write elsewhere
            self.summary_path = summary_fallback(run.run_dir, run.run_id, summary, say)
        else:
            self.summary_path = write_summary(run.run_dir, run.run_id, summary, say,
                                              run.storage_fault, run.note_faults)
