"""A trial whose kind raises something unexpected (KeyError, ValueError…) is ERROR with the
exception's text, its traceback goes to reports/<run-id>/run.log, and the run goes on to its
summary. Fails on the old code: only HarnessError was caught, the run ended with no summary."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.engine.runner import RUN_LOG
from harness.kinds import KindRegistry, KindRun, default_registry
from tests.conftest import require_tool
from tests.runner_helpers import inputs, run_in_process

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: robust
title: {vi: "Thử lỗi", en: "Robust trials"}
defaults: {duration: 2s, omit: 0s, min_samples: 1}
trials:
  - id: boom-{error}
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["throughput.max >= 1 Mbit/s"]
  - id: fine
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["throughput.max >= 1 Mbit/s"]
matrix: {error: [key, value]}
"""


def _registry_with_failing_throughput() -> KindRegistry:
    """The default kinds, with a throughput kind whose `boom-*` trials raise a bug-like error
    after measuring (a stand-in for a defect in a kind or plugin, which no server produces)."""
    base = default_registry()
    original = base.get("throughput")

    async def measure(run: KindRun) -> None:
        await original.measure(run)
        if run.trial.id == "boom-key":
            raise KeyError("no-such-field")
        if run.trial.id == "boom-value":
            raise ValueError("cannot convert 'abc'")

    kinds = [base.get(n) for n in base.names() if n != "throughput"]
    return KindRegistry([dataclasses.replace(original, measure=measure), *kinds])


def test_unexpected_exception_makes_that_trial_error_and_the_run_goes_on(
        tmp_path: Path) -> None:
    require_tool("iperf3")
    # the run's own kind registry (one registry from plan to trial: no process-global patch)
    run_inputs = dataclasses.replace(inputs(tmp_path, SCENARIO),
                                     kinds=_registry_with_failing_throughput())
    outcome, _ = run_in_process(run_inputs, tmp_path / "out")
    summary = json.loads((outcome.run_dir / "summary.json").read_text(encoding="utf-8"))
    by_id = {t["id"]: t for t in summary["trials"]}
    assert set(by_id) == {"boom-key", "boom-value", "fine"}
    for trial_id, name, text in (("boom-key", "KeyError", "no-such-field"),
                                 ("boom-value", "ValueError", "cannot convert 'abc'")):
        entry = by_id[trial_id]
        assert entry["verdict"] == "ERROR", entry
        assert name in entry["error"] and text in entry["error"], entry["error"]
        # what the kind measured before raising is kept
        assert entry["metrics"]["throughput.mean"]["value"] > 0
    assert by_id["fine"]["verdict"] == "PASS", by_id["fine"]
    assert summary["verdict"] == "ERROR"
    log = (outcome.run_dir / RUN_LOG).read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log
    assert "KeyError: 'no-such-field'" in log and "ValueError: cannot convert 'abc'" in log
    assert "trial boom-key r1" in log and "trial fine" not in log
