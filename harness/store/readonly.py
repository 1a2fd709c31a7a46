"""Opening a run's samples.sqlite for reading without changing a byte of it (or adding a
file beside it): the run directory is signed evidence, and `harness export`, `push`, the
catalog and the report only read it.

SQLite's `mode=ro` URI opens the file read-only; `immutable=1` also skips locking and the
`-shm` file, which is right only when no writer can be at work: when there is no `-wal` file
beside it (a run that closed its store cleanly). While a run is writing (its `-wal` exists)
`mode=ro` alone reads its committed samples. A store of an older format is upgraded in a
private in-memory copy, never in place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from harness.base.errors import StorageError

__all__ = ["open_read_only", "read_only_uri"]


def read_only_uri(path: Path) -> str:
    """The `file:` URI that opens `path` read-only (and immutable when no writer is
    active, i.e. no `-wal` file beside it)."""
    uri = path.resolve().as_uri() + "?mode=ro"
    if not path.with_name(path.name + "-wal").exists():
        uri += "&immutable=1"
    return uri


def _version(db: sqlite3.Connection) -> int | None:
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    if "meta" not in tables:
        return None
    found = db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
    return int(found[0]) if found else None


def open_read_only(path: Path,
                   upgrade: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    """A read-only connection to the store at `path`: the current format as it is; an
    older one copied into memory and upgraded there by `upgrade(connection)`; a newer one
    refused (StoreFormatError)."""
    from harness.store.sqlite import FORMAT_VERSION, StoreFormatError

    try:
        db = sqlite3.connect(read_only_uri(path), uri=True, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        raise StorageError.from_sqlite(path, exc) from exc
    try:
        version = _version(db)
        if version is not None and version > FORMAT_VERSION:
            raise StoreFormatError(
                f"{path} has store format {version}, newer than this harness reads "
                f"({FORMAT_VERSION}): upgrade ran-harness")
        if version == FORMAT_VERSION:
            return db
        memory = sqlite3.connect(":memory:", isolation_level=None)
        db.backup(memory)
        db.close()
        upgrade(memory)
        return memory
    except sqlite3.Error as exc:
        db.close()
        raise StorageError.from_sqlite(path, exc) from exc
    except BaseException:
        db.close()
        raise

