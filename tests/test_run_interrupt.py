"""Ctrl-C during a run (harness/engine/interrupt.py): a cancellation that an await on the way
swallowed still stops the run before its next trial, and a second Ctrl-C while the run stops
never cuts the restore short — the devices are put back and summary.json is written. Both fail
on the old code: the next trial ran; the second Ctrl-C raised KeyboardInterrupt out of the
event loop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from harness.base.events import Event, TrialStarted
from harness.engine.interrupt import RunInterrupt
from harness.engine.runner import Runner
from harness.kinds import KindRegistry, KindRun, default_registry
from tests.conftest import require_tool
from tests.runner_helpers import FAST_LAB, inputs, run_in_process, start_run, write_inputs
from tests.test_e2e_smoke import ROOT, load_run

pytestmark = pytest.mark.e2e

TWO_TRIALS = """\
name: interrupt
title: {vi: "Ngắt", en: "Interrupt"}
defaults: {duration: 2s, omit: 0s, min_samples: 1}
trials:
  - id: first
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["throughput.max >= 1 Mbit/s"]
  - id: second
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["throughput.max >= 1 Mbit/s"]
"""


def _swallowing_registry(cancelled: list[str]) -> KindRegistry:
    """The default kinds, with a throughput kind whose `first` trial swallows a cancellation
    and finishes normally — what Python 3.11's `asyncio.wait_for` does when it is cancelled
    just as the awaited call completes (a library race no server produces on demand)."""
    base = default_registry()
    original = base.get("throughput")

    async def measure(run: KindRun) -> None:
        if run.trial.id != "first":
            await original.measure(run)
            return
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(run.trial.id)  # swallowed: the trial ends as if nothing happened
        await original.measure(run)

    kinds = [base.get(n) for n in base.names() if n != "throughput"]
    return KindRegistry([dataclasses.replace(original, measure=measure), *kinds])


def test_a_swallowed_cancellation_still_stops_the_run_before_its_next_trial(
        tmp_path: Path) -> None:
    require_tool("iperf3")
    cancelled: list[str] = []
    run_inputs = dataclasses.replace(inputs(tmp_path, TWO_TRIALS),
                                     kinds=_swallowing_registry(cancelled))
    pending: list[Any] = []

    def on_event(runner: Runner, event: Event) -> None:
        if isinstance(event, TrialStarted) and event.trial_id == "first":
            run_task = asyncio.current_task()  # the run's: its events are emitted in it
            assert run_task is not None
            pending.append(asyncio.get_running_loop().call_later(1.0, run_task.cancel))

    outcome, events = run_in_process(run_inputs, tmp_path / "out", on_event=on_event)
    assert cancelled == ["first"]  # the stand-in race happened
    started = [e.trial_id for e in events if isinstance(e, TrialStarted)]
    assert started == ["first"], started  # the old code went on to "second"
    assert outcome.interrupted
    summary = json.loads((outcome.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is True and not summary["complete"]
    assert summary["restore_errors"] == []


def test_a_swallowed_cancellation_in_the_last_trial_leaves_it_unfinished(
        tmp_path: Path) -> None:
    """A Ctrl-C (or a killed agent's SIGINT) during the run's last trial whose cancellation an
    await swallowed: that trial was cut short, so it is recorded interrupted and the run is
    not complete (`--resume` runs it again); the old code judged it as if it had run its
    course and called the run complete (seen in tests/test_campaign_durability.py)."""
    require_tool("iperf3")
    cancelled: list[str] = []
    one_trial = TWO_TRIALS[:TWO_TRIALS.index("  - id: second")]
    run_inputs = dataclasses.replace(inputs(tmp_path, one_trial),
                                     kinds=_swallowing_registry(cancelled))

    def on_event(runner: Runner, event: Event) -> None:
        if isinstance(event, TrialStarted):
            run_task = asyncio.current_task()
            assert run_task is not None
            asyncio.get_running_loop().call_later(1.0, run_task.cancel)

    outcome, _ = run_in_process(run_inputs, tmp_path / "out", on_event=on_event)
    assert cancelled == ["first"]  # the stand-in race happened
    assert outcome.interrupted
    summary = json.loads((outcome.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is True and not summary["complete"]
    assert [t.get("interrupted") for t in summary["trials"]] == [True]


def test_a_second_ctrl_c_never_cuts_the_restore_short(tmp_path: Path) -> None:
    require_tool("iperf3")
    scenario, lab = write_inputs(tmp_path, TWO_TRIALS.replace("duration: 2s", "duration: 20s")
                                 .replace("trials:\n", "setup:\n  - {device: gnb1, action: "
                                          "set_cell, cell: 1, params: {bandwidth_mhz: 10}}\n"
                                          "trials:\n", 1), FAST_LAB)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc, seen = start_run(scenario, lab, tmp_path / "out", env=env, cwd=ROOT,
                           until="first #1")
    try:
        time.sleep(2)  # traffic under way
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.3)  # the run is stopping: cutting the trial, restoring the cell
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = seen + stderr
    assert proc.returncode == 130, text
    assert "Traceback" not in text
    # (whether "already stopping" shows depends on when the loop reads the later presses: a
    # press that lands while the report is drawn is read only after it — the run is done)
    run_dir, summary = load_run(stdout)
    assert summary["interrupted"] is True
    assert summary["restore_errors"] == []
    assert "bandwidth_mhz" in text and "20" in text  # the lab's 20 MHz put back
    assert [t["id"] for t in summary["trials"]] == ["first"]  # "second" never started
    assert summary["trials"][0]["error"].startswith("interrupted")
    assert (run_dir / "summary.json").is_file()


def test_later_presses_are_said_and_never_cancel_again() -> None:
    said: list[str] = []

    async def scenario() -> tuple[int, bool]:
        async def work() -> None:
            await asyncio.sleep(30)

        task = asyncio.create_task(work())
        await asyncio.sleep(0)
        interrupt = RunInterrupt(task, said.append)  # type: ignore[arg-type]
        assert not interrupt.requested
        interrupt.on_sigint()
        interrupt.on_sigint()
        interrupt.on_sigint()
        cancels = task.cancelling()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return cancels, interrupt.requested

    cancels, requested = asyncio.run(scenario())
    assert cancels == 1 and requested  # one cancellation, however many presses
    assert said[0].startswith("interrupted (Ctrl-C)") and len(said) == 3
    assert all(text.startswith("already stopping") for text in said[1:])
