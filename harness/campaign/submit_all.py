"""`harness campaign CAMPAIGN.yaml`: every planned run of a campaign through the queue, then
waiting for all of them.

Each (entry, repetition) is submitted with its stable id (`CampaignRun.run_id`, spec.py) on
the entry's bench, or for an entry with `tags:` on the registered bench that `--tag` would
pick (queue.bench_for_tags). A run id already in the queue keeps the bench it was given and is
not queued again, so the command can be repeated (after a crash, or to wait again) without a
single duplicate run. The campaign's exit code is the worst of its runs' (see `campaign_exit`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from dbos import DBOSClient

from harness.base.errors import ConfigError
from harness.campaign.bench_run import BenchJob
from harness.campaign.queue import POLL_S, bench_for_tags, run_rows, submit
from harness.campaign.spec import LoadedCampaign

__all__ = ["Submitted", "campaign_exit", "submit_campaign", "wait_all"]

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_NO_VERDICT = 0, 1, 2, 3
ENDED = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Submitted:
    """One planned run in the queue: its id, its bench, whether this call queued it."""

    run_id: str
    bench: str
    new: bool


def _scenario_name(text: str, where: str) -> str:
    import yaml

    data = yaml.safe_load(text)
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: a scenario has a `name:`")
    return name


def submit_campaign(db: DBOSClient, db_url: str | None,
                    loaded: LoadedCampaign) -> list[Submitted]:
    """Queue every planned run not yet in the queue; all of them, in the campaign's order.
    ConfigError when an id is taken by a different run (another scenario text or bench) or
    no registered bench has an entry's tags."""
    texts = [p.read_text(encoding="utf-8") for p in loaded.scenarios]
    names = [_scenario_name(t, str(p)) for t, p in zip(texts, loaded.scenarios, strict=True)]
    planned = loaded.planned()
    earlier = {row["id"]: row for row in run_rows(db, [p.run_id for p in planned])}
    out = []
    for run in planned:
        entry = loaded.spec.runs[run.entry]
        bench = entry.bench
        if bench is None:  # a resubmitted id keeps the bench it was given
            row = earlier.get(run.run_id)
            bench = row["bench"] if row and row["bench"] else bench_for_tags(
                db, db_url, dict(entry.tags or {}))
        job = BenchJob(run.run_id, bench, names[run.entry], texts[run.entry])
        queued, new = submit(db, job)
        out.append(Submitted(queued, bench, new))
    return out


def wait_all(db: DBOSClient, run_ids: list[str],
             timeout_s: float | None) -> tuple[dict[str, dict[str, Any]], bool]:
    """Every run's row once all have ended (done, failed, cancelled), and False; at the
    timeout the rows as they are, and True."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        rows = {row["id"]: row for row in run_rows(db, run_ids)}
        if all(rows.get(i, {}).get("state") in ENDED for i in run_ids):
            return rows, False
        if deadline is not None and time.monotonic() >= deadline:
            return rows, True
        time.sleep(POLL_S)


def run_exit(row: dict[str, Any]) -> int:
    """One ended run's exit code as `harness wait` gives it (4 cancelled, 5 no exit code)."""
    if row.get("state") == "cancelled":
        return 4
    code = row.get("exit_code")
    return 5 if code is None else int(code)


def campaign_exit(rows: list[dict[str, Any]]) -> int:
    """The campaign's worst exit code over its ended runs: 1 when a run FAILed; else 2 when a
    run stopped on bad input (its scenario against its bench); else 3 when any run did not
    PASS (ERROR, INCONCLUSIVE, interrupted, cancelled, failed without a verdict); else 0."""
    codes = [run_exit(row) for row in rows]
    if EXIT_FAIL in codes:
        return EXIT_FAIL
    if EXIT_BAD_INPUT in codes:
        return EXIT_BAD_INPUT
    if any(code != EXIT_PASS for code in codes) or not codes:
        return EXIT_NO_VERDICT
    return EXIT_PASS
