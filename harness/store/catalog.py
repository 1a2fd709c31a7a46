"""The catalog of runs in a reports directory: one SQLite file (`catalog.sqlite`, WAL) that
indexes every run (id, scenario, lab, verdict, times, devices and their firmware at the start
and at the end of the run, so a firmware upgrade is found by either version) and reaches
each run's own `samples.sqlite`, so every sample of every run can be queried by run, trial,
device, KPI and time range.

The catalog is derived data: it is (re)built from the run directories' summary.json files,
so a catalog of an older format is simply rebuilt, and one of a newer format is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.base.errors import HarnessError
from harness.base.sample import Sample
from harness.base.sinks import Sink
from harness.base.summary import SummaryError, read_summary
from harness.store.sqlite import SqliteStore, StoreFormatError

FORMAT_VERSION = 2  # 2: devices.firmware_after
CATALOG_NAME = "catalog.sqlite"
SUMMARY = "summary.json"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, scenario TEXT NOT NULL, lab TEXT NOT NULL, verdict TEXT NOT NULL,
    started TEXT, finished TEXT, interrupted INTEGER NOT NULL, trials INTEGER NOT NULL,
    harness_version TEXT, path TEXT NOT NULL, summary_mtime_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs (scenario, started);
CREATE TABLE IF NOT EXISTS devices (
    run_id TEXT NOT NULL, name TEXT NOT NULL, role TEXT, vendor TEXT, model TEXT, serial TEXT,
    firmware TEXT, firmware_after TEXT, PRIMARY KEY (run_id, name)
);
CREATE INDEX IF NOT EXISTS devices_by_firmware ON devices (firmware);
CREATE INDEX IF NOT EXISTS devices_by_firmware_after ON devices (firmware_after);
"""


class RunNotFound(HarnessError):
    """No run with that id (or prefix) in the reports directory."""


@dataclass(frozen=True)
class RunInfo:
    """One catalogued run."""

    run_id: str
    scenario: str
    lab: str
    verdict: str
    started: str | None
    finished: str | None
    interrupted: bool
    trials: int
    path: Path
    firmware: dict[str, str] = field(default_factory=dict)
    firmware_after: dict[str, str] = field(default_factory=dict)  # where the run ended

    def summary(self) -> dict[str, Any]:
        """The run's summary.json."""
        return read_summary(self.path / SUMMARY).as_dict()


