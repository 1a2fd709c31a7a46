"""The archive hand-off: an agent with `--archive` copies a run directory into the archive only
when it verifies against its bench's registered key, atomically; `harness campaign report`
counts what was archived; a tampered directory, or one signed by a key not registered for its
bench, is refused and the queue entry says why; a copy under way never counts as a run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.campaign.archive import INCOMING, archive_run
from tests.campaign_helpers import make_campaign, stop
from tests.test_campaign_submit import write_campaign


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_verified_run_archived_and_reported_tampered_refused(tmp_path: Path) -> None:
    camp = make_campaign(tmp_path)
    path = write_campaign(camp, "  - {scenario: SCEN, bench: bench-a}\n"
                                "  - {scenario: SCEN, bench: bench-b}\n")
    archive = camp.dir / "archive"
    # bench-a's key from the campaign file; bench-b registered with bench-a's key, which did
    # not sign bench-b's runs: refused
    argv = [sys.executable, "-m", "harness", "agent", "--executor-id", "ag1", "--out",
            str(camp.out), "--db", camp.db, "--no-pdf", "--archive", str(archive),
            "--campaign", str(path), "--key", f"bench-b={camp.dir / 'keys' / 'bench-a.pub'}",
            "--lab", str(camp.labs["bench-a"]), "--lab", str(camp.labs["bench-b"])]
    with open(camp.dir / "agent-ag1.log", "ab") as log:
        agent = subprocess.Popen(argv, stdout=log, stderr=log, cwd=camp.dir)
    try:
        done = camp.harness("campaign", str(path), "--timeout", "200", timeout=240)
    finally:
        stop(agent)
    assert done.returncode == 3, done.stderr  # 1 s runs: INCONCLUSIVE
    rows = camp.rows()
    row_a, row_b = rows["trial.smoke.bench-a.r1"], rows["trial.smoke.bench-b.r1"]
    run_a = Path(row_a["run_dir"])
    assert row_a["archive"] == {"archived": str(archive / "bench-a" / run_a.name)}
    assert "bad signature" in row_b["archive"]["refused"], row_b
    assert "not archived: verification against bench-b's registered key failed" in \
        done.stderr
    assert "not archived" in (camp.work("trial.smoke.bench-b.r1") / "agent.log").read_text()
    assert sorted(p.name for p in archive.iterdir()) == [".incoming", "bench-a"]
    assert not any((archive / INCOMING).iterdir())  # nothing left half-copied

    # a copy under way (a crash mid-copy) is never read as a run
    shutil.copytree(run_a, archive / INCOMING / f"{run_a.name}.999.dead")
    (archive / INCOMING / f"{run_a.name}.999.dead" / "samples.sqlite").unlink(missing_ok=True)
    report = subprocess.run([sys.executable, "-m", "harness", "campaign", "report", str(path),
                             "--out", str(camp.dir / "rep")], capture_output=True, text=True,
                            timeout=180, cwd=camp.dir)
    assert report.returncode == 3, report.stderr  # bench-b's run missing
    tally = json.loads((camp.dir / "rep" / "campaign.json").read_text())
    assert [(r["planned_id"], r["bench"]) for r in tally["runs"]] == \
        [("trial.smoke.bench-a.r1", "bench-a")]
    assert [m["planned_id"] for m in tally["missing"]] == ["trial.smoke.bench-b.r1"]
    assert tally["excluded"] == []

    # a tampered run directory is refused and nothing of it reaches the archive
    keys = {"bench-a": camp.dir / "keys" / "bench-a.pub"}
    tampered = camp.dir / "tampered" / run_a.name
    shutil.copytree(run_a, tampered, symlinks=True)
    summary = json.loads((tampered / "summary.json").read_text())
    summary["verdict"] = "PASS"
    (tampered / "summary.json").write_text(json.dumps(summary))
    other = camp.dir / "other-archive"
    refused = archive_run(tampered, "bench-a", other, keys)
    assert "changed: summary.json" in refused["refused"], refused
    assert not (other / "bench-a").exists()
    added = camp.dir / "added" / run_a.name
    shutil.copytree(run_a, added, symlinks=True)
    (added / "extra.csv").write_text("1,2\n")
    assert "added: extra.csv" in archive_run(added, "bench-a", other, keys)["refused"]
    # the genuine one again: already there, not copied twice
    again = archive_run(run_a, "bench-a", archive, keys)
    assert again == {"archived": str(archive / "bench-a" / run_a.name), "already": True}


def test_an_archive_that_cannot_be_written_refuses_instead_of_failing(tmp_path: Path) -> None:
    # no run directory needed to reach the copy: a folder that verifies is made by signing one
    from harness.store.manifest import write_manifest
    from harness.store.signing import key_dir, lab_signer

    run_dir = tmp_path / "runs" / "20260101T000000Z-smoke-0000"
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps({"lab": {"name": "bench-a"}}))
    write_manifest(run_dir, run_dir.name, lab_signer("bench-a", None))
    keys = {"bench-a": key_dir() / "bench-a.pub"}
    blocked = tmp_path / "archive-is-a-file"
    blocked.write_text("")
    refused = archive_run(run_dir, "bench-a", blocked, keys)
    assert "copy into" in refused["refused"], refused
    done = archive_run(run_dir, "bench-a", tmp_path / "archive", keys)
    assert done == {"archived": str(tmp_path / "archive" / "bench-a" / run_dir.name)}
    assert [p.name for p in (tmp_path / "archive" / INCOMING).iterdir()] == []
