"""Issue 15's durability scenario, on the SQLite default and on a real PostgreSQL: two agents
that both serve both simulated benches, six runs of two short trials (three per bench); one
agent SIGKILLed while its run is between its first trial's verdict and its second trial's end,
then started again with the same executor id.

Asserted: no two runs overlapped on a bench (the killed run keeps its bench while its agent is
dead: a run queued behind it waits); every run finished exactly once, in one run directory;
the interrupted run resumed (a second session, its first trial kept as it was, not measured
again; one child process per session) rather than restarted; every sample is in its run's
samples.sqlite once, the kept trial's samples exactly those there right after the kill, and
the interrupted attempt's partial samples not counted with the resumed attempt's; and every
run's samples reached the centre's InfluxDB (a real VictoriaMetrics the agents push to)
exactly once. Also: a
resubmitted id is a no-op, a cancelled queued run never starts, a cancelled running run is
interrupted like Ctrl-C, `harness wait` exits with each run's code and prints its directory.
"""

from __future__ import annotations

import fcntl
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from harness.base.sample import Sample
from harness.base.verdict import Verdict, exit_code
from harness.campaign.db import resolve_url
from harness.campaign.sqlite_claims import claim_lock_path
from harness.engine.resume import SET_ASIDE
from tests.campaign_helpers import (
    Campaign,
    SampleKey,
    interval,
    lock_free,
    make_campaign,
    of_trial,
    postgres_server,
    samples,
    stop,
    wait_for,
)
from tests.test_campaign_push import centre_args, samples_of
from tests.victoria import VictoriaMetrics, assert_exactly_once, running_victoria

FIRST = "throughput-dl-tcp"
SECOND = "throughput-dl-tcp-2"
RUNS = {"a1": "bench-a", "b1": "bench-b", "a2": "bench-a", "b2": "bench-b",
        "a3": "bench-a", "b3": "bench-b"}
FIRST_DONE = re.compile(rf"(?m)^\s+[A-Z]+ {re.escape(FIRST)} #1\b")
CHILD_OF = re.compile(r"(?m)^--- .*? -m harness\.campaign\.child (\d+) ")


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """The centre's InfluxDB (a real VictoriaMetrics), where the agents push every run."""
    with running_victoria(tmp_path / "centre") as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def campaign(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Campaign]:
    """The two benches and a scenario of two 3 s trials, on either database."""
    camp = make_campaign(tmp_path, duration="3s", trials=2)
    if request.param == "postgresql":
        with postgres_server() as url:
            camp.db = url
            yield camp
    else:
        yield camp


def _agent_pid(log: Path) -> int | None:
    """The pid of the agent that started the run's latest child (its supervisor's argv)."""
    found = CHILD_OF.findall(log.read_text()) if log.is_file() else []
    return int(found[-1]) if found else None


