"""An agent that loses its PostgreSQL mid-run: the run goes on (one session, not interrupted,
not resumed), the agent says when the database is lost and when it is back, DBOS reconnects
and records the run's end once."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from harness.base.verdict import Verdict, exit_code
from tests.campaign_helpers import _require, make_campaign, postgres_server, stop, wait_for


def _data_dir(port: int) -> Path:
    """The throw-away cluster of postgres_server() listening on `port` (its postmaster.pid
    names the port on line 4)."""
    for pid_file in Path(tempfile.gettempdir()).glob("ran-harness-pg-*/db/postmaster.pid"):
        lines = pid_file.read_text().splitlines()
        if len(lines) > 3 and lines[3].strip() == str(port):
            return pid_file.parent
    raise AssertionError(f"no postgres_server cluster on port {port}")


def _stop_pg(data: Path) -> None:
    pid_file = data / "postmaster.pid"
    os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)  # fast shutdown
    deadline = time.monotonic() + 30
    while pid_file.exists():
        assert time.monotonic() < deadline, "postgres did not stop"
        time.sleep(0.1)


def _start_pg(data: Path, port: int) -> subprocess.Popen[bytes]:
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.Popen([*as_user, _require("postgres"), "-D", str(data), "-p", str(port),
                             "-k", str(data.parent), "-c", "listen_addresses=127.0.0.1",
                             "-c", "max_connections=100"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.e2e
@pytest.mark.timeout(360)
def test_agent_keeps_its_run_while_postgres_is_down(tmp_path: Path) -> None:
    camp = make_campaign(tmp_path, duration="8s")
    restarted: subprocess.Popen[bytes] | None = None
    with postgres_server() as url:
        camp.db = url
        port = urlparse(url.replace("${env:CAMPAIGN_TEST_PG_PASSWORD}", "x")).port
        assert port is not None
        data = _data_dir(port)
        camp.submit("lost1", "bench-a")
        agent = camp.agent("ag1", "bench-a")
        run_log = camp.work("lost1") / "agent.log"
        agent_log = camp.dir / "agent-ag1.log"
        try:
            wait_for(lambda: run_log.is_file() and "[1/1]" in run_log.read_text(), 120,
                      "the trial's start")
            _stop_pg(data)
            wait_for(lambda: "cannot reach the campaign database" in agent_log.read_text(),
                      30, "the agent saying the database is lost")
            # the run goes on without the database: its summary is written meanwhile
            wait_for(lambda: camp.summaries("lost1"), 90, "the run's end, database down")
            assert agent.poll() is None
            restarted = _start_pg(data, port)
            wait_for(lambda: "reachable again" in agent_log.read_text(), 60,
                      "the agent saying the database is back")
            waited = camp.harness("wait", "lost1", "--timeout", "120")
        finally:
            stop(agent)
        rows = camp.rows()
    if restarted is not None:
        restarted.wait(30)
    summaries = camp.summaries("lost1")
    assert len(summaries) == 1 and len(summaries[0]["sessions"]) == 1, summaries
    assert summaries[0]["complete"]
    assert not any(t.get("interrupted") for t in summaries[0]["trials"])
    assert waited.returncode == exit_code(Verdict(summaries[0]["verdict"])), waited.stderr
    assert rows["lost1"]["state"] == "done", rows["lost1"]
    assert rows["lost1"]["verdict"] == summaries[0]["verdict"]
    assert run_log.read_text().count("--- ") == 1  # one child: not restarted
