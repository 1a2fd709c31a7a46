"""Helpers for the campaign queue tests: two simulated benches (copies of lab.yaml with their
own `name:`), a tiny scenario, the `harness` command and an agent process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
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

    def agent(self, executor_id: str, *benches: str) -> subprocess.Popen[bytes]:
        """Start `harness agent` for these benches (its output in DIR/agent-ID.log)."""
        argv = [sys.executable, "-m", "harness", "agent", "--executor-id", executor_id,
                "--out", str(self.out), "--db", self.db, "--no-pdf"]
        for bench in benches:
            argv += ["--lab", str(self.labs[bench])]
        log = open(self.dir / f"agent-{executor_id}.log", "ab")  # noqa: SIM115 - child's
        return subprocess.Popen(argv, stdout=log, stderr=log, cwd=self.dir)

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
    for bench in ("bench-a", "bench-b"):
        labs[bench] = tmp / f"{bench}.yaml"
        labs[bench].write_text(re.sub(r"(?m)^name: .*$", f"name: {bench}", lab),
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
