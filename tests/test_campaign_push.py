"""The InfluxDB hand-off: an agent with --influx-url sends each run's samples to the centre's
InfluxDB (a real VictoriaMetrics speaking the v2 write API) through the run's spool: exactly
once, also for a run whose lab already wrote there; with the centre down the points stay
pending (queue entry and agent log say so), survive an agent restart, and arrive once when the
centre is back; the token is never shown."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.base.sample import Sample
from harness.store.sqlite import SqliteStore
from tests.campaign_helpers import Campaign, env_without, make_campaign, stop, wait_for
from tests.victoria import VictoriaMetrics, assert_exactly_once

ORG, BUCKET = "centre", "campaign"
TOKEN = "centre-token-6f1d9c"  # must never be printed
LAB_TOKEN = "lab-token-0a7e33"


def samples_of(run_dir: Path) -> list[Sample]:
    """Every sample of a run's samples.sqlite."""
    store = SqliteStore(run_dir / "samples.sqlite", read_only=True)
    try:
        return list(store.query())
    finally:
        store.close()


def centre_args(server: VictoriaMetrics, *more: str) -> tuple[str, ...]:
    return ("--influx-url", server.url, "--influx-org", ORG, "--influx-bucket", BUCKET, *more)


def wait_run(camp: Campaign, run_id: str) -> dict[str, Any]:
    done = camp.harness("wait", run_id, "--timeout", "150", timeout=180)
    assert done.returncode in (0, 3), done.stderr  # 1 s runs: PASS or INCONCLUSIVE
    return camp.rows()[run_id]


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_centre_up_every_sample_arrives_once_also_when_the_lab_sent_them(
        tmp_path: Path) -> None:
    server = VictoriaMetrics(tmp_path / "vm-data")
    server.start()
    camp = make_campaign(tmp_path)
    # bench-b's lab writes to the centre itself (its token from the lab): nothing left to push
    lab_b = camp.labs["bench-b"]
    lab_b.write_text(lab_b.read_text() + f"results:\n  influxdb:\n    url: {server.url}/\n"
                     f"    org: {ORG}\n    bucket: {BUCKET}\n"
                     "    token: ${env:LAB_INFLUX_TOKEN}\n", encoding="utf-8")
    env = {**env_without("INFLUX_TOKEN"), "LAB_INFLUX_TOKEN": LAB_TOKEN}
    agent = camp.agent("ag1", "bench-a", "bench-b", args=centre_args(server), env=env)
    try:
        camp.submit("run-a", "bench-a")
        camp.submit("run-b", "bench-b")
        row_a, row_b = wait_run(camp, "run-a"), wait_run(camp, "run-b")
        run_a, run_b = Path(row_a["run_dir"]), Path(row_b["run_dir"])
        samples_a, samples_b = samples_of(run_a), samples_of(run_b)
        assert samples_a and samples_b
        assert row_a["influx"] == {"sent": len(samples_a), "pending": 0}
        assert row_b["influx"] == {"sent": 0, "pending": 0}  # the run's own sink sent them
        assert_exactly_once(server, samples_a + samples_b)
        queue = camp.harness("queue")
        assert queue.returncode == 0 and "influx:" not in queue.stdout, queue.stdout
        # a second push of a sent run sends nothing
        again = subprocess.run([sys.executable, "-m", "harness", "push", str(run_a), "--out",
                                str(camp.out), *centre_args(server)], capture_output=True,
                               text=True, timeout=60, env=env)
        assert again.returncode == 0, again.stderr
        assert "sent 0 point(s)" in again.stdout
        assert_exactly_once(server, samples_a + samples_b)
    finally:
        stop(agent)
        server.stop()
    log = (camp.dir / "agent-ag1.log").read_text()
    assert f"influx: run run-a: sent {len(samples_a)} point(s)" in log
    assert LAB_TOKEN not in log


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_centre_down_points_wait_survive_a_restart_and_arrive_once(tmp_path: Path) -> None:
    server = VictoriaMetrics(tmp_path / "vm-data")  # its port is given; not started yet
    camp = make_campaign(tmp_path)
    env = {**env_without("INFLUX_TOKEN"), "CENTRE_TOKEN": TOKEN}
    args = centre_args(server, "--influx-token", "${env:CENTRE_TOKEN}", "--influx-retry", "1")
    agent = camp.agent("ag1", "bench-a", args=args, env=env)
    try:
        camp.submit("run-a", "bench-a")
        row = wait_run(camp, "run-a")  # the run's end is recorded with the centre down
        samples = samples_of(Path(row["run_dir"]))
        assert samples
        state = row["influx"]
        assert (state["sent"], state["pending"]) == (0, len(samples)), state
        assert "connection refused" in state["error"]
        queue = camp.harness("queue")
        assert f"(influx: {len(samples)} pending)" in queue.stdout, queue.stdout
        # stopped while pending: the restarted agent takes the run up again
        stop(agent)
        agent = camp.agent("ag1", "bench-a", args=args, env=env)
        wait_for(lambda: "serving bench-a" in
                 (camp.dir / "agent-ag1.log").read_text().split("stopping")[-1],
                 60, "the restarted agent")
        server.start()
        wait_for(lambda: camp.rows()["run-a"]["influx"]["pending"] == 0, 60,
                 "the points to reach the centre")
        assert camp.rows()["run-a"]["influx"] == {"sent": len(samples), "pending": 0}
        assert_exactly_once(server, samples)
        queued = camp.harness("queue", "--json")
    finally:
        stop(agent)
        server.stop()
    log = (camp.dir / "agent-ag1.log").read_text()
    run_log = (camp.work("run-a") / "agent.log").read_text()
    assert f"influx: run run-a: {len(samples)} point(s) pending for" in log
    assert f"influx: run run-a: sent {len(samples)} point(s)" in log
    assert f"{len(samples)} point(s) pending for" in run_log
    for text in (log, run_log, queued.stdout, queued.stderr, queue.stdout,
                 json.dumps(camp.rows())):
        assert TOKEN not in text


