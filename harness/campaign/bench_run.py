"""One queued run on its bench, exactly as `harness run` does it: the same command in a child
process, resumed from its run directory after a crash, never started twice.

The run directory is where `harness run --out OUT` puts it (OUT/<harness run id>/, listed by
`harness runs` through OUT/catalog.sqlite); the queue's own files are beside it::

    OUT/.queue/<queue run id>/scenario.yaml  the scenario text as submitted
    OUT/.queue/<queue run id>/agent.log      the child's stderr (progress lines)
    OUT/.queue/<queue run id>/.lock          held (flock) by the child while it runs

A run directory belongs to a queued run when its summary.json names that scenario file.
The child (`harness.campaign.child`, a supervisor, and the `harness run` under it) holds the
lock for as long as it lives, also when the agent that started it died: a restarted agent waits
for it before resuming, so one run never has two processes. When the agent dies the run gets
one SIGINT (PR_SET_PDEATHSIG through the supervisor): like Ctrl-C it restores the devices and
writes a partial summary.json, from which `harness run --resume` carries on."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.base.verdict import Verdict, exit_code

EXIT_INTERRUPTED = 130
SCENARIO_FILE = "scenario.yaml"
LOCK_FILE = ".lock"
LOG_FILE = "agent.log"


@dataclass(frozen=True)
class BenchJob:
    """What the agent needs to run one queued run (the workflow's input, schema 1)."""

    run_id: str
    bench: str
    scenario_name: str
    scenario_text: str

    def to_json(self) -> dict[str, Any]:
        """The workflow input (a versioned schema: see queue.JOB_SCHEMA)."""
        return {"schema": 1, "run_id": self.run_id, "bench": self.bench,
                "scenario_name": self.scenario_name, "scenario_text": self.scenario_text}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchJob:
        """Read a workflow input; ValueError for a schema this version does not know."""
        if data.get("schema") != 1:
            raise ValueError(f"run input schema {data.get('schema')!r}: this ran-harness "
                             "reads schema 1; upgrade the agent")
        return cls(str(data["run_id"]), str(data["bench"]), str(data["scenario_name"]),
                   str(data["scenario_text"]))


QUEUE_DIR = ".queue"
STOPPING = threading.Event()
"""Set by the agent when it shuts down: a child that ends then is not the run's end."""
_CHILDREN: set[subprocess.Popen[bytes]] = set()
_CHILDREN_LOCK = threading.Lock()


def work_dir(out: Path, run_id: str) -> Path:
    """OUT/.queue/RUN_ID: the queued run's scenario, lock and log."""
    return out / QUEUE_DIR / run_id


def run_dirs(out: Path, scenario: Path) -> list[Path]:
    """The run directories under OUT whose summary.json names this scenario file, oldest
    first."""
    if not out.is_dir():
        return []
    found = []
    for path in out.iterdir():
        summary = _summary(path) if path.is_dir() else None
        if summary is not None and (summary.get("scenario") or {}).get("file") == str(scenario):
            found.append(path)
    return sorted(found, key=lambda p: str((_summary(p) or {}).get("started")))


def _summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def outcome(run_dir: Path, code: int | None) -> dict[str, Any]:
    """The workflow's result: exit code (the child's, or from summary.json's verdict), verdict,
    run directory."""
    summary = _summary(run_dir) or {}
    verdict = summary.get("verdict")
    if code is None:
        code = exit_code(Verdict(verdict)) if verdict else 3
    return {"exit_code": code, "verdict": verdict, "run_dir": str(run_dir),
            "started": summary.get("started"), "finished": summary.get("finished"),
            "sessions": len(summary.get("sessions") or [])}


def _write_scenario(work: Path, job: BenchJob) -> Path:
    path = work / SCENARIO_FILE
    data = job.scenario_text.encode("utf-8")
    if not path.is_file() or hashlib.sha256(path.read_bytes()).digest() != \
            hashlib.sha256(data).digest():
        path.write_bytes(data)
    return path


def run_on_bench(job: BenchJob, lab: Path, out: Path,
                 cancelled: Callable[[], bool] | None = None,
                 poll_s: float = 1.0, run_args: tuple[str, ...] = (),
                 dry_run: bool = False) -> dict[str, Any]:
    """Run (or resume, or just report) the queued run; returns `outcome()`.

    A run directory whose summary.json says `complete` is reported, not run again; one with a
    partial summary is resumed; otherwise a new run starts. `cancelled()` is asked every
    `poll_s` while the child runs: when it says so the child gets SIGINT (Ctrl-C).
    `run_args` go to every `harness run` (the agent's `--no-pdf`). `dry_run`: `harness
    validate` the scenario against the bench's lab instead (no device touched, no run
    directory): the queue's own cost, measured by benchmarks/campaign_queue.py."""
    work = work_dir(out, job.run_id)
    work.mkdir(parents=True, exist_ok=True)
    scenario = _write_scenario(work, job)
    lock = os.open(work / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # an earlier agent's child may still run: wait
        dirs = run_dirs(out, scenario)
        last = dirs[-1] if dirs else None
        summary = _summary(last) if last is not None else None
        if last is not None and summary is not None and summary.get("complete"):
            return outcome(last, None)  # it ended before its agent could record it
        argv = [sys.executable, "-m", "harness.campaign.child", str(os.getpid()), str(lock),
                "--", sys.executable, "-m", "harness", "run", "--progress", "lines",
                "--lab", str(lab.resolve()), *run_args]
        if dry_run:
            argv[argv.index("run"):] = ["validate", "--lab", str(lab.resolve()), str(scenario)]
        elif last is not None and summary is not None:
            argv += ["--resume", str(last), str(scenario)]
        else:
            argv += ["--out", str(out), str(scenario)]
        with open(work / LOG_FILE, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n"
                      .encode())
            log.flush()
            child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log,
                                     stdin=subprocess.DEVNULL, pass_fds=(lock,), cwd=work)
            code = _wait(child, cancelled, poll_s)
            printed = (child.stdout.read().decode(errors="replace").strip().splitlines()
                       if child.stdout else [])
        if dry_run:
            return {"exit_code": code, "verdict": None, "run_dir": None, "dry_run": True,
                    "log": str(work / LOG_FILE)}
        found = run_dirs(out, scenario)
        run_dir = Path(printed[-1]) if printed else (found[-1] if found else None)
        if run_dir is None:  # bad input (exit 2) before any run directory: see agent.log
            return {"exit_code": code, "verdict": None, "run_dir": None,
                    "log": str(work / LOG_FILE)}
        return outcome(run_dir, code)
    finally:
        os.close(lock)


def _wait(child: subprocess.Popen[bytes], cancelled: Callable[[], bool] | None,
          poll_s: float) -> int:
    with _CHILDREN_LOCK:
        _CHILDREN.add(child)
    try:
        interrupted = False
        while True:
            try:
                code = child.wait(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                if not interrupted and cancelled is not None and cancelled():
                    child.send_signal(signal.SIGINT)
                    interrupted = True
    finally:
        with _CHILDREN_LOCK:
            _CHILDREN.discard(child)
    if STOPPING.is_set():  # interrupted by the agent's shutdown: the run goes on next start
        threading.Event().wait()  # the step never returns; the agent process exits
    return code


def interrupt_children(timeout_s: float) -> None:
    """Agent shutdown: SIGINT to every run under way (devices restored, partial summary
    written), then wait up to `timeout_s` for them; their steps never complete, so the
    restarted agent resumes them."""
    STOPPING.set()
    with _CHILDREN_LOCK:
        children = list(_CHILDREN)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
