"""The InfluxDB hand-off: after each run an agent started with `--influx-url/--influx-org/
--influx-bucket` sends the run's samples to the centre's InfluxDB through the run's own spool
(harness.store.push.push_run): what the server acknowledged is recorded per destination in the
spool, so nothing is lost while the centre is unreachable and no point is sent twice (a run
whose lab already wrote to that same server has nothing pending; a second push sends 0).

One attempt per run when it ends, bounded (one pass over the spool, each request within the
target's timeout); the run's end and exit code are recorded whatever it gives. The state of
each run is kept in a table of ours beside DBOS's (`ran_harness_influx`), so that `harness
queue` shows it from anywhere that reaches the database::

    {"sent": M, "pending": N, "error": "..."}    # the centre unreachable or refusing
    {"sent": M, "pending": 0}                    # every point acknowledged

A background thread retries the runs still pending every `retry_s` (and at the agent's start,
for the runs it recorded before a restart) until they are sent. It never blocks taking the
next run: the retries run outside the workflow step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from harness.campaign.db import sql_engine
from harness.store.influx import InfluxTarget
from harness.store.spool import SpoolBusy

__all__ = ["INFLUX", "CentrePush", "influx_states", "short_state"]

_META = sa.MetaData()
INFLUX = sa.Table(
    "ran_harness_influx", _META,
    sa.Column("run_id", sa.String(200), primary_key=True),
    sa.Column("dest", sa.String(500), primary_key=True),  # Destination.key (no token)
    sa.Column("executor_id", sa.String(200), nullable=False),
    sa.Column("bench", sa.String(200), nullable=False),
    sa.Column("run_dir", sa.Text, nullable=False),
    sa.Column("sent", sa.Integer, nullable=False),
    sa.Column("pending", sa.Integer, nullable=True),  # None: not known (spool unreadable)
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("updated", sa.String(40), nullable=False),
)
RETRY_S = 30.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def influx_states(resolved_url: str) -> dict[str, dict[str, Any]]:
    """run id → its InfluxDB hand-off state (`sent`, `pending`, `error` when there is one),
    for `harness queue`; the latest updated when its agent was pointed at another centre
    since."""
    engine = sql_engine(resolved_url)
    try:
        _META.create_all(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(INFLUX).order_by(INFLUX.c.updated)).all()
    finally:
        engine.dispose()
    states: dict[str, dict[str, Any]] = {}
    for row in rows:
        state: dict[str, Any] = {"sent": row.sent, "pending": row.pending}
        if row.error:
            state["error"] = row.error
        states[row.run_id] = state
    return states


def short_state(state: dict[str, Any] | None) -> str:
    """A few words for `harness queue`'s table when the points are not all sent; "" when
    they are (or when the run has no hand-off)."""
    if not state or (state.get("pending") == 0 and not state.get("error")):
        return ""
    pending = state.get("pending")
    return f"influx: {'?' if pending is None else pending} pending"


@dataclass
class _Pending:
    bench: str
    run_dir: Path
    log: Path | None


@dataclass
class CentrePush:
    """An agent's hand-off to the centre's InfluxDB: one target per bench (the same server,
    org and bucket; the token may come from the bench's lab), the campaign database for the
    state table, and `say` for one line on the agent's stderr."""

    targets: dict[str, InfluxTarget]
    db_url: str  # resolved (the password in it): never printed
    executor_id: str
    say: Callable[[str], None]
    retry_s: float = RETRY_S
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _unrecorded: dict[str, int] = field(default_factory=dict)  # sent, not yet in the table
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def dest_key(self) -> str:
        """The centre's destination key (as the spools and the state table name it)."""
        return next(iter(self.targets.values())).dest.key

    def after_run(self, run_id: str, bench: str, run_dir: Path,
                  log: Path | None = None) -> dict[str, Any]:
        """One bounded attempt at a finished run; its state (also recorded in the table and
        said in one line). A run left pending is retried in the background."""
        state, recorded = self._attempt(run_id, bench, run_dir, log, first=True)
        if state.get("pending") != 0 or state.get("error") or not recorded:
            with self._lock:
                self._pending[run_id] = _Pending(bench, run_dir, log)
        return state

    def start(self) -> CentrePush:
        """Start the background retries (first at once: runs recorded before a restart)."""
        self._thread = threading.Thread(target=self._loop, name="influx-retry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop retrying (what is pending stays in the table for the next start)."""
        self._stop.set()

    def _loop(self) -> None:
        loaded = False
        while not self._stop.is_set():
            if not loaded:
                loaded = self._load()
            with self._lock:
                todo = dict(self._pending)
            for run_id, job in todo.items():
                if self._stop.is_set():
                    return
                state, recorded = self._attempt(run_id, job.bench, job.run_dir, job.log,
                                                first=False)
                if recorded and state.get("pending") == 0 and not state.get("error"):
                    with self._lock:
                        self._pending.pop(run_id, None)
            self._stop.wait(self.retry_s)

    def _load(self) -> bool:
        """The runs this agent recorded as not sent (before a restart); False when the
        database cannot be read now (tried again next round)."""
        try:
            engine = sql_engine(self.db_url)
            try:
                _META.create_all(engine)
                with engine.connect() as conn:
                    rows = conn.execute(sa.select(INFLUX).where(
                        INFLUX.c.executor_id == self.executor_id,
                        INFLUX.c.dest == self.dest_key)).all()
            finally:
                engine.dispose()
        except Exception:  # the database lost: DbWatch says so; retry next round
            return False
        with self._lock:
            for row in rows:
                if (row.pending != 0 or row.error) and row.bench in self.targets:
                    self._pending.setdefault(row.run_id, _Pending(row.bench, Path(row.run_dir),
                                                                  None))
        return True

    def _attempt(self, run_id: str, bench: str, run_dir: Path, log: Path | None,
                 *, first: bool) -> tuple[dict[str, Any], bool]:
        """One push of the run's pending points; (its state, whether the state table
        holds it now)."""
        from harness.store.push import push_run

        target = self.targets[bench]
        sent, pending, error = 0, None, None
        try:
            report = push_run(run_dir, target, timeout_s=0.0)  # one pass: bounded
            sent, pending, error = report.sent, report.pending, report.error
        except SpoolBusy as exc:  # a push by hand under way: try again next round
            error = str(exc)
        except Exception as exc:  # a damaged spool, a full disk...: the thread goes on
            error = f"{type(exc).__name__}: {exc}"
        if error is not None:
            error = target.mask(" ".join(error.split()))
        with self._lock:
            carried = self._unrecorded.pop(run_id, 0)
        total, recorded = self._record(run_id, bench, run_dir, sent + carried, pending, error)
        if not recorded:
            with self._lock:
                self._unrecorded[run_id] = sent + carried
        state: dict[str, Any] = {"sent": total, "pending": pending}
        if error is not None:
            state["error"] = error
        if error is None and pending == 0:
            line = f"influx: run {run_id}: sent {sent} point(s) to {target.dest}; 0 pending"
            if first or sent:
                self._tell(line, log)
        elif first:
            shown = "?" if pending is None else str(pending)
            reason = (error or "").removeprefix(f"{target.dest}: ")
            self._tell(f"influx: run {run_id}: {shown} point(s) pending for {target.dest} "
                       f"({reason}); retrying every {self.retry_s:g} s", log)
        return state, recorded

    def _tell(self, line: str, log: Path | None) -> None:
        self.say(line)
        if log is not None:
            import time

            try:
                with open(log, "a", encoding="utf-8") as out:
                    out.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
            except OSError:
                pass

    def _record(self, run_id: str, bench: str, run_dir: Path, sent: int,
                pending: int | None, error: str | None) -> tuple[int, bool]:
        """Add `sent` to the run's row (created when new); (the total sent so far, True), or
        (`sent`, False) when the database cannot be written now (the run stays on the retry
        list: the next attempt records it)."""
        key = self.dest_key
        try:
            engine = sql_engine(self.db_url)
            try:
                _META.create_all(engine)
                with engine.begin() as conn:
                    where = (INFLUX.c.run_id == run_id) & (INFLUX.c.dest == key)
                    old = conn.execute(sa.select(INFLUX.c.sent, INFLUX.c.pending)
                                       .where(where)).first()
                    total = sent + (old.sent if old is not None else 0)
                    if pending is None and old is not None:
                        pending = old.pending
                    values = {"executor_id": self.executor_id, "bench": bench,
                              "run_dir": str(run_dir), "sent": total, "pending": pending,
                              "error": error, "updated": _now()}
                    if old is None:
                        conn.execute(sa.insert(INFLUX).values(run_id=run_id, dest=key,
                                                              **values))
                    else:
                        conn.execute(sa.update(INFLUX).where(where).values(**values))
            finally:
                engine.dispose()
        except Exception:  # the database lost (DbWatch says so): recorded next attempt
            return sent, False
        return total, True
