"""`harness run --attach` on the lab `harness sim up` runs, so `harness sim fault` acts on
the equipment the run measures; and `harness sim fault` saying why a run's own lab is out of
its reach. Real subprocesses, a real simulated lab, real iperf3."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from harness.base.loader import load_model
from harness.config.lab import Lab
from harness.engine.bench import open_bench
from tests.conftest import free_port, require_tool
from tests.test_sim_cli import LAB, alive

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """\
name: attach-smoke
title: {vi: "Thử gắn", en: "Attach smoke"}
defaults: {duration: 3s, omit: 0s, repetitions: 1, kpi_interval: 1s}
trials:
  - id: dl
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    protocol: tcp
    min_samples: 1  # judged on the observed maximum (an exact figure), not a 3 s mean
    criteria: ["throughput.max >= 5 Mbit/s"]
"""


def cli(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _files(tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_text(LAB.replace("DN_PORT", str(free_port())),
                                       encoding="utf-8")
    (tmp_path / "s.yaml").write_text(SCENARIO, encoding="utf-8")


def _summary(cwd: Path, run: subprocess.CompletedProcess[str]) -> dict[str, object]:
    run_dir = cwd / run.stdout.strip().splitlines()[-1]
    summary: dict[str, object] = json.loads((run_dir / "summary.json").read_text())
    return summary


def test_run_attach_measures_the_sim_up_lab_and_sim_fault_reaches_it(tmp_path: Path) -> None:
    """Fails on the old code: `harness run` had no --attach, and always started a private lab
    that `harness sim fault` could not reach."""
    require_tool("iperf3")
    _files(tmp_path)
    up = cli(tmp_path, "sim", "up", "--lab", "lab.yaml")
    assert up.returncode == 0, up.stderr
    pid = json.loads((tmp_path / ".harness" / "sim" / "state.json").read_text())["pid"]
    try:
        fine = cli(tmp_path, "run", "s.yaml", "--lab", "lab.yaml", "--attach", "--no-pdf",
                   "--progress", "lines")
        assert fine.returncode == 0, fine.stderr
        assert "attached to the simulated lab" in fine.stderr
        assert _summary(tmp_path, fine)["verdict"] == "PASS"
        assert alive(pid)  # the run left the lab running
        # the gNodeB the run measured is the one `sim up` runs: a cell outage injected from
        # the command line stops the next attached run's traffic
        outage = cli(tmp_path, "sim", "fault", "gnb1", "cell-outage", "--for", "60s")
        assert outage.returncode == 0, outage.stderr
        cut = cli(tmp_path, "run", "s.yaml", "--lab", "lab.yaml", "--attach", "--no-pdf",
                  "--progress", "lines")
        assert cut.returncode in (1, 3), cut.stderr  # FAIL or ERROR, never PASS
        assert _summary(tmp_path, cut)["verdict"] in ("FAIL", "ERROR")
        assert alive(pid)
    finally:
        down = cli(tmp_path, "sim", "down")
        assert down.returncode == 0, down.stderr


def test_run_attach_without_a_running_lab_or_with_another_lab_is_bad_input(
        tmp_path: Path) -> None:
    _files(tmp_path)
    none = cli(tmp_path, "run", "s.yaml", "--lab", "lab.yaml", "--attach")
    assert none.returncode == 2, none.stderr
    assert "--attach: no simulated lab is running" in none.stderr
    assert "harness sim up" in none.stderr
    state = tmp_path / ".harness" / "sim"
    state.mkdir(parents=True)
    (state / "state.json").write_text(json.dumps({
        "format_version": 1, "pid": os.getpid(), "start_ticks": _ticks(os.getpid()),
        "control": str(state / "control.sock"),
        "lab": {"name": "other", "file": "/elsewhere/lab.yaml", "sha256": "0" * 64},
        "devices": {}}), encoding="utf-8")
    other = cli(tmp_path, "run", "s.yaml", "--lab", "lab.yaml", "--attach")
    assert other.returncode == 2, other.stderr
    assert "started from /elsewhere/lab.yaml" in other.stderr and "sha256" in other.stderr


def _ticks(pid: int) -> str | None:
    from harness.simlab.state import process_start_ticks

    return process_start_ticks(pid)


def test_sim_fault_says_a_runs_own_lab_is_out_of_reach(tmp_path: Path) -> None:
    """Fails on the old code: it said only 'no simulated lab is running … start one with
    `harness sim up`' while a run's lab was plainly running."""
    _files(tmp_path)
    lab = load_model(tmp_path / "lab.yaml", Lab)

    async def with_private_lab() -> subprocess.CompletedProcess[str]:
        bench = await open_bench(lab, tmp_path)  # as `harness run` does: a lab of its own
        try:
            assert bench.sim is not None and bench.sim.pid is not None
            return await asyncio.to_thread(cli, tmp_path, "sim", "fault", "gnb1",
                                           "snmp-silent", "--state-dir", str(tmp_path / "s"))
        finally:
            await bench.close()

    result = asyncio.run(with_private_lab())
    assert result.returncode == 2, result.stderr
    assert f"of the run pid {os.getpid()}" in result.stderr
    assert "harness sim up --lab LAB" in result.stderr and "--attach" in result.stderr
