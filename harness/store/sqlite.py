"""The embedded store: every sample of a run in one SQLite file (WAL), no server needed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.events import Event, SamplesRecorded
from harness.store.sample import Sample

FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    time_ns INTEGER NOT NULL,
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_measurement ON samples (measurement, time_ns);
"""


class SqliteStore:
    """Appends samples to `path`; also an event subscriber for SamplesRecorded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('format_version', ?)",
                             (str(FORMAT_VERSION),))
        found = self._db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        if int(found[0]) > FORMAT_VERSION:
            raise RuntimeError(f"{path} has store format {found[0]}, newer than this harness "
                               f"reads ({FORMAT_VERSION}): upgrade ran-harness")

    def write(self, samples: Iterable[Sample]) -> None:
        """Append samples in one transaction."""
        rows = [(s.time_ns, s.measurement, json.dumps(dict(s.tags), sort_keys=True),
                 json.dumps(dict(s.fields), sort_keys=True)) for s in samples]
        with self._db:
            self._db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", rows)

    def __call__(self, event: Event) -> None:
        if isinstance(event, SamplesRecorded):
            self.write(event.samples)

    def samples(self, measurement: str | None = None) -> Iterator[Sample]:
        """Every stored sample (of one measurement), in time order."""
        query = "SELECT time_ns, measurement, tags, fields FROM samples"
        args: tuple[str, ...] = ()
        if measurement is not None:
            query += " WHERE measurement = ?"
            args = (measurement,)
        for time_ns, meas, tags, fields in self._db.execute(query + " ORDER BY time_ns", args):
            yield Sample(time_ns=time_ns, measurement=meas, tags=json.loads(tags),
                         fields=json.loads(fields))

    def close(self) -> None:
        """Checkpoint and close the file."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()