class Catalog:
    """The runs of one reports directory."""

    def __init__(self, reports_dir: Path) -> None:
        self.reports_dir = reports_dir
        reports_dir.mkdir(parents=True, exist_ok=True)
        self.path = reports_dir / CATALOG_NAME
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._prepare()

    def _prepare(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "meta" in tables:
            row = self._db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > FORMAT_VERSION:
                raise StoreFormatError(f"{self.path} has catalog format {version}, newer than "
                                       f"this harness reads ({FORMAT_VERSION}): upgrade "
                                       "ran-harness (or delete the file: it is rebuilt)")
            if version < FORMAT_VERSION:  # derived data: rebuild rather than migrate
                self._db.execute("BEGIN IMMEDIATE")
                for table in ("runs", "devices", "meta"):
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")
                self._db.execute("COMMIT")
        self._db.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._db.execute(statement)
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('format_version', ?)",
                         (str(FORMAT_VERSION),))
        self._db.execute("COMMIT")

    def _stored_path(self, run_dir: Path) -> str:
        try:
            return str(run_dir.resolve().relative_to(self.reports_dir.resolve()))
        except ValueError:
            return str(run_dir.resolve())

    def register(self, run_dir: Path) -> RunInfo | None:
        """Index (or re-index) one run directory; None when it has no readable summary."""
        summary_path = run_dir / SUMMARY
        try:
            summary = read_summary(summary_path).as_dict()  # a newer format is not indexed
            mtime = summary_path.stat().st_mtime_ns
            run_id = str(summary["run_id"])
        except (OSError, SummaryError):
            return None
        devices = [d for d in summary.get("devices") or () if isinstance(d, dict)]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("DELETE FROM devices WHERE run_id = ?", (run_id,))
            self._db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, str((summary.get("scenario") or {}).get("name", "")),
                 str((summary.get("lab") or {}).get("name", "")),
                 str(summary.get("verdict", "")), summary.get("started"),
                 summary.get("finished"), int(bool(summary.get("interrupted"))),
                 len(summary.get("trials") or ()), summary.get("harness_version"),
                 self._stored_path(run_dir), mtime))
            self._db.executemany(
                "INSERT OR REPLACE INTO devices VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, str(d.get("name", "")), d.get("role"), d.get("vendor"),
                  d.get("model"), d.get("serial"), d.get("firmware"),
                  firmware_after(summary, str(d.get("name", ""))) or d.get("firmware"))
                 for d in devices])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return self.find(run_id)

    def sync(self) -> None:
        """Index runs added or changed since the last look; forget runs that were deleted."""
        known = {rid: (path, mtime) for rid, path, mtime in
                 self._db.execute("SELECT run_id, path, summary_mtime_ns FROM runs")}
        seen_paths = set()
        for summary_path in sorted(self.reports_dir.glob(f"*/{SUMMARY}")):
            run_dir = summary_path.parent
            stored = self._stored_path(run_dir)
            seen_paths.add(stored)
            entry = known.get(run_dir.name)
            if entry is None or entry[0] != stored or entry[1] != summary_path.stat().st_mtime_ns:
                self.register(run_dir)
        for run_id, (path, _) in known.items():
            if path not in seen_paths and not (self._resolve(path) / SUMMARY).is_file():
                self._db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
                self._db.execute("DELETE FROM devices WHERE run_id = ?", (run_id,))

    def _resolve(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.reports_dir / path

    def _infos(self, where: str = "", args: Sequence[object] = (), order: str = "DESC",
               limit: int | None = None) -> list[RunInfo]:
        sql = ("SELECT run_id, scenario, lab, verdict, started, finished, interrupted, trials, "
               "path FROM runs" + (f" WHERE {where}" if where else "")
               + f" ORDER BY started {order}, run_id {order}"
               + (f" LIMIT {int(limit)}" if limit is not None else ""))
        infos = []
        for rid, scen, lab, verdict, started, finished, intr, trials, path in \
                self._db.execute(sql, args).fetchall():
            rows = self._db.execute("SELECT name, firmware, firmware_after FROM devices "
                                    "WHERE run_id = ? ORDER BY name", (rid,)).fetchall()
            infos.append(RunInfo(rid, scen, lab, verdict, started, finished, bool(intr), trials,
                                 self._resolve(path), {name: fw or "" for name, fw, _ in rows},
                                 {name: after or fw or "" for name, fw, after in rows}))
        return infos

    def runs(self, *, scenario: str | None = None, verdict: str | None = None,
             firmware: str | None = None, limit: int | None = None) -> list[RunInfo]:
        """Runs, newest first, filtered by scenario, verdict, or a device firmware (the one a
        device started the run on or the one it ended on)."""
        where, args = self._filters(scenario, verdict, firmware)
        return self._infos(where, args, limit=limit)

    @staticmethod
    def _filters(scenario: str | None, verdict: str | None,
                 firmware: str | None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        if scenario:
            clauses.append("scenario = ?")
            args.append(scenario)
        if verdict:
            clauses.append("verdict = ?")
            args.append(verdict.upper())
        if firmware:
            clauses.append("run_id IN (SELECT run_id FROM devices WHERE firmware = ? "
                           "OR firmware_after = ?)")
            args += [firmware, firmware]
        return " AND ".join(clauses), args

    def find(self, run: str) -> RunInfo:
        """A run by id, by unique id prefix, or by its directory path."""
        path = Path(run)
        if (path / SUMMARY).is_file():
            registered = self.register(path) if path.resolve().parent == \
                self.reports_dir.resolve() else None
            return registered or _info_from_dir(path)
        found = self._infos("run_id = ?", (run,)) or self._infos(
            "run_id LIKE ? ESCAPE '\\'", (run.replace("%", "\\%").replace("_", "\\_") + "%",))
        if len(found) == 1:
            return found[0]
        if not found:
            raise RunNotFound(f"no run '{run}' in {self.reports_dir} (see `harness runs`)")
        raise RunNotFound(f"'{run}' matches {len(found)} runs: give more of the run id")

    def last_pass(self, scenario: str, *, firmware: str | None = None,
                  exclude: str | None = None) -> RunInfo | None:
        """The newest PASS run of a scenario (optionally on a device firmware)."""
        where, args = self._filters(scenario, "PASS", firmware)
        if exclude:
            where += " AND run_id != ?"
            args.append(exclude)
        found = self._infos(where, args, limit=1)
        return found[0] if found else None

    def samples(self, *, runs: Sequence[str] | None = None, measurement: str | None = None,
                tags: dict[str, str] | None = None, start_ns: int | None = None,
                end_ns: int | None = None) -> Iterator[Sample]:
        """Samples of every catalogued run (or of `runs`), run by run, each in time order."""
        infos = [self.find(r) for r in runs] if runs else list(reversed(self.runs()))
        for info in infos:
            db_path = info.path / "samples.sqlite"
            if not db_path.is_file():
                continue
            store = SqliteStore(db_path, read_only=True)
            try:
                yield from store.query(measurement=measurement, tags=tags, start_ns=start_ns,
                                       end_ns=end_ns)
            finally:
                store.close()

    def close(self) -> None:
        """Close the catalog file."""
        self._db.close()


def _info_from_dir(run_dir: Path) -> RunInfo:
    """A RunInfo read straight from a run directory outside the catalog's reports dir."""
    summary = read_summary(run_dir / SUMMARY).as_dict()
    return RunInfo(str(summary["run_id"]), str((summary.get("scenario") or {}).get("name", "")),
                   str((summary.get("lab") or {}).get("name", "")),
                   str(summary.get("verdict", "")), summary.get("started"),
                   summary.get("finished"), bool(summary.get("interrupted")),
                   len(summary.get("trials") or ()), run_dir,
                   {str(d.get("name")): str(d.get("firmware") or "")
                    for d in summary.get("devices") or ()},
                   {str(d.get("name")): firmware_after(summary, str(d.get("name")))
                    or str(d.get("firmware") or "") for d in summary.get("devices") or ()})


def firmware_after(summary: dict[str, Any], device: str) -> str:
    """The firmware a device ended the run on: its snapshot after the run, else the facts read
    after the last trial that used it; "" when neither was read."""
    after = ((summary.get("snapshot") or {}).get("after") or {}).get(device) or {}
    facts = after.get("facts") if isinstance(after, dict) else None
    if isinstance(facts, dict) and facts.get("firmware"):
        return str(facts["firmware"])
    for trial in reversed(summary.get("trials") or ()):
        read = ((trial.get("facts_after") or {}) if isinstance(trial, dict) else {}).get(device)
        if isinstance(read, dict) and read.get("firmware"):
            return str(read["firmware"])
    return ""


class CatalogSink(Sink):
    """Files the run in its reports directory's catalog once summary.json is there (an index:
    a failure is a warning, `harness runs` rebuilds it)."""

    name = "catalog"

    def finish(self, summary: dict[str, Any]) -> None:
        """Register the run directory (after the summary sink wrote summary.json in it)."""
        run_dir = self.run.run_dir
        if not (run_dir / SUMMARY).is_file():
            return
        try:
            catalog = Catalog(run_dir.parent)
            try:
                catalog.register(run_dir)
            finally:
                catalog.close()
        except Exception as exc:  # the catalog is an index: never lose a run over it
            self.run.notice(f"could not add the run to {run_dir.parent}/catalog.sqlite: {exc} "
                            "(`harness runs` rebuilds it)", "warning")
