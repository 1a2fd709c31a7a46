"""The bench lease on the SQLite default with several agents: one claim at a time.

DBOS 3.4.0 claims a queued workflow in `SystemDatabase.start_queued_workflows`: it counts the
queue's PENDING workflows, selects the next ENQUEUED ones within the concurrency left, and
marks them PENDING. On PostgreSQL that runs in one REPEATABLE READ transaction. On SQLite,
pysqlite opens the transaction only at the UPDATE: the count and the select run outside it, so
two agents polling one bench's queue at the same moment could both count 0 running, one claim
the first queued run and the other — selecting just after that commit — the second: two runs
on one bench at once (seen in tests/test_campaign_durability.py: b1 and b2 on bench-b, both
PENDING, 2 runs in 6 on SQLite).

An agent on a SQLite database therefore holds an exclusive `flock` on `DB.claim-lock` (beside
the database file; every agent on that file is on this machine) around each claim, so the
count, the select and the update of one agent never interleave with another's. PostgreSQL is
left as DBOS does it. DBOS is pinned (`dbos==3.4.0`): this wraps a method of that version.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbos._sys_db import SystemDatabase

SUFFIX = ".claim-lock"
_MARK = "_ran_harness_claim_lock"


def claim_lock_path(url: str) -> Path | None:
    """The claim lock beside a `sqlite:///PATH` database (resolved URL); None otherwise."""
    if not url.startswith("sqlite:///"):
        return None
    db = Path(url.removeprefix("sqlite:///"))
    return db.with_name(db.name + SUFFIX)


def serialize_claims(url: str) -> None:
    """Make this process's DBOS claims on the SQLite database at `url` (resolved) one at a
    time across every process on that file (a no-op for PostgreSQL, or when done already)."""
    path = claim_lock_path(url)
    if path is None:
        return
    original: Callable[..., Any] = SystemDatabase.start_queued_workflows
    if getattr(original, _MARK, None) == path:
        return
    original = getattr(original, "__wrapped__", original)

    def claim_one_at_a_time(self: SystemDatabase, *args: Any, **kwargs: Any) -> Any:
        with open(path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
            return original(self, *args, **kwargs)

    setattr(claim_one_at_a_time, _MARK, path)
    claim_one_at_a_time.__wrapped__ = original  # type: ignore[attr-defined]
    SystemDatabase.start_queued_workflows = claim_one_at_a_time  # type: ignore[method-assign]
