"""`harness campaign CAMPAIGN.yaml`, end to end on the SQLite default: every planned run
submitted with its stable id, a second submission queues nothing, the exit code follows the
runs (0 for dry-run passes, 124 at --timeout, a real run's 3)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from harness.store.signing import key_dir, lab_signer
from tests.campaign_helpers import Campaign, make_campaign, stop


def write_campaign(camp: Campaign, entries: str, name: str = "trial",
                   scenario: Path | None = None, filename: str = "campaign.yaml") -> Path:
    """A campaign file beside the test's labs: `entries` are the lines under `runs:`; the
    scenario file is `scenario` (default the tiny smoke) and every bench's generated lab key
    is registered in `keys:`."""
    keys = camp.dir / "keys"
    keys.mkdir(exist_ok=True)
    for bench in camp.labs:
        lab_signer(bench, None)  # generated once, in the tests' key directory
        shutil.copy(key_dir() / f"{bench}.pub", keys / f"{bench}.pub")
    path = camp.dir / filename
    scen = (scenario or camp.scenario).name
    path.write_text(
        f"name: {name}\ntitle: {{vi: Thử, en: Trial}}\narchive: archive/\nruns:\n"
        + entries.replace("SCEN", scen)
        + "keys: {" + ", ".join(f"{b}: keys/{b}.pub" for b in camp.labs) + "}\n",
        encoding="utf-8")
    return path


def wait_registered(camp: Campaign, executor_id: str, timeout_s: float = 60) -> None:
    """Until the agent says it serves its benches (it has registered their site tags)."""
    log = camp.dir / f"agent-{executor_id}.log"
    deadline = time.monotonic() + timeout_s
    while "serving" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        time.sleep(0.3)


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_campaign_submits_once_and_waits(tmp_path: Path) -> None:
    camp = make_campaign(tmp_path)
    only_a = write_campaign(camp, "  - {scenario: SCEN, bench: bench-a, repetitions: 2}\n",
                            filename="only-a.yaml")
    full = write_campaign(camp, "  - {scenario: SCEN, bench: bench-a, repetitions: 2}\n"
                                "  - {scenario: SCEN, tags: {city: danang}}\n")
    ids_a = ["trial.smoke.bench-a.r1", "trial.smoke.bench-a.r2"]
    ids = [*ids_a, "trial.smoke.city=danang.r1"]

    # no agent yet: queued, then --timeout gives 124 (the runs stay queued)
    early = camp.harness("campaign", str(only_a), "--timeout", "1s")
    assert early.returncode == 124, early.stderr
    assert early.stdout.split() == ids_a
    assert "2 run(s) queued, 0 already submitted" in early.stderr

    agent = camp.agent("ag1", "bench-a", "bench-b", dry_run=True)
    try:
        wait_registered(camp, "ag1")
        first = camp.harness("campaign", str(full), "--timeout", "150")
        assert first.returncode == 0, first.stderr
        assert first.stdout.split() == ids
        assert "1 run(s) queued, 2 already submitted" in first.stderr
        again = camp.harness("campaign", str(full), "--timeout", "60")
        assert again.returncode == 0, again.stderr
        assert again.stdout.split() == ids
        assert "0 run(s) queued, 3 already submitted" in again.stderr
    finally:
        stop(agent)
    rows = camp.rows()
    assert sorted(rows) == sorted(ids)  # nothing queued twice
    assert {r["state"] for r in rows.values()} == {"done"}
    assert rows["trial.smoke.city=danang.r1"]["bench"] == "bench-b"
    for run_id in ids:  # each taken once: one child started per queued run
        log = (camp.work(run_id) / "agent.log").read_text()
        assert log.count("\n--- ") + log.startswith("--- ") == 1, log


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_campaign_exit_code_follows_a_real_run(tmp_path: Path) -> None:
    # one second of traffic: one sample, fewer than min_samples, so the run is INCONCLUSIVE
    # (exit 3) and so is the campaign; a FAIL needs ten samples (a 10 s trial) in this lab
    camp = make_campaign(tmp_path)
    path = write_campaign(camp, "  - {scenario: SCEN, bench: bench-a}\n")
    agent = camp.agent("ag1", "bench-a")
    try:
        done = camp.harness("campaign", str(path), "--timeout", "200", timeout=240)
    finally:
        stop(agent)
    row = camp.rows()["trial.smoke.bench-a.r1"]
    assert row["state"] == "done" and row["verdict"] == "INCONCLUSIVE", row
    assert done.returncode == row["exit_code"] == 3, done.stderr
    assert done.stdout.split() == ["trial.smoke.bench-a.r1"]
    summary = json.loads((Path(row["run_dir"]) / "summary.json").read_text())
    assert summary["verdict"] == "INCONCLUSIVE" and summary["lab"]["name"] == "bench-a"


def test_campaign_exit_is_the_worst_run() -> None:
    from harness.campaign.submit_all import campaign_exit

    def done(code: int | None, state: str = "done") -> dict[str, object]:
        return {"state": state, "exit_code": code}

    assert campaign_exit([done(0), done(0)]) == 0
    assert campaign_exit([done(0), done(3), done(1)]) == 1
    assert campaign_exit([done(0), done(2, "failed"), done(3)]) == 2
    assert campaign_exit([done(0), done(None, "cancelled")]) == 3
    assert campaign_exit([done(0), done(None, "failed")]) == 3
    assert campaign_exit([done(0), done(130, "failed")]) == 3
    assert campaign_exit([]) == 3
