"""The campaign queue on the SQLite default, end to end: one agent, two simulated benches,
tiny runs; every run once, never two at a time on a bench, benches in parallel; resubmitting
is a no-op; `wait` exits with the run's code; a cancelled queued run never starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.base.verdict import Verdict, exit_code
from tests.campaign_helpers import interval, make_campaign, stop


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_two_benches_one_agent(tmp_path: Path) -> None:
    camp = make_campaign(tmp_path)
    runs = {"a1": "bench-a", "a2": "bench-a", "b1": "bench-b"}
    for run_id, bench in runs.items():
        assert camp.submit(run_id, bench) == run_id
    assert camp.submit("c1", "bench-a") == "c1"
    cancelled = camp.harness("cancel", "c1")
    assert cancelled.returncode == 0, cancelled.stderr
    # the same id again: a no-op that prints the same id
    again = camp.harness("submit", str(camp.scenario), "--bench", "bench-a", "--id", "a1")
    assert again.returncode == 0 and again.stdout.strip() == "a1"
    assert "already submitted" in again.stderr
    rows = camp.rows()
    assert sorted(rows) == ["a1", "a2", "b1", "c1"]
    assert {rows[r]["state"] for r in runs} == {"queued"}
    assert rows["c1"]["state"] == "cancelled"

    agent = camp.agent("ag1", "bench-a", "bench-b")
    try:
        for run_id in runs:
            waited = camp.harness("wait", run_id, "--timeout", "150")
            summaries = camp.summaries(run_id)
            assert len(summaries) == 1, (run_id, waited.stderr)  # exactly once
            summary = summaries[0]
            assert summary["complete"] and len(summary["sessions"]) == 1
            assert summary["lab"]["name"] == runs[run_id]
            assert waited.returncode == exit_code(Verdict(summary["verdict"]))
            assert waited.stdout.strip() == str(camp.run_dirs(run_id)[0])
        cancelled_wait = camp.harness("wait", "c1", "--timeout", "5")
        assert cancelled_wait.returncode == 4
    finally:
        stop(agent)
    rows = camp.rows()
    for run_id in runs:
        assert rows[run_id]["state"] == "done" and rows[run_id]["agent"] == "ag1"
        assert rows[run_id]["verdict"] == camp.summaries(run_id)[0]["verdict"]
    assert rows["c1"]["state"] == "cancelled" and not camp.work("c1").exists()
    spans = {r: interval(camp.summaries(r)[0]) for r in runs}
    (_, f1), (s2, _) = sorted([spans["a1"], spans["a2"]])  # the bench lease: one at a time
    assert f1 <= s2, "a1 and a2 overlapped on bench-a"
    a_span = (min(spans["a1"][0], spans["a2"][0]), max(spans["a1"][1], spans["a2"][1]))
    b_span = spans["b1"]
    assert a_span[0] < b_span[1] and b_span[0] < a_span[1], "benches did not run in parallel"