def test_agent_refuses_an_inline_token_and_influx_options_without_a_server(
        tmp_path: Path) -> None:
    from click.testing import CliRunner

    from harness.campaign.push import short_state
    from harness.cli.main import cli

    camp = make_campaign(tmp_path)
    base = ["agent", "--executor-id", "x", "--lab", str(camp.labs["bench-a"]), "--out",
            str(camp.out), "--db", camp.db]
    inline = CliRunner().invoke(cli, [*base, "--influx-url", "http://127.0.0.1:9",
                                      "--influx-org", ORG, "--influx-bucket", BUCKET,
                                      "--influx-token", TOKEN])
    assert inline.exit_code == 2
    assert "--influx-token: give it by reference" in inline.output
    assert TOKEN not in inline.output
    missing = CliRunner().invoke(cli, [*base, "--influx-url", "http://127.0.0.1:9",
                                       "--influx-token", "${env:NOT_SET_ANYWHERE_42}"])
    assert missing.exit_code == 2 and "--influx-token" in missing.output
    alone = CliRunner().invoke(cli, [*base, "--influx-bucket", BUCKET])
    assert alone.exit_code == 2 and "need --influx-url" in alone.output
    # what `harness queue` and `harness campaign` print beside a run
    assert short_state({"sent": 0, "pending": 25, "error": "refused"}) == "influx: 25 pending"
    assert short_state({"sent": 0, "pending": None, "error": "busy"}) == "influx: ? pending"
    assert short_state({"sent": 25, "pending": 0}) == ""
    assert short_state(None) == ""


def test_a_state_the_database_could_not_take_is_recorded_later_and_nothing_resent(
        tmp_path: Path) -> None:
    # the campaign database unreachable when the run's points are sent: a SQLite file in a
    # folder that does not exist yet (no fake: the driver really fails to open it)
    from harness.campaign.push import CentrePush, influx_states
    from harness.store.influx import InfluxTarget
    from harness.store.spool import Destination
    from tests.test_influx_sink import run_samples

    server = VictoriaMetrics(tmp_path / "vm-data")
    server.start()
    try:
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        samples = run_samples("run-x", 20)
        store = SqliteStore(run_dir / "samples.sqlite")
        store.write(samples)
        store.close()
        db_path = tmp_path / "later" / "campaign.sqlite"
        target = InfluxTarget(Destination(server.url, ORG, BUCKET), TOKEN)
        said: list[str] = []
        push = CentrePush({"b": target}, f"sqlite:///{db_path}", "ex", said.append,
                          retry_s=0.2)
        state = push.after_run("run-x", "b", run_dir)
        assert state == {"sent": len(samples), "pending": 0}
        assert_exactly_once(server, samples)
        push.start()  # its retries cannot record either, for a while
        try:
            time.sleep(1.0)
            db_path.parent.mkdir()  # the database is back
            wait_for(lambda: influx_states(f"sqlite:///{db_path}").get("run-x"), 10,
                     "the state recorded")
        finally:
            push.stop()
        assert influx_states(f"sqlite:///{db_path}")["run-x"] == \
            {"sent": len(samples), "pending": 0}
        assert_exactly_once(server, samples)
        assert said == [f"influx: run run-x: sent {len(samples)} point(s) to "
                        f"{target.dest}; 0 pending"]
    finally:
        server.stop()
