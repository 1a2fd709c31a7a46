"""The SQLite store on a real full disk: the write fails with the disk's reason, never with
the ROLLBACK that SQLite makes impossible (it has already rolled back)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.base.errors import StorageError
from harness.base.sample import Sample
from harness.store.sqlite import SqliteStore
from tests.tmpfs import fill, small_tmpfs


def _batch(start: int, n: int = 300) -> list[Sample]:
    return [Sample(start + i, "throughput", {"trial": "t", "note": "x" * 60},
                   {"bits_per_second": float(i), "bytes": i}) for i in range(n)]


def test_full_disk_write_is_storage_error_naming_file_not_rollback(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "512k") as disk:
        store = SqliteStore(disk / "samples.sqlite")
        assert store.write(_batch(0)) == 300
        fill(disk)
        with pytest.raises(StorageError) as caught:
            for round_ in range(1, 20):  # until SQLite's cache spills onto the full disk
                store.write(_batch(round_ * 1000))
        message = str(caught.value)
        assert "samples.sqlite" in message and "disk is full" in message, message
        assert "rollback" not in message.lower(), message
        assert caught.value.code == "SQLITE_FULL"
        # what was committed before the fault is intact and readable
        assert store.count() >= 300
        (disk / ".filler").unlink()
        store.write(_batch(10**6))  # space again: the store goes on
        store.close()
        reopened = SqliteStore(disk / "samples.sqlite", create=False)
        assert reopened.count() >= 600
        reopened.close()


def test_store_in_missing_directory_is_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as caught:
        SqliteStore(tmp_path / "gone" / "samples.sqlite")
    assert "gone/samples.sqlite" in str(caught.value)
