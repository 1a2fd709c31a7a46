"""Where the plots read samples from: a list in memory, or a run's samples.sqlite, streamed.

Plots ask for one trial run's series at a time (`series`: numeric arrays per tag combination,
`rows`: the few samples of a per-probe measurement), so a 24 h soak with 20 KPIs at 1 Hz is
never a list of 1.7 M Sample objects: `StoreSource` reads each (trial, measurement) straight from
SQLite into numpy arrays, opening the file read-only (reading evidence never modifies it).
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from harness.base.errors import HarnessError
from harness.base.sample import Sample
from harness.report.plots.base import FloatArray, TrialKey, number
from harness.store.readonly import read_only_uri

IntArray = npt.NDArray[np.int64]
Series = tuple[IntArray, FloatArray]
"""(time in ns since the epoch, value) arrays of one line, in time order."""

_WIDE = 8  # the store keeps the first 8 field values in columns f0..f7 (harness/store/sqlite.py)
_STORE_FORMAT = 2
_ROW = np.dtype([("series", np.int64), ("time", np.int64), ("value", np.float64)])


class SampleSource(Protocol):
    """The samples of one run, as the plots ask for them."""

    def keys(self) -> set[TrialKey]:
        """Every trial run that has samples."""
        ...

    def start_ns(self, key: TrialKey) -> int | None:
        """Time of the trial run's first sample (its plots' time zero), None when it has none."""
        ...

    def series(self, key: TrialKey, measurement: str, field: str,
               by: Sequence[str] = ()) -> dict[tuple[str, ...], Series]:
        """Numeric `field` of `measurement` per combination of the tags in `by`."""
        ...

    def rows(self, key: TrialKey, measurement: str) -> list[Sample]:
        """Every sample of a (small) measurement of the trial run, in time order."""
        ...

    def run_rows(self, measurement: str) -> list[Sample]:
        """Every sample of a (small) measurement of the whole run (events, alarms), in time
        order, whether or not it belongs to a trial."""
        ...


def _key(tags: Any) -> TrialKey | None:
    trial = tags.get("trial")
    return None if trial is None else (str(trial), str(tags.get("repetition", "")))


def _arrays(times: list[int], values: list[float]) -> Series:
    t = np.asarray(times, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if len(t) > 1 and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
    return t, v


class MemorySource:
    """Samples already in memory (the runner's list), grouped once by trial run."""

    def __init__(self, samples: Iterable[Sample]) -> None:
        groups: dict[TrialKey, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
        self._all: dict[str, list[Sample]] = defaultdict(list)
        for sample in samples:
            self._all[sample.measurement].append(sample)
            key = _key(sample.tags)
            if key is not None:
                groups[key][sample.measurement].append(sample)
        self._groups = {k: dict(v) for k, v in groups.items()}

    def keys(self) -> set[TrialKey]:
        """Every trial run that has samples."""
        return set(self._groups)

    def start_ns(self, key: TrialKey) -> int | None:
        """Time of the trial run's first sample."""
        group = self._groups.get(key)
        if not group:
            return None
        return min(min(s.time_ns for s in samples) for samples in group.values())

    def series(self, key: TrialKey, measurement: str, field: str,
               by: Sequence[str] = ()) -> dict[tuple[str, ...], Series]:
        """Numeric `field` of `measurement` per combination of the tags in `by`."""
        lines: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
        for sample in self._groups.get(key, {}).get(measurement, ()):
            value = number(sample.fields.get(field))
            if value is None:
                continue
            tag = tuple(str(sample.tags.get(b, "")) for b in by)
            times, values = lines.setdefault(tag, ([], []))
            times.append(sample.time_ns)
            values.append(value)
        return {tag: _arrays(t, v) for tag, (t, v) in sorted(lines.items())}

    def rows(self, key: TrialKey, measurement: str) -> list[Sample]:
        """Every sample of a measurement of the trial run, in time order."""
        return sorted(self._groups.get(key, {}).get(measurement, ()), key=lambda s: s.time_ns)

    def run_rows(self, measurement: str) -> list[Sample]:
        """Every sample of a measurement of the run, in time order."""
        return sorted(self._all.get(measurement, ()), key=lambda s: s.time_ns)


class StoreSource:
    """A run's samples.sqlite, read-only; one SQL query per (trial run, measurement)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise HarnessError(f"{path}: no such sample store")
        self.path = path
        try:
            self._db = sqlite3.connect(read_only_uri(path), uri=True)  # no -shm/-wal added
            found = self._db.execute(
                "SELECT value FROM meta WHERE key='format_version'").fetchone()
            shapes = self._db.execute(
                "SELECT id, measurement, tags, field_keys, bools FROM series").fetchall()
        except sqlite3.Error as exc:
            raise HarnessError(f"{path}: cannot read the sample store: {exc}") from exc
        version = int(found[0]) if found else 0
        if version != _STORE_FORMAT:
            raise HarnessError(f"{path} has store format {version}; the plots read format "
                               f"{_STORE_FORMAT}: open it once with this ran-harness "
                               "(harness show) to upgrade it, or upgrade ran-harness")
        # (trial run) → measurement → [(series id, tags, field keys, bool mask)]
        self._series: dict[TrialKey, dict[str, list[tuple[int, dict[str, str], list[str], int]]]]
        self._series = defaultdict(lambda: defaultdict(list))
        self._whole: dict[str, list[tuple[int, dict[str, str], list[str], int]]]
        self._whole = defaultdict(list)
        for sid, measurement, tags_text, keys_text, bools in shapes:
            tags = json.loads(tags_text)
            self._whole[measurement].append((sid, tags, json.loads(keys_text), bools))
            key = _key(tags)
            if key is not None:
                self._series[key][measurement].append((sid, tags, json.loads(keys_text), bools))

    def close(self) -> None:
        """Close the read-only connection."""
        self._db.close()

    def __enter__(self) -> StoreSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def keys(self) -> set[TrialKey]:
        """Every trial run that has samples."""
        return set(self._series)

    def start_ns(self, key: TrialKey) -> int | None:
        """Time of the trial run's first sample (one indexed MIN per series)."""
        ids = [s[0] for shapes in self._series.get(key, {}).values() for s in shapes]
        if not ids:
            return None
        found = self._db.execute(
            f"SELECT MIN(time_ns) FROM points WHERE series IN ({','.join('?' * len(ids))})",
            ids).fetchone()
        return None if found is None or found[0] is None else int(found[0])

    def series(self, key: TrialKey, measurement: str, field: str,
               by: Sequence[str] = ()) -> dict[tuple[str, ...], Series]:
        """Numeric `field` per tag combination, read as (series, time, value) columns."""
        column: dict[int, str] = {}
        tag_of: dict[int, tuple[str, ...]] = {}
        for sid, tags, keys, bools in self._series.get(key, {}).get(measurement, ()):
            if field not in keys:
                continue
            i = keys.index(field)
            if bools >> i & 1:
                continue  # a boolean field is not plotted as a number
            column[sid] = f"f{i}" if i < _WIDE else f"json_extract(more, '$[{i - _WIDE}]')"
            tag_of[sid] = tuple(str(tags.get(b, "")) for b in by)
        parts: dict[tuple[str, ...], list[tuple[IntArray, FloatArray]]] = defaultdict(list)
        for expr in sorted(set(column.values())):
            ids = [sid for sid, e in column.items() if e == expr]
            cursor = self._db.execute(
                f"SELECT series, time_ns, {expr} FROM points WHERE series IN "
                f"({','.join('?' * len(ids))}) AND typeof({expr}) IN ('real', 'integer')",
                ids)
            table = np.fromiter(cursor, dtype=_ROW)  # no list of 1.7 M tuples in between
            if not len(table):
                continue
            order = np.argsort(table["series"], kind="stable")  # rows come in time order
            table = table[order]
            sids, starts = np.unique(table["series"], return_index=True)
            ends = np.append(starts[1:], len(table))
            for sid, lo, hi in zip(sids.tolist(), starts.tolist(), ends.tolist(), strict=True):
                parts[tag_of[sid]].append((table["time"][lo:hi], table["value"][lo:hi]))
        out: dict[tuple[str, ...], Series] = {}
        for tag, chunks in sorted(parts.items()):
            if len(chunks) == 1:
                out[tag] = (np.ascontiguousarray(chunks[0][0]),
                            np.ascontiguousarray(chunks[0][1]))
                continue
            t = np.concatenate([c[0] for c in chunks])
            v = np.concatenate([c[1] for c in chunks])
            order = np.argsort(t, kind="stable")
            out[tag] = (t[order], v[order])
        return out

    def rows(self, key: TrialKey, measurement: str) -> list[Sample]:
        """Every sample of a measurement of the trial run (decoded like the store does)."""
        return self._decoded(measurement, self._series.get(key, {}).get(measurement, ()))

    def run_rows(self, measurement: str) -> list[Sample]:
        """Every sample of a measurement of the run (decoded like the store does)."""
        return self._decoded(measurement, self._whole.get(measurement, ()))

    def _decoded(self, measurement: str,
                 series: Iterable[tuple[int, dict[str, str], list[str], int]]) -> list[Sample]:
        shapes = {s[0]: s for s in series}
        if not shapes:
            return []
        found = self._db.execute(
            f"SELECT * FROM points WHERE series IN ({','.join('?' * len(shapes))}) "
            "ORDER BY time_ns, series", list(shapes)).fetchall()
        out = []
        for row in found:
            _, tags, keys, bools = shapes[row[1]]
            values: list[Any] = list(row[2:2 + min(len(keys), _WIDE)])
            if len(keys) > _WIDE:
                values += json.loads(row[-1])
            values = [bool(v) if bools >> i & 1 else v for i, v in enumerate(values)]
            out.append(Sample(row[0], measurement, tags, dict(zip(keys, values, strict=True))))
        return out


def as_source(samples: Sequence[Sample] | SampleSource) -> SampleSource:
    """A list of samples wrapped in a MemorySource; a source as it is."""
    if isinstance(samples, MemorySource | StoreSource):
        return samples
    if hasattr(samples, "series") and hasattr(samples, "rows"):
        return samples  # type: ignore[return-value]
    return MemorySource(samples)
