"""The campaign queue on a real PostgreSQL (started by the test): two agents that both serve
bench-a never run two runs on it at once (the lease is the database's), every run once, the
other bench in parallel; the password goes by reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.base.verdict import Verdict, exit_code
from tests.campaign_helpers import interval, make_campaign, postgres_server, stop


@pytest.mark.e2e
@pytest.mark.timeout(360)
def test_two_agents_share_a_bench_on_postgres(tmp_path: Path) -> None:
    with postgres_server() as url:
        camp = make_campaign(tmp_path)
        camp.db = url
        runs = {"a1": "bench-a", "a2": "bench-a", "b1": "bench-b"}
        for run_id, bench in runs.items():
            assert camp.submit(run_id, bench) == run_id
        assert camp.submit("a1", "bench-a") == "a1"  # no-op
        agents = [camp.agent("ag1", "bench-a", "bench-b"), camp.agent("ag2", "bench-a")]
        try:
            codes = {r: camp.harness("wait", r, "--timeout", "200") for r in runs}
        finally:
            for agent in agents:
                stop(agent)
        rows = camp.rows()
    for run_id in runs:
        summaries = camp.summaries(run_id)
        assert len(summaries) == 1 and len(summaries[0]["sessions"]) == 1, run_id
        assert codes[run_id].returncode == exit_code(Verdict(summaries[0]["verdict"]))
        assert rows[run_id]["state"] == "done"
    assert rows["b1"]["agent"] == "ag1"
    spans = {r: interval(camp.summaries(r)[0]) for r in runs}
    (_, f1), (s2, _) = sorted([spans["a1"], spans["a2"]])
    assert f1 <= s2, "two agents ran a1 and a2 on bench-a at once"
    first_a = min(spans["a1"][0], spans["a2"][0])
    assert first_a < spans["b1"][1] and spans["b1"][0] < max(spans["a1"][1], spans["a2"][1])
