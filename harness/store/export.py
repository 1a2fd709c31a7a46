"""A run's samples and verdicts as CSV or JSON, for spreadsheets, notebooks and archives.

Verdicts are samples too (measurement `verdict`: one per trial repetition with its metrics,
one per criterion, one for the run), so both formats carry them; JSON also embeds the run's
summary.json. Times are Unix nanoseconds (`time_ns`) and ISO 8601 UTC (`time`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from harness.base import jsonio
from harness.base.sample import Sample
from harness.store.sqlite import SqliteStore

EXPORT_FORMAT_VERSION = 1
_FIXED = ("time", "time_ns", "measurement")


def iso_ns(time_ns: int) -> str:
    """`2026-11-28T15:01:02.123456789Z` (nanoseconds kept)."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def csv_columns(store: SqliteStore, measurement: str | None = None) -> tuple[list[str],
                                                                                 list[str]]:
    """(tag keys, field keys) over every series of the store, sorted."""
    tags: set[str] = set()
    fields: set[str] = set()
    for _, tag_map, keys in store.shapes(measurement):
        tags.update(tag_map)
        fields.update(keys)
    return sorted(tags), sorted(fields)


def write_csv(store: SqliteStore, out: TextIO, *, measurement: str | None = None) -> int:
    """One row per sample: time, time_ns, measurement, one column per tag key and per field
    key (a field whose name is also a tag's is headed `field.NAME`). Returns the row count."""
    tag_keys, field_keys = csv_columns(store, measurement)
    taken = set(_FIXED) | set(tag_keys)
    field_heads = [f"field.{k}" if k in taken else k for k in field_keys]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*_FIXED, *tag_keys, *field_heads])
    rows = 0
    for s in store.query(measurement=measurement):
        writer.writerow([iso_ns(s.time_ns), s.time_ns, s.measurement,
                         *(s.tags.get(k, "") for k in tag_keys),
                         *(_cell(s.fields.get(k)) for k in field_keys)])
        rows += 1
    return rows


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return value


def sample_json(s: Sample) -> dict[str, Any]:
    """One sample as a JSON object."""
    return {"time": iso_ns(s.time_ns), "time_ns": s.time_ns, "measurement": s.measurement,
            "tags": dict(s.tags), "fields": dict(s.fields)}


def write_json(store: SqliteStore, summary: Mapping[str, Any] | None, out: TextIO, *,
               measurement: str | None = None) -> int:
    """{"format_version", "run_id", "summary", "samples": [...]}, streamed sample by sample.
    Returns the sample count."""
    head = {"format_version": EXPORT_FORMAT_VERSION,
            "run_id": (summary or {}).get("run_id"), "summary": summary}
    text = jsonio.dumps(head, ensure_ascii=False, indent=1)
    out.write(text[:-2] + ',\n "samples": [')
    return _stream(store.query(measurement=measurement), out)


def _stream(samples: Iterable[Sample], out: TextIO) -> int:
    count = 0
    for s in samples:
        out.write(("\n  " if count == 0 else ",\n  ")
                  + json.dumps(sample_json(s), ensure_ascii=False, allow_nan=False))
        count += 1
    out.write("\n ]\n}\n")
    return count
