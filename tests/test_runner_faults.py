"""Runner on the simulated lab: a device failing mid-trial, retries, alarms in criteria."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from harness.base.events import Event, TrialFinished, TrialStarted
from harness.engine.runner import Runner, RunOptions
from tests.conftest import require_tool
from tests.runner_helpers import inputs, later, run_in_process

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: faults
title: {vi: "Lỗi thiết bị", en: "Device faults"}
defaults: {duration: 2s, kpi_interval: 0.5s}
monitors: {alarms: {interval: 0.5s}, health: {interval: 0.5s}}
trials:
  - id: silent
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    monitor: {gnb1: [DRB.UEThpDl]}
    criteria: ["throughput.mean >= 1 Mbit/s"]
  - id: alarmed
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["throughput.mean >= 1 Mbit/s", "alarms.critical == 0"]
"""


def test_silent_gnb_mid_trial_is_error_with_cause_retried_and_run_goes_on(
        tmp_path: Path) -> None:
    require_tool("iperf3")
    tasks: list[asyncio.Task[None]] = []

    def on_event(runner: Runner, event: Event) -> None:
        sim = runner.bench.sim if runner.bench is not None else None
        if sim is None:
            return
        if isinstance(event, TrialStarted) and event.trial_id == "silent" and event.attempt == 1:
            tasks.append(later(0.8, lambda: sim.fault("gnb1", "snmp-silent")))
        elif isinstance(event, TrialFinished) and event.trial_id == "silent":
            tasks.append(later(0, lambda: sim.clear("gnb1")))
        elif isinstance(event, TrialStarted) and event.trial_id == "alarmed":
            tasks.append(later(0.5, lambda: sim.fault("gnb1", "alarm", severity="critical",
                                                      text="test alarm")))

    outcome, events = run_in_process(inputs(tmp_path, SCENARIO), tmp_path / "out",
                                     options=RunOptions(retries=1), on_event=on_event)
    summary = outcome.summary
    silent, alarmed = summary["trials"]
    # The silent gNodeB: ERROR with the cause, tried twice (the fault lasts both attempts).
    assert silent["verdict"] == "ERROR", silent
    assert silent["attempts"] == 2
    # Attempt 1: the KPI poller lost the device mid-trial; attempt 2: already silent when the
    # trial read the cell's conditions at its start.
    assert len(silent["previous_errors"]) == 1
    assert "KPI polling of gnb1 stopped" in silent["previous_errors"][0], silent
    assert "gnb1" in silent["error"] and "no SNMP response" in silent["error"], silent["error"]
    assert [e.attempt for e in events if isinstance(e, TrialStarted)
            and e.trial_id == "silent"] == [1, 2]
    # Samples taken before and while the device was silent are kept, for both attempts.
    db = sqlite3.connect(outcome.run_dir / "samples.sqlite")
    rows = dict(db.execute(
        "SELECT s.measurement, COUNT(*) FROM samples s GROUP BY s.measurement").fetchall())
    assert rows.get("throughput", 0) >= 4 and rows.get("kpi", 0) >= 2, rows
    # The run went on: the next trial ran, saw the critical alarm, and its criterion failed.
    assert alarmed["verdict"] == "FAIL", alarmed
    assert alarmed["metrics"]["alarms.critical"]["value"] >= 1
    failed = [c for c in alarmed["criteria"] if c["verdict"] == "FAIL"]
    assert [c["expr"] for c in failed] == ["alarms.critical == 0"]
    assert rows.get("alarm", 0) >= 1 and rows.get("health", 0) >= 2, rows
    # The alarm was there after the run, not before: the snapshot says so.
    before = summary["snapshot"]["before"]["gnb1"]["alarms"]
    after = summary["snapshot"]["after"]["gnb1"]["alarms"]
    assert not any(a["severity"] == "critical" for a in before)
    assert any(a["severity"] == "critical" for a in after), after
    assert summary["verdict"] == "FAIL" and summary["complete"] is True
