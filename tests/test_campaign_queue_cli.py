"""The campaign queue without an agent: database URLs and their secrets, the workflow input's
schema, submission rules and exit codes (SQLite in tmp_path)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.base.errors import ConfigError
from harness.campaign.bench_run import BenchJob
from harness.campaign.db import masked, resolve_url, shown
from harness.campaign.queue import APP_VERSION, JOB_SCHEMA, queue_name
from tests.campaign_helpers import make_campaign, stop, wait_for


def test_password_by_reference_resolved_and_never_shown(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setenv("CAMPAIGN_PW", "s3cr/t@x")
    url = "postgresql://lab:${env:CAMPAIGN_PW}@db.example:5432/campaign"
    assert resolve_url(url) == "postgresql://lab:s3cr%2Ft%40x@db.example:5432/campaign"
    assert shown(url) == url  # a reference names no secret
    assert "s3cr" not in shown("postgresql://lab:s3cr@db/c")
    assert masked("auth failed for s3cr%2Ft%40x", resolve_url(url)) == "auth failed for ***"
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    assert resolve_url(f"postgresql://lab:${{file:{secret}}}@h/c") == \
        "postgresql://lab:from-file@h/c"
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        resolve_url("postgresql://lab:${env:NOT_SET_ANYWHERE}@h/c")
    with pytest.raises(ConfigError, match="sqlite:///PATH"):
        resolve_url("mysql://x@h/c")


def test_sqlite_default_directory_is_created(tmp_path: Path) -> None:
    url = resolve_url(f"sqlite:///{tmp_path / 'a' / 'b' / 'c.sqlite'}")
    assert (tmp_path / "a" / "b").is_dir() and url.endswith("c.sqlite")


def test_workflow_input_schema_is_versioned() -> None:
    job = BenchJob("r1", "bench-a", "smoke", "name: smoke\n")
    assert job.to_json()["schema"] == JOB_SCHEMA
    assert BenchJob.from_json(job.to_json()) == job
    with pytest.raises(ValueError, match="upgrade the agent"):
        BenchJob.from_json({**job.to_json(), "schema": JOB_SCHEMA + 1})
    assert str(JOB_SCHEMA) in APP_VERSION  # a fixed version, not DBOS's hash of the code


def test_submit_queue_cancel_without_agent(tmp_path: Path) -> None:
    camp = make_campaign(tmp_path)
    assert camp.submit("r1", "bench-a") == "r1"
    assert camp.submit("r1", "bench-a") == "r1"  # a no-op
    other = camp.harness("submit", str(camp.scenario), "--bench", "bench-b", "--id", "r1")
    assert other.returncode == 2 and "already taken" in other.stderr
    generated = camp.harness("submit", str(camp.scenario), "--bench", "bench-b")
    assert generated.returncode == 0 and generated.stdout.startswith("smoke-")
    rows = camp.rows()
    assert len(rows) == 2 and rows["r1"]["state"] == "queued"
    assert rows["r1"]["bench"] == "bench-a" and rows["r1"]["agent"] is None
    # the lease is the bench queue's concurrency, stored in the database
    with sqlite3.connect(tmp_path / "campaign.sqlite") as db:
        limits = dict(db.execute("SELECT name, concurrency FROM queues").fetchall())
    assert limits[queue_name("bench-a")] == 1 and limits[queue_name("bench-b")] == 1
    timeout = camp.harness("wait", "r1", "--timeout", "0.5")
    assert timeout.returncode == 124
    assert camp.harness("cancel", "r1").returncode == 0
    assert camp.rows()["r1"]["state"] == "cancelled"
    assert camp.harness("wait", "r1").returncode == 4
    assert camp.harness("wait", "nope").returncode == 2
    assert camp.harness("cancel", "nope").returncode == 2
    listed = camp.harness("queue")
    assert "r1" in listed.stdout and "cancelled" in listed.stdout


def test_bad_scenario_and_database_are_bad_input(tmp_path: Path) -> None:
    camp = make_campaign(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- not a scenario\n")
    done = camp.harness("submit", str(bad), "--bench", "bench-a")
    assert done.returncode == 2 and "name" in done.stderr
    env = {**os.environ, "PW": "hunter2"}
    unreachable = subprocess.run(
        [sys.executable, "-m", "harness", "queue", "--db",
         "postgresql://lab:${env:PW}@127.0.0.1:1/none"],
        capture_output=True, text=True, env=env, timeout=120)
    assert unreachable.returncode == 2 and "hunter2" not in unreachable.stderr


def test_every_command_lists_exit_codes() -> None:
    for command in ("submit", "agent", "queue", "wait", "cancel", "hold", "release"):
        done = subprocess.run([sys.executable, "-m", "harness", command, "--help"],
                              capture_output=True, text=True, timeout=60)
        assert "Exit codes:" in done.stdout, command


def test_a_second_agent_with_the_same_id_is_refused_tags_find_benches(tmp_path: Path) -> None:
    camp = make_campaign(tmp_path)
    first = camp.agent("ag1", "bench-a", dry_run=True)  # runs only validated
    try:
        log = tmp_path / "agent-ag1.log"
        deadline = time.monotonic() + 60
        while "serving" not in (log.read_text() if log.exists() else ""):
            assert first.poll() is None and time.monotonic() < deadline, "agent did not start"
            time.sleep(0.2)
        second = camp.harness("agent", "--lab", str(camp.labs["bench-b"]), "--executor-id",
                              "ag1", "--out", str(camp.out), timeout=60)
        assert second.returncode == 2 and "another agent with executor id ag1" in second.stderr
        # the agent registered its bench's site tags: --tag finds it
        tagged = camp.harness("submit", str(camp.scenario), "--tag", "city=hanoi", "--id", "t1")
        assert tagged.returncode == 0 and tagged.stdout.strip() == "t1", tagged.stderr
        assert camp.rows()["t1"]["bench"] == "bench-a"
        again = camp.harness("submit", str(camp.scenario), "--tag", "city=hanoi", "--id", "t1")
        assert again.returncode == 0 and "already submitted" in again.stderr
        none = camp.harness("submit", str(camp.scenario), "--tag", "city=danang")
        assert none.returncode == 2 and "no registered bench" in none.stderr  # not served
        both = camp.harness("submit", str(camp.scenario), "--tag", "city=hanoi", "--bench", "x")
        assert both.returncode == 2
        waited = camp.harness("wait", "t1", "--timeout", "60")
        assert waited.returncode == 0, waited.stderr
        assert camp.rows()["t1"]["state"] == "done"
        # a scenario the bench's lab rejects: the run's own exit 2, state failed
        bad = tmp_path / "bad.yaml"
        bad.write_text(camp.scenario.read_text().replace("via: gnb1", "via: no-such-gnb"))
        assert camp.submit("bad1", "bench-a", bad) == "bad1"
        failed = camp.harness("wait", "bad1", "--timeout", "60")
        assert failed.returncode == 2 and failed.stdout == "", failed.stderr
        assert camp.rows()["bad1"]["state"] == "failed"
        # an engineer's hold takes the bench's lease: a queued run waits until release
        held = camp.harness("hold", "bench-a", "--for", "5m")
        assert held.returncode == 0, held.stderr
        hold_id = held.stdout.strip()
        wait_for(lambda: camp.rows()[hold_id]["state"] == "running", 60, "the hold")
        assert camp.submit("after-hold", "bench-a") == "after-hold"
        time.sleep(3)  # several queue polls
        assert camp.rows()["after-hold"]["state"] == "queued"
        released = camp.harness("release", "bench-a")
        assert released.returncode == 0 and hold_id in released.stdout
        assert camp.harness("wait", "after-hold", "--timeout", "60").returncode == 0
        assert camp.rows()[hold_id]["state"] == "cancelled"
    finally:
        stop(first)
    assert first.returncode == 0
