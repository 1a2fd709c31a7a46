"""Helpers for the campaign queue tests: two simulated benches (copies of lab.yaml with their
own `name:`), a tiny scenario, the `harness` command and an agent process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Campaign:
    """Files and database of one test's campaign."""

    dir: Path
    db: str
    labs: dict[str, Path]
    scenario: Path
    out: Path

    def harness(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """`harness ARGS --db DB`, its output kept."""
        return subprocess.run([sys.executable, "-m", "harness", *args, "--db", self.db],
                              capture_output=True, text=True, timeout=timeout, cwd=self.dir)

    def submit(self, run_id: str, bench: str, scenario: Path | None = None) -> str:
        """Submit and return the printed id (asserting success)."""
        done = self.harness("submit", str(scenario or self.scenario), "--bench", bench,
                            "--id", run_id)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def rows(self) -> dict[str, dict[str, Any]]:
        """`harness queue --json`, by run id."""
        done = self.harness("queue", "--json")
        assert done.returncode == 0, done.stderr
        return {row["id"]: row for row in json.loads(done.stdout)}

    def agent(self, executor_id: str, *benches: str, dry_run: bool = False,
              args: tuple[str, ...] = (), env: dict[str, str] | None = None,
              ) -> subprocess.Popen[bytes]:
        """Start `harness agent` for these benches (its output in DIR/agent-ID.log), with
        more options `args` and environment `env` when given."""
        argv = [sys.executable, "-m", "harness", "agent", "--executor-id", executor_id,
                "--out", str(self.out), "--db", self.db, "--no-pdf", *args]
        if dry_run:
            argv.append("--dry-run")
        for bench in benches:
            argv += ["--lab", str(self.labs[bench])]
        log = open(self.dir / f"agent-{executor_id}.log", "ab")  # noqa: SIM115 - child's
        return subprocess.Popen(argv, stdout=log, stderr=log, cwd=self.dir, env=env)

    def work(self, run_id: str) -> Path:
        """OUT/.queue/RUN_ID: the queued run's scenario copy, lock and agent.log."""
        return self.out / ".queue" / run_id

    def run_dirs(self, run_id: str) -> list[Path]:
        """The run directories (OUT/<harness run id>) of a queued run: their summary names
        its scenario copy."""
        scenario = str(self.work(run_id) / "scenario.yaml")
        return [p.parent for p in sorted(self.out.glob("*/summary.json"))
                if json.loads(p.read_text())["scenario"]["file"] == scenario]

    def summaries(self, run_id: str) -> list[dict[str, Any]]:
        """summary.json of every run directory of a queued run."""
        return [json.loads((p / "summary.json").read_text()) for p in self.run_dirs(run_id)]


def stop(agent: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop an agent (SIGTERM: it shuts down; SIGKILL: it just dies)."""
    if agent.poll() is None:
        agent.send_signal(sig)
        try:
            agent.wait(30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(10)


def make_campaign(tmp: Path, duration: str = "1s", trials: int = 1) -> Campaign:
    """Two benches (bench-a, bench-b), a smoke scenario of `trials` trials of `duration`."""
    lab = (ROOT / "lab.yaml").read_text(encoding="utf-8")
    labs = {}
    for bench, city in (("bench-a", "hanoi"), ("bench-b", "danang")):
        labs[bench] = tmp / f"{bench}.yaml"
        text = re.sub(r"(?m)^name: .*$", f"name: {bench}", lab)
        labs[bench].write_text(text.replace("\nsite:\n", f"\nsite:\n  city: {city}\n", 1),
                               encoding="utf-8")
    smoke = (ROOT / "scenarios" / "smoke.yaml").read_text(encoding="utf-8")
    smoke = smoke.replace("duration: 12s", f"duration: {duration}")
    if trials > 1:
        head, body = smoke.split("trials:\n", 1)
        extra = "".join(body.replace("id: throughput-dl-tcp", f"id: throughput-dl-tcp-{i}")
                        for i in range(2, trials + 1))
        smoke = head + "trials:\n" + body + extra
    scenario = tmp / "smoke.yaml"
    scenario.write_text(smoke, encoding="utf-8")
    return Campaign(tmp, f"sqlite:///{tmp / 'campaign.sqlite'}", labs, scenario, tmp / "out")


def interval(summary: dict[str, Any]) -> tuple[datetime, datetime]:
    """(started, finished) of a run from its summary.json."""
    return (datetime.fromisoformat(summary["started"]),
            datetime.fromisoformat(summary["finished"]))


def env_without(*names: str) -> dict[str, str]:
    """os.environ without these variables."""
    return {k: v for k, v in os.environ.items() if k not in names}


def _require(name: str) -> str:
    import shutil

    import pytest

    path = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if path is None:
        message = f"{name} not installed (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL on a free port in a temporary directory (as the postgres user
    when root: initdb refuses root), stopped and removed after; yields its URL with the
    password by reference (`${env:CAMPAIGN_TEST_PG_PASSWORD}`; the cluster trusts local
    connections). Missing PostgreSQL fails under CI=true, skips elsewhere."""
    import shutil
    import socket
    import tempfile
    import time

    initdb, server = _require("initdb"), _require("postgres")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="ran-harness-pg-"))
    if as_user:
        shutil.chown(data, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = None
    try:
        subprocess.run([*as_user, initdb, "-A", "trust", "-U", "postgres", "-D",
                        str(data / "db")], check=True, capture_output=True, timeout=120)
        proc = subprocess.Popen([*as_user, server, "-D", str(data / "db"), "-p", str(port),
                                 "-k", str(data), "-c", "listen_addresses=127.0.0.1",
                                 "-c", "max_connections=100"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "postgres exited at start"
                assert time.monotonic() < deadline, "postgres did not start in 60 s"
                time.sleep(0.2)
        os.environ["CAMPAIGN_TEST_PG_PASSWORD"] = "not-needed-trust"
        time.sleep(1.0)  # accepting TCP before it accepts logins
        yield (f"postgresql://postgres:${{env:CAMPAIGN_TEST_PG_PASSWORD}}@127.0.0.1:{port}"
               "/postgres")
    finally:
        if proc is not None:
            # SIGINT to the postmaster itself (fast shutdown): runuser does not pass it on
            pid_file = data / "db" / "postmaster.pid"
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
            except (OSError, ValueError, IndexError):
                proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 30
            while pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(data, ignore_errors=True)
        os.environ.pop("CAMPAIGN_TEST_PG_PASSWORD", None)


def wait_for(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    """Poll `predicate` every 0.2 s until it is true; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


SampleKey = tuple[str, tuple[tuple[str, str], ...], int]
"""(measurement, sorted tags, time in ns): what InfluxDB identifies a point by."""


def samples(run_dir: Path, store: str = "samples.sqlite") -> Counter[SampleKey]:
    """Every sample in a run directory's samples.sqlite (or another store file there),
    counted by (measurement, sorted tags, time_ns): each should be there once, and the same
    keys should reach the centre's InfluxDB once each. Read-only: the signed run directory
    is not changed."""
    import sqlite3
    from contextlib import closing

    from harness.store.readonly import read_only_uri

    with closing(sqlite3.connect(read_only_uri(run_dir / store), uri=True)) as db:
        rows = db.execute("SELECT s.measurement, s.tags, p.time_ns FROM points AS p "
                          "JOIN series AS s ON s.id = p.series").fetchall()
    return Counter((str(m), tuple(sorted(json.loads(t).items())), int(ns))
                   for m, t, ns in rows)


def of_trial(found: Counter[SampleKey], trial: str,
             repetition: int = 1) -> Counter[SampleKey]:
    """The samples tagged with this trial run."""
    wanted = {("trial", trial), ("repetition", str(repetition))}
    return Counter({k: n for k, n in found.items() if wanted <= set(k[1])})


def lock_free(work: Path) -> bool:
    """True when no process holds a queued run's lock (OUT/.queue/RUN_ID/.lock): its child
    (supervisor and `harness run`) has exited."""
    import fcntl

    path = work / ".lock"
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases the lock if taken
    return True
