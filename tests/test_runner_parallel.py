"""Parallel trials on disjoint devices: they overlap in time, results keep the plan's order."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from harness.base.events import TrialFinished
from harness.engine.runner import trial_devices
from tests.conftest import require_tool
from tests.runner_helpers import inputs, run_in_process

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: parallel
title: {vi: "Song song", en: "Parallel"}
parallel: true
defaults: {duration: 2s, min_samples: 1}
trials:
  - id: a-via-gnb
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["throughput.max >= 1 Mbit/s"]
  - id: b-direct
    kind: throughput
    ue: ue2
    dn: dn2
    criteria: ["throughput.max >= 1 Mbit/s"]
  - id: c-shares-dn1
    kind: throughput
    ue: ue2
    dn: dn1
    criteria: ["throughput.max >= 1 Mbit/s"]
"""


def _t(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_disjoint_trials_run_together_in_plan_order(tmp_path: Path) -> None:
    require_tool("iperf3")
    run_inputs = inputs(tmp_path, SCENARIO)
    a, b, _ = run_inputs.trials
    assert trial_devices(a) == {"ue1", "dn1", "gnb1"} and trial_devices(b) == {"ue2", "dn2"}
    outcome, events = run_in_process(run_inputs, tmp_path / "out")
    trials = outcome.summary["trials"]
    assert [t["id"] for t in trials] == ["a-via-gnb", "b-direct", "c-shares-dn1"]
    assert all(t["verdict"] == "PASS" for t in trials), trials
    ta, tb, tc = ((_t(t["started"]), _t(t["finished"])) for t in trials)
    assert ta[0] < tb[1] and tb[0] < ta[1], "a and b share no device: they overlap"
    assert tc[0] >= min(ta[1], tb[1]) - 0.05, "c shares dn1 with a and ue2 with b: it waits"
    assert len([e for e in events if isinstance(e, TrialFinished)]) == 3


def test_trial_devices_reads_monitors_too(tmp_path: Path) -> None:
    text = SCENARIO.replace("    dn: dn2\n",
                            "    dn: dn2\n    monitor: {core1: [GTP.InDataOctN3UPF]}\n")
    b = inputs(tmp_path, text).trials[1]
    assert trial_devices(b) == {"ue2", "dn2", "core1"}
