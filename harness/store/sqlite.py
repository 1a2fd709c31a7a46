"""The embedded store: every sample of a run in one SQLite file (WAL), no server needed.

Layout (format 2): a `series` row per distinct (measurement, tag set, field keys), and a
`points` row per sample holding the series id, the time and the field values in columns
`f0..f7` (more fields spill into a JSON array). Nothing is JSON-encoded per sample, which is
what makes writing fast; the `samples` view shows every point as (time_ns, measurement,
tags JSON, fields JSON) for ad-hoc SQL. A point with the same series and time as an earlier one
replaces it, as in InfluxDB, so both stores hold the same points.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import __version__
from harness.base.errors import HarnessError, StorageError
from harness.base.events import Event, SamplesRecorded
from harness.base.sample import FieldValue, Sample, check_sample

FORMAT_VERSION = 2
_WIDE = 8  # field values kept in columns; the rest go to `more`

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,
    field_keys TEXT NOT NULL,
    bools INTEGER NOT NULL,
    UNIQUE (measurement, tags, field_keys, bools)
);
CREATE TABLE IF NOT EXISTS points (
    time_ns INTEGER NOT NULL,
    series INTEGER NOT NULL,
    {", ".join(f"f{i}" for i in range(_WIDE))},
    more TEXT,
    PRIMARY KEY (time_ns, series)
) WITHOUT ROWID;
"""
_VALUE = ("CASE k.key " + " ".join(f"WHEN {i} THEN p.f{i}" for i in range(_WIDE))
          + f" ELSE json_extract(p.more, '$[' || (k.key - {_WIDE}) || ']') END")
_VIEW = f"""
CREATE VIEW IF NOT EXISTS samples AS
SELECT p.time_ns AS time_ns, s.measurement AS measurement, s.tags AS tags,
  (SELECT json_group_object(k.value, CASE WHEN (s.bools >> k.key) & 1
          THEN json(iif({_VALUE}, 'true', 'false')) ELSE {_VALUE} END)
   FROM json_each(s.field_keys) AS k) AS fields
FROM points AS p JOIN series AS s ON s.id = p.series;
"""
_INSERTS = [f"INSERT OR REPLACE INTO points (time_ns, series{''.join(f', f{i}' for i in range(n))}"
            f") VALUES (?, ?{', ?' * n})" for n in range(_WIDE + 1)]
_INSERT_MORE = f"INSERT OR REPLACE INTO points VALUES (?, ?{', ?' * _WIDE}, ?)"

_NONE, _SUM, _EACH = 0, 1, 2  # how the values of a series shape are checked per sample
# (measurement, *tag keys, *tag values, field keys, field types): flat where it is cheap
SeriesKey = tuple[Any, ...]
_log = logging.getLogger(__name__)


class StoreFormatError(HarnessError):
    """A store file written by a newer ran-harness (or not a store at all)."""


