"""An agent watching its link to the campaign database, to say when it is lost and back.

What happens while the database is unreachable is DBOS's doing (dbos 3.4.0, `db_retry` in
dbos/_sys_db.py): every operation on the system database blocks and retries with a backoff
of 1 s doubling to 60 s until the connection is back, then goes on. So a run under way keeps
running (it is a child process of its own; nothing in it needs the database), its step's end
is recorded when the database is back, and no new run is taken meanwhile. What DBOS does not
do is tell anyone: this watcher asks the database a trivial question every few seconds with
its own connection and prints one line when it cannot reach it and one when it can again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from harness.campaign.db import sql_engine

__all__ = ["DbWatch"]

CONNECT_TIMEOUT_S = 3


class DbWatch:
    """A daemon thread probing the database every `interval_s`; `say` gets one line when the
    database becomes unreachable and one when it is reachable again."""

    def __init__(self, resolved_url: str, say: Callable[[str], None],
                 interval_s: float = 2.0, masked: Callable[[str], str] = str) -> None:
        self._engine = sql_engine(resolved_url, connect_timeout_s=CONNECT_TIMEOUT_S,
                                  poolclass=NullPool)
        self._say = say
        self._masked = masked
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.lost_since: float | None = None
        self._thread = threading.Thread(target=self._loop, name="campaign-db-watch",
                                        daemon=True)

    def start(self) -> DbWatch:
        """Start probing."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop probing (the thread ends at its next wake-up)."""
        self._stop.set()

    def probe(self) -> str | None:
        """None when the database answers, else why not (password masked)."""
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # any driver error means: not reachable now
            text = self._masked(str(exc)).strip().splitlines()
            return f"{type(exc).__name__}: {text[0] if text else ''}"
        return None

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            problem = self.probe()
            if problem is not None and self.lost_since is None:
                self.lost_since = time.monotonic()
                self._say(f"cannot reach the campaign database ({problem}): runs under way "
                          "go on; their ends are recorded and new runs taken when it is back")
            elif problem is None and self.lost_since is not None:
                lost = time.monotonic() - self.lost_since
                self.lost_since = None
                self._say(f"the campaign database is reachable again (lost for about "
                          f"{lost:.0f} s)")
