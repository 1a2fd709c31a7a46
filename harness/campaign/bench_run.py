"""One queued run on its bench, exactly as `harness run` does it: the same command in a child
process, resumed from its run directory after a crash, never started twice.

Layout of a queued run under the agent's `--out` directory::

    OUT/<queue run id>/scenario.yaml     the scenario text as submitted
    OUT/<queue run id>/agent.log         the child's stderr (progress lines)
    OUT/<queue run id>/.lock             held (flock) by the child while it runs
    OUT/<queue run id>/<harness run id>/ the run directory `harness run` writes

The child holds the lock for as long as it lives, also when the agent that started it died:
a restarted agent waits for it before resuming, so one run never has two processes. The child
gets SIGINT when the agent's thread dies (PR_SET_PDEATHSIG): like Ctrl-C it restores the
devices and writes a partial summary.json, from which `harness run --resume` carries on."""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
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
_PR_SET_PDEATHSIG = 1


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


def _pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


def run_dirs(work: Path) -> list[Path]:
    """The run directories `harness run` made under a queued run's directory, oldest first."""
    if not work.is_dir():
        return []
    found = [p for p in work.iterdir() if p.is_dir() and (p / "raw").is_dir()]
    return sorted(found, key=lambda p: p.stat().st_mtime_ns)


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
                 poll_s: float = 1.0) -> dict[str, Any]:
    """Run (or resume, or just report) the queued run; returns `outcome()`.

    A run directory whose summary.json says `complete` is reported, not run again; one with a
    partial summary is resumed; otherwise a new run starts. `cancelled()` is asked every
    `poll_s` while the child runs: when it says so the child gets SIGINT (Ctrl-C)."""
    work = out / job.run_id
    work.mkdir(parents=True, exist_ok=True)
    scenario = _write_scenario(work, job)
    lock = os.open(work / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # an earlier agent's child may still run: wait
        dirs = run_dirs(work)
        last = dirs[-1] if dirs else None
        summary = _summary(last) if last is not None else None
        if last is not None and summary is not None and summary.get("complete"):
            return outcome(last, None)
        argv = [sys.executable, "-m", "harness", "run", "-q", "--progress", "lines",
                "--lab", str(lab.resolve())]
        if last is not None and summary is not None:
            argv += ["--resume", str(last), str(scenario)]
        else:
            argv += ["--out", str(work), str(scenario)]
        with open(work / LOG_FILE, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n"
                      .encode())
            log.flush()
            child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log,
                                     stdin=subprocess.DEVNULL, pass_fds=(lock,),
                                     preexec_fn=_pdeathsig, cwd=work)
            code = _wait(child, cancelled, poll_s)
            printed = (child.stdout.read().decode(errors="replace").strip().splitlines()
                       if child.stdout else [])
        run_dir = Path(printed[-1]) if printed else (run_dirs(work) or [work])[-1]
        return outcome(run_dir, code)
    finally:
        os.close(lock)


def _wait(child: subprocess.Popen[bytes], cancelled: Callable[[], bool] | None,
          poll_s: float) -> int:
    interrupted = False
    while True:
        try:
            return child.wait(timeout=poll_s)
        except subprocess.TimeoutExpired:
            if not interrupted and cancelled is not None and cancelled():
                child.send_signal(signal.SIGINT)
                interrupted = True