def _first_trial_done(camp: Campaign) -> str | None:
    """A run whose first trial has its verdict and whose second trial has started."""
    for run_id in RUNS:
        log = camp.work(run_id) / "agent.log"
        text = log.read_text() if log.is_file() else ""
        if FIRST_DONE.search(text) and "[2/2]" in text and not camp.summaries(run_id):
            return run_id
    return None


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_agent_killed_mid_run_resumes_and_every_run_and_sample_is_there_once(
        campaign: Campaign, centre: VictoriaMetrics) -> None:
    camp, begun = campaign, time.monotonic()
    to_centre = centre_args(centre)
    backend = "postgresql" if camp.db.startswith("postgresql") else "sqlite"
    for run_id, bench in RUNS.items():
        assert camp.submit(run_id, bench) == run_id
    again = camp.harness("submit", str(camp.scenario), "--bench", "bench-a", "--id", "a1")
    assert again.returncode == 0 and again.stdout.strip() == "a1"  # a no-op
    assert "already submitted" in again.stderr
    assert camp.submit("c1", "bench-a") == "c1"
    assert camp.harness("cancel", "c1").returncode == 0  # queued: it never starts
    longer = camp.dir / "longer.yaml"  # x1: cancelled while it measures, however busy
    longer.write_text(camp.scenario.read_text().replace("duration: 3s", "duration: 20s"))
    camp.submit("x1", "bench-b", longer)  # after b3
    rows = camp.rows()
    assert {rows[r]["state"] for r in [*RUNS, "x1"]} == {"queued"}
    assert rows["c1"]["state"] == "cancelled"

    agents = {"ag1": camp.agent("ag1", "bench-a", "bench-b", args=to_centre),
              "ag2": camp.agent("ag2", "bench-a", "bench-b", args=to_centre)}
    try:
        victim: dict[str, str] = {}
        wait_for(lambda: victim.update(run_id=_first_trial_done(camp) or "") or victim["run_id"],
                 150, "a run's first trial verdict")
        run_id = victim["run_id"]
        pid = _agent_pid(camp.work(run_id) / "agent.log")
        killed = next(name for name, proc in agents.items() if proc.pid == pid)
        # every run that agent has under way (an agent serves each of its benches at once)
        hit = [r for r in RUNS if _agent_pid(camp.work(r) / "agent.log") == pid]
        stop(agents[killed], signal.SIGKILL)
        # each child heard of its agent's death once: a partial summary, then it exits
        wait_for(lambda: camp.summaries(run_id) and all(lock_free(camp.work(r)) for r in hit),
                 60, "the interrupted runs' partial summaries and their children's exit")
        partial = {r: camp.summaries(r)[0] for r in hit if camp.summaries(r)}
        at_kill = {r: samples(camp.run_dirs(r)[0]) for r in partial}
        first = partial[run_id]
        assert not first["complete"] and first["interrupted"], first
        kept = {t["id"]: t for t in first["trials"] if not t.get("interrupted")}
        assert FIRST in kept and SECOND not in kept, first["trials"]
        rows = camp.rows()
        assert rows[run_id]["state"] == "running" and rows[run_id]["agent"] == killed
        behind = [r for r, bench in RUNS.items() if bench == RUNS[run_id] and r != run_id]
        assert {rows[r]["state"] for r in behind} == {"queued"}  # the lease is still held

        restarted = datetime.now(UTC)
        agents[killed] = camp.agent(killed, "bench-a", "bench-b", args=to_centre)
        waited = {r: camp.harness("wait", r, "--timeout", "300") for r in RUNS}
        x1_log = camp.work("x1") / "agent.log"
        wait_for(lambda: x1_log.is_file() and "[1/2]" in x1_log.read_text(), 120,
                 "x1 measuring")
        assert camp.harness("cancel", "x1").returncode == 0
        x1_wait = camp.harness("wait", "x1", "--timeout", "60")
        wait_for(lambda: camp.summaries("x1"), 60, "the cancelled run's summary")
        c1_wait = camp.harness("wait", "c1", "--timeout", "5")
    finally:
        for agent in agents.values():
            stop(agent)
    rows = camp.rows()

    # every run finished exactly once, in one run directory, with its verdict and exit code
    run_dirs = [p for p in camp.out.iterdir() if (p / "summary.json").is_file()]
    assert len(run_dirs) == len(RUNS) + 1, run_dirs  # and x1's
    final: dict[str, dict[str, Any]] = {}
    for r, bench in RUNS.items():
        dirs = camp.run_dirs(r)
        assert len(dirs) == 1, (r, dirs)
        final[r] = summary = camp.summaries(r)[0]
        assert summary["complete"] and summary["lab"]["name"] == bench, (r, summary)
        assert rows[r]["state"] == "done" and rows[r]["verdict"] == summary["verdict"], rows[r]
        assert rows[r]["agent"] in agents
        assert waited[r].returncode == exit_code(Verdict(summary["verdict"])), waited[r].stderr
        assert waited[r].stdout.strip() == str(dirs[0])
        # one child process per session: started again only for the resumed run
        log = (camp.work(r) / "agent.log").read_text()
        restarted_fresh = r in hit and r not in partial  # killed before its run directory
        assert log.count("--- ") == len(summary["sessions"]) + restarted_fresh, (r, log)
        interrupted = r in partial and not partial[r]["complete"]
        assert len(summary["sessions"]) == (2 if interrupted else 1), (r, summary["sessions"])
    # (the resumed session may be ag2's: DBOS 3.4.0's recovery re-enqueues the killed agent's
    # runs on their queues, where either agent takes them; both write to one --out here)
    assert c1_wait.returncode == 4 and rows["c1"]["state"] == "cancelled"
    assert not camp.work("c1").exists()
    x1 = camp.summaries("x1")[0]
    assert x1_wait.returncode == 4 and rows["x1"]["state"] == "cancelled"
    assert x1["interrupted"] and not x1["complete"]  # stopped like Ctrl-C

    # the lease: per bench, no two runs overlapped — the killed run's whole span included,
    # its agent's dead time too — and the benches ran in parallel
    spans: dict[str, list[tuple[datetime, datetime, str]]] = {"bench-a": [], "bench-b": []}
    for r, bench in RUNS.items():
        spans[bench].append((*interval(final[r]), r))
    spans["bench-b"].append((*interval(x1), "x1"))
    for bench, found in spans.items():
        found.sort()
        for (_, end, before), (start, _, after) in pairwise(found):
            assert end <= start, f"{before} and {after} overlapped on {bench}"
    a_span = (spans["bench-a"][0][0], spans["bench-a"][-1][1])
    b_span = (spans["bench-b"][0][0], spans["bench-b"][-1][1])
    assert a_span[0] < b_span[1] and b_span[0] < a_span[1], "benches did not run in parallel"

    # the killed runs resumed in their run directories rather than restarted
    stored = {r: samples(camp.run_dirs(r)[0]) for r in RUNS}
    for r, before in partial.items():
        if before["complete"]:  # it had ended just as its agent was killed
            continue
        resumed = final[r]
        assert resumed["run_id"] == before["run_id"] and resumed["started"] == before["started"]
        assert [s["resumed"] for s in resumed["sessions"]] == [False, True]
        one, two = resumed["sessions"]
        assert one["finished"] <= two["started"]  # ISO 8601 UTC: ordered as text
        done_before = {t["id"]: t for t in before["trials"] if not t.get("interrupted")}
        again = datetime.fromisoformat(two["started"]).timestamp() * 1e9
        aside: Counter[SampleKey] = Counter()
        for trial in resumed["trials"]:
            if trial["id"] in done_before:  # kept from session 1, not measured again
                assert trial == done_before[trial["id"]], r
                assert of_trial(stored[r], trial["id"]) == of_trial(at_kill[r], trial["id"])
            else:  # measured in session 2 only; the interrupted attempt's samples set aside
                assert trial["started"] >= two["started"] and not trial.get("interrupted")
                late = of_trial(stored[r], trial["id"])
                assert late and min(k[2] for k in late) >= again, (r, trial["id"])
                aside += of_trial(at_kill[r], trial["id"])
        if aside:
            assert samples(camp.run_dirs(r)[0], SET_ASIDE) == aside, r
        # nothing else of session 1 lost: what was there at the kill is in one of the two
        assert not at_kill[r] - stored[r] - aside, r
    assert of_trial(at_kill[run_id], SECOND), "the kill landed after the second trial began"
    for r, found in stored.items():  # each sample once
        doubled = {k: n for k, n in found.items() if n > 1}
        assert not doubled, (r, doubled)
        assert of_trial(found, FIRST) and of_trial(found, SECOND), r

    # and every sample reached the centre's InfluxDB exactly once (the interrupted attempt's
    # set-aside samples not among them); the cancelled run's too
    pushed: list[Sample] = []
    for r in [*RUNS, "x1"]:
        run_samples = samples_of(camp.run_dirs(r)[0])
        assert rows[r]["influx"] == {"sent": len(run_samples), "pending": 0}, (r, rows[r])
        pushed += run_samples
    assert_exactly_once(centre, pushed)

    trials = {t["id"]: t for t in final[run_id]["trials"]}
    resumed_traffic = datetime.fromisoformat(trials[SECOND]["started"]) - restarted
    print(f"\n{backend}: agent restart to resumed traffic "
          f"{resumed_traffic.total_seconds():.1f} s; wall time {time.monotonic() - begun:.0f} s")


@pytest.mark.timeout(120)
def test_sqlite_agents_claim_one_at_a_time(tmp_path: Path) -> None:
    """On SQLite, DBOS's claim (count the bench's running runs, select, mark running) is made
    under a lock beside the database, so two agents never both see the bench free (two runs
    on one bench in 2 of 6 runs of the test above before): while another process holds it, an
    agent takes nothing; once it is released, the run starts. Fails on the old code (the run
    was taken regardless)."""
    camp = make_campaign(tmp_path)
    camp.submit("h1", "bench-a")
    path = claim_lock_path(resolve_url(camp.db))
    assert path is not None
    log = camp.dir / "agent-ag1.log"
    with open(path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        agent = camp.agent("ag1", "bench-a", dry_run=True)
        try:
            wait_for(lambda: log.is_file() and "serving bench-a" in log.read_text(), 60,
                     "the agent's start")
            time.sleep(3.0)  # six polls of the queue
            assert camp.rows()["h1"]["state"] == "queued" and not camp.work("h1").exists()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
        try:
            waited = camp.harness("wait", "h1", "--timeout", "60")
        finally:
            stop(agent)
    assert waited.returncode == 0, waited.stderr
    assert camp.rows()["h1"]["state"] == "done"
