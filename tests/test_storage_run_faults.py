"""Storage faults during a run on the simulated lab (real tmpfs, real bind mounts, a real
deleted directory, a real SQLite size limit): each ends in ERROR (exit 3) with the file and
the reason named, no traceback, the summary written (in the run directory or a fallback it
names), the samples already taken kept, and the devices restored."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.base.events import Event, Notice, TrialStarted
from harness.base.verdict import exit_code
from harness.engine.runner import Runner, RunOutcome
from tests.conftest import require_tool
from tests.runner_helpers import inputs, later, run_in_process
from tests.tmpfs import bind_read_only, fill, small_tmpfs, unmount

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: storage
title: {vi: "Lỗi lưu trữ", en: "Storage faults"}
defaults: {duration: 3s, kpi_interval: 0.5s}
setup:
  - {device: gnb1, action: set_cell, cell: 1, params: {bandwidth_mhz: 10}}
trials:
  - id: first
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    monitor: {gnb1: [DRB.UEThpDl]}
    criteria: ["throughput.mean >= 1 Mbit/s"]
  - id: second
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["throughput.mean >= 1 Mbit/s"]
"""


def _run(tmp_path: Path, out: Path, fault: Callable[[Runner], Any],
         monkeypatch: pytest.MonkeyPatch) -> tuple[RunOutcome, list[Event]]:
    """Run SCENARIO, injecting `fault(runner)` 1 s into the first trial."""
    require_tool("iperf3")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tasks: list[asyncio.Task[None]] = []

    def on_event(runner: Runner, event: Event) -> None:
        if isinstance(event, TrialStarted) and event.trial_id == "first":
            async def inject() -> None:
                fault(runner)
            tasks.append(later(1.0, inject))

    return run_in_process(inputs(tmp_path, SCENARIO), out, on_event=on_event)


def _check(outcome: RunOutcome, events: list[Event], capfd: pytest.CaptureFixture[str],
           *, names: str, reason: str, fallback: bool) -> dict[str, Any]:
    summary = outcome.summary
    err = capfd.readouterr().err
    assert "Traceback" not in err, err
    assert exit_code(outcome.verdict) == 3 and summary["verdict"] == "ERROR"
    assert outcome.storage_error is not None
    assert names in outcome.storage_error and reason in outcome.storage_error, \
        outcome.storage_error
    assert summary["storage_error"] == outcome.storage_error
    said = [e.text for e in events if isinstance(e, Notice) and e.level == "error"]
    assert any(names in text for text in said), said
    # summary written: in the run directory, or in a fallback named on the console
    assert outcome.summary_path is not None and outcome.summary_path.is_file()
    if fallback:
        assert outcome.summary_path.parent != outcome.run_dir
        assert any(str(outcome.summary_path) in text for text in said), said
        assert summary["fallback"]["summary.json"] == str(outcome.summary_path)
    # the run stopped: the second trial never started; the first is ERROR
    assert [t["id"] for t in summary["trials"]] == ["first"], summary["storage_errors"]
    assert summary["trials"][0]["verdict"] == "ERROR"
    # devices restored whatever storage did
    assert summary["restore_errors"] == []
    before = summary["snapshot"]["before"]["gnb1"]["cells"]["1"]
    after = summary["snapshot"]["after"]["gnb1"]["cells"]["1"]
    assert after["bandwidth_mhz"] == before["bandwidth_mhz"] != 10
    return summary


def _throughput_rows(store: Path) -> int:
    db = sqlite3.connect(store)
    try:
        return int(db.execute(
            "SELECT COUNT(*) FROM samples WHERE measurement='throughput'").fetchone()[0])
    finally:
        db.close()


def test_disk_full_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capfd: pytest.CaptureFixture[str]) -> None:
    with small_tmpfs(tmp_path / "disk", "8m") as disk:
        outcome, events = _run(tmp_path, disk, lambda r: fill(r.run_dir), monkeypatch)
        _check(outcome, events, capfd, names=str(outcome.run_dir), reason="full",
               fallback=True)
        db = sqlite3.connect(outcome.run_dir / "samples.sqlite")  # consistent, readable
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()


def test_read_only_run_directory_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    mounted: list[Path] = []

    def read_only(runner: Runner) -> None:
        bind_read_only(runner.run_dir)
        mounted.append(runner.run_dir)

    try:
        outcome, events = _run(tmp_path, tmp_path / "out", read_only, monkeypatch)
        summary = _check(outcome, events, capfd, names="first-r1.iperf3.json",
                         reason="Read-only file system", fallback=True)
        # samples before evidence: the throughput of the trial is stored all the same
        assert _throughput_rows(outcome.run_dir / "samples.sqlite") >= 2
        assert "first-r1.iperf3.json" in summary["trials"][0]["error"]
        assert "throughput.mean" in summary["trials"][0]["metrics"]
    finally:
        for path in mounted:
            unmount(path)


def test_run_directory_vanishes_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capfd: pytest.CaptureFixture[str]) -> None:
    outcome, events = _run(tmp_path, tmp_path / "out",
                           lambda r: shutil.rmtree(r.run_dir), monkeypatch)
    summary = _check(outcome, events, capfd, names=str(outcome.run_dir),
                     reason="No such file or directory", fallback=True)
    rescued = Path(summary["fallback"]["samples.sqlite"])
    assert rescued.parent == outcome.summary_path.parent  # type: ignore[union-attr]
    assert _throughput_rows(rescued) >= 2  # the first trial's seconds, kept


def test_failing_sqlite_commit_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    # A real SQLite fault, not a fake: the store's size is capped at what it holds now and
    # its free room padded, so the next write fails with SQLITE_FULL (as on a full disk) in
    # the middle of the trial.
    def cap(runner: Runner) -> None:
        assert runner.results is not None
        db = runner.results.store._db  # the run's own connection
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        with contextlib.suppress(sqlite3.OperationalError):  # rows of no series, far ahead
            for i in range(100_000):  # fill the page where new samples land
                db.execute("INSERT INTO points (time_ns, series) VALUES (?, -1)", (2**62 + i,))

    outcome, events = _run(tmp_path, tmp_path / "out", cap, monkeypatch)
    summary = _check(outcome, events, capfd, names="samples.sqlite", reason="disk is full",
                     fallback=False)
    assert outcome.summary_path == outcome.run_dir / "summary.json"
    assert summary["results"]["unsaved_samples"] > 0
    assert "storage fault" in summary["trials"][0]["error"]
