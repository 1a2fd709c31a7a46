"""`--resume`: an interrupted run carries on in its directory without repeating trials."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pytest

from harness.base.errors import ConfigError
from harness.base.events import Event, TrialStarted
from harness.base.summary import SUMMARY_FORMAT_VERSION
from harness.engine.resume import SET_ASIDE, load_resume
from harness.engine.runner import Runner
from tests.campaign_helpers import of_trial, samples
from tests.conftest import require_tool
from tests.runner_helpers import inputs, run_in_process
from tests.test_e2e_smoke import run_harness

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: resumable
title: {vi: "Tiếp tục", en: "Resumable"}
defaults: {duration: 2s, min_samples: 1}
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


def test_interrupted_run_resumes_without_repeating_finished_trials(tmp_path: Path) -> None:
    require_tool("iperf3")
    run_inputs = inputs(tmp_path, SCENARIO)

    def ctrl_c_in_second(runner: Runner, event: Event) -> None:
        if isinstance(event, TrialStarted) and event.trial_id == "second":
            main = asyncio.current_task()
            loop = asyncio.get_running_loop()
            if main is not None:  # what asyncio.run does on KeyboardInterrupt
                loop.call_later(1.0, main.cancel)

    first_run, _ = run_in_process(run_inputs, tmp_path / "out", on_event=ctrl_c_in_second)
    summary = first_run.summary
    assert first_run.interrupted and summary["complete"] is False
    assert [t["id"] for t in summary["trials"]] == ["first", "second"]
    assert summary["trials"][0]["verdict"] == "PASS"
    assert summary["trials"][1]["interrupted"] is True
    run_dir = first_run.run_dir
    at_stop = samples(run_dir)
    assert of_trial(at_stop, "second"), "the interrupted attempt stored samples"

    # Resumed through the CLI (files taken from summary.json), progress as JSON Lines.
    proc = run_harness("run", "--resume", str(run_dir), "--progress", "json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(run_dir)
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert lines and all(x["schema"] == "ran-harness/progress" and x["version"] == 1
                         for x in lines)
    types = [x["type"] for x in lines]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    started = [x["trial"] for x in lines if x["type"] == "trial_started"]
    assert started == ["second"], "the finished trial is not run again"
    assert any(x["type"] == "samples" and "throughput_mbps" in x for x in lines)
    final = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert final["run_id"] == summary["run_id"] and final["complete"] is True
    assert [t["verdict"] for t in final["trials"]] == ["PASS", "PASS"]
    assert final["trials"][0] == summary["trials"][0]
    assert final["verdict"] == "PASS" and len(final["sessions"]) == 2
    # samples.sqlite: "first" as it was, "second" only from its resumed attempt; the
    # interrupted attempt's samples set aside, all of them, not mixed in (failed before)
    stored = samples(run_dir)
    assert of_trial(stored, "first") == of_trial(at_stop, "first")
    again = datetime.fromisoformat(final["sessions"][1]["started"]).timestamp() * 1e9
    assert of_trial(stored, "second") and min(k[2] for k in of_trial(stored, "second")) >= again
    assert samples(run_dir, SET_ASIDE) == of_trial(at_stop, "second")
    assert any(f"moved to {SET_ASIDE}" in x.get("text", "") for x in lines), lines
    with pytest.raises(ConfigError, match="finished every trial"):
        load_resume(run_dir, run_inputs.scenario_path, run_inputs.lab_path,
                    SUMMARY_FORMAT_VERSION)


def test_resume_refuses_other_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    scenario, lab = tmp_path / "s.yaml", tmp_path / "l.yaml"
    scenario.write_text("name: x\n", encoding="utf-8")
    lab.write_text("name: y\n", encoding="utf-8")
    import hashlib

    def sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    (tmp_path / "run" / "summary.json").write_text(json.dumps({
        "format_version": 1, "run_id": "r", "trials": [], "interrupted": True,
        "scenario": {"sha256": sha(scenario), "file": str(scenario)},
        "lab": {"sha256": sha(lab), "file": str(lab)}}), encoding="utf-8")
    state = load_resume(tmp_path / "run", scenario, lab, SUMMARY_FORMAT_VERSION)
    assert state.run_id == "r" and state.done == {}
    scenario.write_text("name: x  # edited\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not the scenario file this run started with"):
        load_resume(tmp_path / "run", scenario, lab, SUMMARY_FORMAT_VERSION)
    with pytest.raises(ConfigError, match=r"no summary\.json"):
        load_resume(tmp_path, scenario, lab, SUMMARY_FORMAT_VERSION)
