"""An agent SIGKILLed mid-run and restarted with its executor id: the run resumes from its
last finished trial in the same run directory (not a second run), the run queued behind it on
the same bench waits for it; cancelling a running run interrupts it."""

from __future__ import annotations

import re
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.base.verdict import Verdict, exit_code
from tests.campaign_helpers import interval, make_campaign, stop, wait_for

FIRST = "throughput-dl-tcp"
SECOND = "throughput-dl-tcp-2"


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_killed_agent_resumes_its_run(tmp_path: Path) -> None:
    camp = make_campaign(tmp_path, duration="4s", trials=2)
    camp.submit("k1", "bench-a")
    camp.submit("k2", "bench-a")
    agent = camp.agent("ag1", "bench-a")
    log = camp.work("k1") / "agent.log"
    first_done = re.compile(rf"(?m)^\s+[A-Z]+ {re.escape(FIRST)} #1\b")
    try:
        wait_for(lambda: log.is_file() and first_done.search(log.read_text()), 120,
                  "the first trial's verdict")
    finally:
        stop(agent, signal.SIGKILL)
    # the child was interrupted with its agent (PR_SET_PDEATHSIG): a partial summary
    wait_for(lambda: camp.summaries("k1"), 60, "the interrupted run's summary")
    partial = camp.summaries("k1")[0]
    assert not partial["complete"]
    kept = {t["id"]: t for t in partial["trials"] if not t.get("interrupted")}
    assert FIRST in kept and SECOND not in kept, partial["trials"]
    rows = camp.rows()
    assert rows["k1"]["state"] == "running" and rows["k2"]["state"] == "queued"

    restarted = datetime.now(UTC)
    agent = camp.agent("ag1", "bench-a")
    try:
        waited = camp.harness("wait", "k1", "--timeout", "150")
        k2_log = camp.work("k2") / "agent.log"
        wait_for(lambda: k2_log.is_file() and "[1/2]" in k2_log.read_text(), 120,
                  "k2 measuring")
        assert camp.harness("cancel", "k2").returncode == 0
        cancelled = camp.harness("wait", "k2", "--timeout", "60")
        wait_for(lambda: camp.summaries("k2"), 60, "the cancelled run's summary")
    finally:
        stop(agent)
    dirs = camp.run_dirs("k1")
    assert len(dirs) == 1, dirs  # resumed in its run directory, never a second copy
    final = camp.summaries("k1")[0]
    assert final["complete"] and final["run_id"] == partial["run_id"]
    assert [s["resumed"] for s in final["sessions"]] == [False, True]
    trials = {t["id"]: t for t in final["trials"]}
    assert trials[FIRST]["started"] == kept[FIRST]["started"]  # kept, not measured again
    assert not trials[SECOND].get("interrupted")
    assert waited.returncode == exit_code(Verdict(final["verdict"])), waited.stderr
    assert cancelled.returncode == 4 and camp.rows()["k2"]["state"] == "cancelled"
    k2 = camp.summaries("k2")[0]
    assert k2["interrupted"] and not k2["complete"]  # stopped like Ctrl-C
    assert interval(final)[1] <= datetime.fromisoformat(k2["started"])  # k2 waited for k1
    resumed_traffic = datetime.fromisoformat(trials[SECOND]["started"]) - restarted
    print(f"agent restart to resumed traffic: {resumed_traffic.total_seconds():.1f} s")
