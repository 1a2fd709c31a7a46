"""Reading a run's evidence never modifies it: `harness export`, `runs`, `show`, `compare`
and the catalog's sample queries leave samples.sqlite byte for byte as the run left it (and
add no file beside it), so a signed run still verifies after them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.cli import cli
from harness.store.catalog import Catalog
from harness.store.manifest import verify_run, write_manifest
from harness.store.signing import Signer
from harness.store.sqlite import SqliteStore, StoreFormatError
from tests.test_store import make_run


def _state(run_dir: Path) -> dict[str, str]:
    return {p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.fixture()
def signed(tmp_path: Path) -> tuple[Path, Path, Path]:
    reports = tmp_path / "reports"
    first = make_run(reports, "20261128T100000Z-smoke-aaaa", means=[500, 505, 495])
    second = make_run(reports, "20261128T110000Z-smoke-bbbb", means=[400, 405, 395],
                      started="2026-11-28T11:00:00.000Z")
    signer = Signer(Ed25519PrivateKey.generate(), "test")
    for run_dir in (first, second):
        write_manifest(run_dir, run_dir.name, signer)
    return reports, first, second


def test_export_leaves_samples_sqlite_unchanged(signed: tuple[Path, Path, Path],
                                                tmp_path: Path) -> None:
    # fails on the old code: export opened the store read-write (journal mode, format
    # meta rewritten, checkpoint), so samples.sqlite's hash changed on every export
    reports, run_dir, _ = signed
    before = _state(run_dir)
    runner = CliRunner()
    for fmt in ("csv", "json"):
        out = tmp_path / f"export.{fmt}"
        result = runner.invoke(cli, ["export", run_dir.name, "--out", str(reports),
                                     "--format", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0
    assert _state(run_dir) == before
    assert verify_run(run_dir).ok, verify_run(run_dir).problems


def test_every_reader_leaves_the_run_as_signed(signed: tuple[Path, Path, Path]) -> None:
    reports, first, second = signed
    before = {d: _state(d) for d in (first, second)}
    runner = CliRunner()
    for args in (["runs"], ["show", first.name], ["show", first.name, "--json"],
                 ["compare", first.name, second.name]):
        result = runner.invoke(cli, [*args, "--out", str(reports)])
        assert result.exit_code in (0, 1), (args, result.output)
    catalog = Catalog(reports)
    try:
        assert len(list(catalog.samples(runs=[first.name]))) == 3
    finally:
        catalog.close()
    for run_dir, state in before.items():
        assert _state(run_dir) == state
        assert verify_run(run_dir).ok


def test_a_store_being_written_is_read_without_touching_it(tmp_path: Path) -> None:
    from harness.base.sample import Sample
    from tests.test_store import T0

    writer = SqliteStore(tmp_path / "samples.sqlite")
    writer.write([Sample(T0, "kpi", {"kpi": "K"}, {"value": 1.0})])
    assert (tmp_path / "samples.sqlite-wal").exists()  # a run in progress
    reader = SqliteStore(tmp_path / "samples.sqlite", read_only=True)
    try:
        assert [s.fields for s in reader.query()] == [{"value": 1.0}]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._db.execute("DELETE FROM points")
    finally:
        reader.close()
    writer.close()


def test_an_older_store_is_upgraded_in_memory_only(tmp_path: Path) -> None:
    path = tmp_path / "samples.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('format_version', '1');"
        "CREATE TABLE samples (time_ns INTEGER, measurement TEXT, tags TEXT, fields TEXT);")
    db.execute("INSERT INTO samples VALUES (?, 'kpi', ?, ?)",
               (10**18, json.dumps({"kpi": "K"}), json.dumps({"value": 2.5})))
    db.commit()
    db.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    store = SqliteStore(path, read_only=True)
    try:
        assert [(s.tags, s.fields) for s in store.query()] == [({"kpi": "K"}, {"value": 2.5})]
    finally:
        store.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.sqlite"]
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreFormatError, match="upgrade ran-harness"):
        SqliteStore(path, read_only=True)