class SqliteStore:
    """Appends samples to `path` and reads them back; also an event subscriber for
    SamplesRecorded. Opening a file of an older format upgrades it in place."""

    def __init__(self, path: Path, *, create: bool = True, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        if (read_only or not create) and not path.is_file():
            raise HarnessError(f"{path}: no such sample store")
        self._series: dict[SeriesKey, tuple[int, int]] = {}
        self._by_text: dict[tuple[str, str, str, int], int] = {}
        if read_only:  # evidence: never a byte changed (harness/store/readonly.py)
            from harness.store.readonly import open_read_only

            self._db = open_read_only(path, self._upgrade_in)
            for sid, meas, tags, keys, bools in self._db.execute("SELECT * FROM series"):
                self._by_text[(meas, tags, keys, bools)] = sid
            return
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise StorageError.from_sqlite(path, exc) from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._open()
        except sqlite3.Error as exc:
            self._db.close()
            raise StorageError.from_sqlite(path, exc) from exc
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        version = FORMAT_VERSION
        if "meta" in tables:
            found = self._db.execute(
                "SELECT value FROM meta WHERE key='format_version'").fetchone()
            version = int(found[0]) if found else FORMAT_VERSION
        if version > FORMAT_VERSION:
            raise StoreFormatError(
                f"{self.path} has store format {version}, newer than this harness reads "
                f"({FORMAT_VERSION}): upgrade ran-harness")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if version == 1 and "samples" in tables:
                self._db.execute("ALTER TABLE samples RENAME TO samples_v1")
            for statement in (_SCHEMA + _VIEW).split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('format_version', ?)",
                             (str(FORMAT_VERSION),))
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('harness_version', ?)",
                             (__version__,))
            if version == 1 and "samples" in tables:
                self._upgrade_v1()
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        for sid, meas, tags, keys, bools in self._db.execute("SELECT * FROM series"):
            self._by_text[(meas, tags, keys, bools)] = sid

    def _upgrade_in(self, db: sqlite3.Connection) -> None:
        """Upgrade a private (in-memory) copy of an older store, for a read-only reader."""
        self._db = db
        self._open()

    def _upgrade_v1(self) -> None:
        """Format 1 kept tags and fields as JSON text per row."""
        rows = self._db.execute("SELECT time_ns, measurement, tags, fields FROM samples_v1")
        self._insert([Sample(t, m, json.loads(tags), json.loads(fields))
                      for t, m, tags, fields in rows.fetchall()])
        self._db.execute("DROP TABLE samples_v1")

    def _series_id(self, sample: Sample, key: SeriesKey) -> tuple[int, int]:
        check_sample(sample)
        types = key[-1]
        bools = sum(1 << i for i, t in enumerate(types) if t is bool)
        tags = json.dumps({k: v for k, v in sorted(sample.tags.items()) if v != ""},
                          ensure_ascii=False, separators=(",", ":"))
        keys = json.dumps(key[-2], ensure_ascii=False, separators=(",", ":"))
        text = (sample.measurement, tags, keys, bools)
        sid = self._by_text.get(text)
        if sid is None:
            cur = self._db.execute(
                "INSERT INTO series (measurement, tags, field_keys, bools) VALUES (?, ?, ?, ?)",
                text)
            sid = self._by_text[text] = int(cur.lastrowid or 0)
        # what must still be checked per sample of this shape
        if str in types or any(t not in (float, int, bool, str) for t in types):
            mode = _EACH
        elif float in types:
            mode = _SUM
        else:
            mode = _NONE  # ints and booleans: sqlite3 itself refuses ints beyond 64 bits
        self._series[key] = (sid, mode)
        return sid, mode

    def _rows(self, samples: Iterable[Sample]) -> dict[int, list[tuple[Any, ...]]]:
        """Rows to insert, by number of fields (each width has its own INSERT)."""
        by_width: dict[int, list[tuple[Any, ...]]] = {}
        series = self._series
        for s in samples:
            fields = s.fields
            values = tuple(fields.values())
            tags = s.tags
            key = (s.measurement, *tags, *tags.values(), tuple(fields), tuple(map(type, values)))
            found = series.get(key)
            sid, mode = found if found is not None else self._series_id(s, key)
            if mode == _SUM:
                total = sum(values)  # type: ignore[arg-type]
                if total - total != 0:  # a NaN or infinity somewhere (or a huge sum)
                    _check_values(s, values)
            elif mode == _EACH:
                _check_values(s, values)
            n = len(values)
            rows = by_width.get(n)
            if rows is None:
                rows = by_width[n] = []
            if n <= _WIDE:
                rows.append((s.time_ns, sid, *values))
            else:
                rows.append((s.time_ns, sid, *values[:_WIDE], json.dumps(values[_WIDE:])))
        return by_width

    def _insert(self, samples: Sequence[Sample]) -> int:
        count = 0
        try:
            for n, rows in self._rows(samples).items():
                self._db.executemany(_INSERTS[n] if n <= _WIDE else _INSERT_MORE, rows)
                count += len(rows)
        except OverflowError:  # an integer beyond 64 bits: say which sample
            for s in samples:
                check_sample(s)
            raise
        return count

    def write(self, samples: Iterable[Sample]) -> int:
        """Store samples in one transaction; all or none (SampleError names a bad one; a
        disk or SQLite failure is a StorageError naming the file and SQLite's reason)."""
        if not isinstance(samples, Sequence):
            samples = list(samples)
        try:
            self._db.execute("BEGIN")
            count = self._insert(samples)
            self._db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            self._series.clear()  # series rows of the rolled-back batch are gone
            try:
                self._by_text = {(m, t, k, b): i for i, m, t, k, b in
                                 self._db.execute("SELECT * FROM series")}
            except sqlite3.Error as again:  # the file is unreadable too: the first error says
                _log.warning("%s: re-reading series after a failed write: %s", self.path, again)
                self._by_text = {}
            if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
                raise StorageError.from_sqlite(self.path, exc) from exc
            raise
        return count

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already (it rolls back by itself on
        a full disk or an I/O error); a ROLLBACK that fails too is logged, never raised, so
        it cannot hide the error that made the write fail."""
        if not self._db.in_transaction:
            return
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            _log.warning("%s: ROLLBACK after a failed write failed too: %s", self.path, exc)

    def __call__(self, event: Event) -> None:
        if isinstance(event, SamplesRecorded):
            self.write(event.samples)

    def query(self, *, measurement: str | None = None, tags: Mapping[str, str] | None = None,
              start_ns: int | None = None, end_ns: int | None = None) -> Iterator[Sample]:
        """Samples in time order, filtered by measurement, exact tag values (trial, device,
        kpi...) and a time range [start_ns, end_ns)."""
        where, args = [], []
        if measurement is not None:
            where.append("measurement = ?")
            args.append(measurement)
        for key, value in (tags or {}).items():
            where.append("json_extract(tags, ?) = ?")
            args += [f'$."{key}"', value]
        found = self._db.execute(
            "SELECT id, measurement, tags, field_keys, bools FROM series"
            + (" WHERE " + " AND ".join(where) if where else ""), args).fetchall()
        shapes = {sid: (meas, json.loads(t), json.loads(k), b) for sid, meas, t, k, b in found}
        if not shapes:
            return
        sql = (f"SELECT * FROM points WHERE series IN ({','.join('?' * len(shapes))})"
               + (" AND time_ns >= ?" if start_ns is not None else "")
               + (" AND time_ns < ?" if end_ns is not None else "")
               + " ORDER BY time_ns, series")
        params = [*shapes, *(v for v in (start_ns, end_ns) if v is not None)]
        for row in self._db.execute(sql, params):
            meas, tag_map, keys, bools = shapes[row[1]]
            values: list[Any] = list(row[2:2 + min(len(keys), _WIDE)])
            if len(keys) > _WIDE:
                values += json.loads(row[-1])
            for i in range(len(values)):
                if bools >> i & 1:
                    values[i] = bool(values[i])
            yield Sample(row[0], meas, tag_map, dict(zip(keys, values, strict=True)))

    def samples(self, measurement: str | None = None) -> Iterator[Sample]:
        """Every stored sample (of one measurement), in time order."""
        return self.query(measurement=measurement)

    def shapes(self, measurement: str | None = None,
               ) -> list[tuple[str, dict[str, str], list[str]]]:
        """(measurement, tags, field keys) of every series stored."""
        sql = "SELECT measurement, tags, field_keys FROM series" + (
            " WHERE measurement = ?" if measurement else "")
        return [(m, json.loads(t), json.loads(k))
                for m, t, k in self._db.execute(sql, [measurement] if measurement else [])]

    def count(self) -> int:
        """How many points the store holds."""
        return int(self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def tag_values(self, key: str, measurement: str | None = None) -> list[str]:
        """The distinct values of one tag (e.g. every device or KPI of a run)."""
        sql = "SELECT DISTINCT json_extract(tags, ?) FROM series WHERE json_extract(tags, ?) " \
              "IS NOT NULL" + (" AND measurement = ?" if measurement else "")
        args: Sequence[str] = [f'$."{key}"'] * 2 + ([measurement] if measurement else [])
        return sorted(str(r[0]) for r in self._db.execute(sql, args))

    def close(self) -> None:
        """Checkpoint and close the file (closed even when the checkpoint fails: then a
        StorageError; the committed samples stay in the -wal file beside it)."""
        try:
            if not self.read_only:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise StorageError.from_sqlite(self.path, exc) from exc
        finally:
            self._db.close()

    def backup_to(self, path: Path) -> int:
        """Copy every committed sample into a new store file at `path` (SQLite's online
        backup); the number of points copied. StorageError when `path` cannot be written."""
        try:
            target = sqlite3.connect(path)
            try:
                self._db.backup(target)
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise StorageError.from_sqlite(path, exc) from exc
        return self.count()


def _check_values(sample: Sample, values: tuple[FieldValue, ...]) -> None:
    """Refuse what line protocol refuses (NaN, ±inf, integers beyond 64 bits, line breaks),
    so that the embedded store never holds a point InfluxDB could not."""
    for value in values:
        cls = value.__class__
        if cls is float:
            ok = value - value == 0  # type: ignore[operator]
        elif cls is int:
            ok = -(2**63) <= value < 2**63  # type: ignore[operator]
        elif cls is str:
            ok = "\n" not in value and "\r" not in value  # type: ignore[operator]
        else:
            ok = cls is bool
        if not ok:
            check_sample(sample)  # raises SampleError saying what is wrong
