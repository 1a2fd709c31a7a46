"""The report and JUnit XML as run sinks: written from the final summary and the run's points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.base.errors import HarnessError
from harness.base.sample import Sample
from harness.base.sinks import Sink
from harness.report import write_junit, write_report
from harness.report.i18n import Lang
from harness.report.plots.source import StoreSource
from harness.store.files import storage_errors

__all__ = ["JunitSink", "ReportSink"]


class ReportSink(Sink):
    """plots/, report.html and junit.xml in the run directory (not when it has vanished). The
    plots read the points back from samples.sqlite (read-only, one query per trial and
    measurement: a 24 h soak is never held in memory); the SQLite sink has closed it by then."""

    name = "report"

    def __init__(self, lang: Lang = "both", pdf: bool = True) -> None:
        self.lang = lang
        self.pdf = pdf

    def finish(self, summary: dict[str, Any]) -> None:
        """Render; a file the disk refuses is a StorageError (a storage fault of the run)."""
        run_dir = self.run.run_dir
        if not run_dir.is_dir():
            return
        source: StoreSource | list[Sample] = []
        store = run_dir / "samples.sqlite"
        if store.is_file():
            try:
                source = StoreSource(store)
            except HarnessError as exc:  # the report still states every verdict
                self.run.notice(f"report without plots: {exc}", "error")
        try:
            with storage_errors(run_dir):
                files = write_report(run_dir, summary, source, junit_path=run_dir / "junit.xml",
                                     lang=self.lang, pdf=self.pdf, final=False)
            if files.pdf_error:
                self.run.notice(files.pdf_error, "warning")
        finally:
            if isinstance(source, StoreSource):
                source.close()


class JunitSink(Sink):
    """JUnit XML at a path of the user's choosing (`harness run --junit FILE`)."""

    name = "junit"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None  # why it could not be written

    def finish(self, summary: dict[str, Any]) -> None:
        """Write it; a path that cannot be written is said, the run goes on."""
        try:
            write_junit(self.path, summary)
        except OSError as exc:
            self.error = f"cannot write {self.path}: {exc.strerror or exc}"
            self.run.notice(self.error, "error")
