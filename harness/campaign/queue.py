"""The campaign queue on DBOS Transact: one queue per bench with concurrency 1 (the bench
lease, enforced by the database), a workflow `run_on_bench` whose one step runs the scenario
as `harness run` does (bench_run.py), and the client side (submit, list, wait, cancel).

Pitfalls guarded here (issue 15; dbos-transact-py #805, #546):
- The application version is a constant of the workflow schema (`APP_VERSION`), not DBOS's
  hash of the source: a new ran-harness release does not strand queued or running runs;
  a change of the workflow's input or steps gets a new `JOB_SCHEMA` and a new version.
- The lease is the queue's concurrency, never the workflow id: the id only makes a
  resubmission a no-op.
- An agent's executor id is fixed (`--executor-id`): after a restart it recovers its own
  unfinished runs, and its step resumes the run directory instead of starting again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbos import DBOS, DBOSClient, DBOSConfig, EnqueueOptions

from harness.base.errors import ConfigError
from harness.campaign import benches
from harness.campaign.bench_run import BenchJob, run_on_bench
from harness.campaign.db import masked, resolve_url
from harness.campaign.sqlite_claims import serialize_claims

if TYPE_CHECKING:
    from harness.campaign.push import CentrePush

APP_NAME = "ran-harness"
JOB_SCHEMA = 1
APP_VERSION = f"ran-harness-campaign-schema-{JOB_SCHEMA}"
WORKFLOW_NAME = f"ran_harness.run_on_bench.v{JOB_SCHEMA}"
STEP_NAME = f"ran_harness.harness_run.v{JOB_SCHEMA}"
HOLD_NAME = f"ran_harness.hold.v{JOB_SCHEMA}"
HOLD_STEP_NAME = f"ran_harness.hold_step.v{JOB_SCHEMA}"
RUN_PRIORITY = 10
HOLD_PRIORITY = 1
"""DBOS dequeues the lowest priority number first: a hold goes ahead of the queued runs."""
QUEUE_PREFIX = "bench-"
POLL_S = 0.5

STATES = {"ENQUEUED": "queued", "DELAYED": "queued", "PENDING": "running",
          "SUCCESS": "done", "ERROR": "failed", "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed",
          "CANCELLED": "cancelled"}
"""DBOS workflow status → the run's state in `harness queue`."""

FINISHED_CODES = (0, 1, 3)
"""Exit codes of a run that reached a verdict ("done"); any other is "failed"."""


def queue_name(bench: str) -> str:
    """The DBOS queue of a bench (its lab's `name`)."""
    return QUEUE_PREFIX + bench


@dataclass
class AgentConfig:
    """What the agent's workflow steps need: the benches it serves and where runs go."""

    executor_id: str
    labs: dict[str, Path]
    out: Path
    run_args: tuple[str, ...] = ()  # given to every `harness run` (e.g. --no-pdf)
    dry_run: bool = False  # validate each scenario against its lab instead of running it
    sites: dict[str, dict[str, str]] = field(default_factory=dict)  # bench → lab site: tags
    running: dict[str, str] = field(default_factory=dict)  # bench → queued run id
    archive: Path | None = None  # --archive: verified run directories are copied here
    keys: dict[str, Path] = field(default_factory=dict)  # bench ("*": any) → public key
    influx: CentrePush | None = None  # --influx-url: each run's samples to the centre (push.py)


_AGENT: AgentConfig | None = None
_AGENT_LOCK = threading.Lock()


@DBOS.workflow(name=WORKFLOW_NAME)
def run_on_bench_workflow(job: dict[str, Any]) -> dict[str, Any]:
    """One queued run on its bench (the workflow: one durable step, the whole run)."""
    return _harness_run_step(job)


@DBOS.step(name=STEP_NAME)
def _harness_run_step(job: dict[str, Any]) -> dict[str, Any]:
    parsed = BenchJob.from_json(job)
    agent = _AGENT
    if agent is None or parsed.bench not in agent.labs:
        raise RuntimeError(f"bench {parsed.bench!r} is not served by this agent")
    workflow_id = DBOS.workflow_id or parsed.run_id
    with _AGENT_LOCK:
        agent.running[parsed.bench] = workflow_id
    try:
        result = run_on_bench(parsed, agent.labs[parsed.bench], agent.out,
                              cancelled=_cancel_probe(workflow_id),
                              run_args=agent.run_args, dry_run=agent.dry_run)
    finally:
        with _AGENT_LOCK:
            agent.running.pop(parsed.bench, None)
    if agent.archive is not None and result.get("run_dir"):
        result["archive"] = _hand_off(Path(result["run_dir"]), parsed, agent)
    if agent.influx is not None and result.get("run_dir"):
        from harness.campaign.bench_run import LOG_FILE, work_dir

        result["influx"] = agent.influx.after_run(
            workflow_id, parsed.bench, Path(result["run_dir"]),
            work_dir(agent.out, parsed.run_id) / LOG_FILE)
    result["agent"] = agent.executor_id
    return result


def _hand_off(run_dir: Path, job: BenchJob, agent: AgentConfig) -> dict[str, Any]:
    """Archive the run directory if it verifies (archive.py); said in the run's agent.log."""
    from harness.campaign.archive import archive_run
    from harness.campaign.bench_run import LOG_FILE, work_dir

    assert agent.archive is not None
    done = archive_run(run_dir, job.bench, agent.archive, agent.keys)
    line = (f"archived: {done['archived']}" if "archived" in done
            else f"not archived: {done['refused']}")
    with open(work_dir(agent.out, job.run_id) / LOG_FILE, "a", encoding="utf-8") as log:
        log.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
    return done


@DBOS.workflow(name=HOLD_NAME)
def hold_workflow(hold: dict[str, Any]) -> dict[str, Any]:
    """An engineer's hold of a bench: it takes the bench's lease like a run and keeps it
    until `until` (epoch seconds) or `harness release` (a cancel)."""
    return _hold_step(hold)


@DBOS.step(name=HOLD_STEP_NAME)
def _hold_step(hold: dict[str, Any]) -> dict[str, Any]:
    cancelled = _cancel_probe(DBOS.workflow_id or "")
    until = float(hold["until"])
    while time.time() < until and not cancelled():
        time.sleep(min(1.0, max(0.0, until - time.time())))
    agent = _AGENT
    return {"exit_code": 0, "verdict": None, "run_dir": None,
            "agent": agent.executor_id if agent else None}


def _cancel_probe(workflow_id: str) -> Any:
    """A callable saying whether the run was cancelled (asked from a plain thread, outside
    the step's DBOS context, so the question is not recorded as a step)."""

    asking: list[threading.Thread] = []

    def cancelled() -> bool:
        # while the database is unreachable DBOS blocks the question until it is back: one
        # question at a time, not one more thread per poll
        if asking and asking[0].is_alive():
            return False
        box: list[bool] = [False]

        def ask() -> None:
            status = DBOS.get_workflow_status(workflow_id)
            box[0] = status is not None and status.status == "CANCELLED"

        thread = threading.Thread(target=ask, daemon=True)
        asking[:] = [thread]
        thread.start()
        thread.join(10.0)
        return box[0]

    return cancelled


def dbos_config(url: str | None, executor_id: str | None = None) -> DBOSConfig:
    """DBOS settings for this database (the password reference resolved here)."""
    config: DBOSConfig = {"name": APP_NAME, "system_database_url": resolve_url(url),
                          "application_version": APP_VERSION, "log_level": "WARNING",
                          "notification_listener_polling_interval_sec": 0.2}
    if executor_id is not None:
        config["executor_id"] = executor_id
    return config


def start_agent(url: str | None, agent: AgentConfig) -> None:
    """Launch DBOS for an agent: listen only to its benches' queues (concurrency 1 each),
    recover its own unfinished runs (same executor id)."""
    global _AGENT
    _AGENT = agent
    serialize_claims(resolve_url(url))  # SQLite: one claim at a time across agents
    DBOS(config=dbos_config(url, agent.executor_id))
    names = [queue_name(b) for b in agent.labs]
    DBOS.listen_queues(names)
    DBOS.launch()
    for name in names:
        DBOS.register_queue(name, global_concurrency=1, worker_concurrency=1,
                            polling_interval_sec=POLL_S, on_conflict="always_update")
    benches.register(resolve_url(url), agent.sites, agent.executor_id)


def stop_agent() -> None:
    """Shut DBOS down (the runs under way are recovered by the next start)."""
    DBOS.destroy(destroy_registry=False)


@contextmanager
def client(url: str | None) -> Iterator[DBOSClient]:
    """A DBOS client on the database (created and migrated when new)."""
    resolved = resolve_url(url)
    try:
        DBOS.migrate(resolved)
        dbos_client = DBOSClient(system_database_url=resolved, application_name=APP_NAME)
    except Exception as exc:  # any driver error: said without the password
        raise ConfigError(f"cannot open the campaign database: {type(exc).__name__}: "
                          f"{masked(str(exc), resolved)}") from None
    try:
        yield dbos_client
    finally:
        dbos_client.destroy()


def new_run_id(scenario_name: str) -> str:
    """A fresh queued-run id: scenario, UTC time, a short random tail."""
    import secrets

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{scenario_name}-{stamp}-{secrets.token_hex(2)}"


def submit(db: DBOSClient, job: BenchJob) -> tuple[str, bool]:
    """Queue the run on its bench; (id, True) when queued now, (id, False) when that id was
    already submitted with the same bench and scenario (a no-op). ConfigError when the id is
    taken by a different run."""
    existing = db.list_workflows(workflow_ids=[job.run_id], load_output=False)
    if existing:
        inputs = existing[0].input
        old = inputs["args"][0] if inputs and inputs["args"] else {}
        if old != job.to_json():
            raise ConfigError(f"run id {job.run_id} is already taken by a different run "
                              f"(bench {old.get('bench')}, scenario "
                              f"{old.get('scenario_name')}): choose another --id")
        return job.run_id, False
    db.register_queue(queue_name(job.bench), global_concurrency=1, worker_concurrency=1,
                      polling_interval_sec=POLL_S, on_conflict="never_update")
    options: EnqueueOptions = {"workflow_name": WORKFLOW_NAME,
                               "queue_name": queue_name(job.bench),
                               "workflow_id": job.run_id, "app_version": APP_VERSION,
                               "priority": RUN_PRIORITY}
    db.enqueue(options, job.to_json())
    return job.run_id, True


def _epoch_ms(value: int | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, UTC).isoformat(timespec="seconds")


def run_rows(db: DBOSClient, run_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Every queued run (or these), oldest first: id, state, bench, agent, verdict, exit
    code, run directory, times."""
    rows = []
    for status in db.list_workflows(workflow_ids=run_ids, name=[WORKFLOW_NAME, HOLD_NAME]):
        inputs = status.input
        job = inputs["args"][0] if inputs and inputs["args"] else {}
        if status.name == HOLD_NAME:
            until = datetime.fromtimestamp(float(job.get("until", 0)), UTC)
            job = {**job, "scenario_name": f"(hold by {job.get('by')} until "
                                           f"{until.isoformat(timespec='seconds')})"}
        output = status.output if isinstance(status.output, dict) else {}
        state = STATES.get(status.status, status.status.lower())
        code = output.get("exit_code")
        if state == "done" and code not in FINISHED_CODES:
            state = "failed"
        rows.append({
            "id": status.workflow_id, "state": state, "bench": job.get("bench"),
            "scenario": job.get("scenario_name"),
            "agent": status.executor_id if state != "queued" else None,
            "verdict": output.get("verdict"), "exit_code": code,
            "run_dir": output.get("run_dir"), "archive": output.get("archive"),
            "influx": output.get("influx"),
            "submitted": _epoch_ms(status.created_at),
            "updated": _epoch_ms(status.updated_at),
            "error": str(status.error) if status.error is not None else None})
    return rows


def wait(db: DBOSClient, run_id: str, timeout_s: float | None) -> dict[str, Any] | None:
    """The run's row once it is done, failed or cancelled; None at the timeout.
    ConfigError for an unknown id."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        rows = run_rows(db, [run_id])
        if not rows:
            raise ConfigError(f"no queued run {run_id}")
        if rows[0]["state"] in ("done", "failed", "cancelled"):
            return rows[0]
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(POLL_S)


def cancel(db: DBOSClient, run_id: str) -> str:
    """Cancel a queued or running run; its state before. ConfigError for an unknown id."""
    rows = run_rows(db, [run_id])
    if not rows:
        raise ConfigError(f"no queued run {run_id}")
    if rows[0]["state"] in ("queued", "running"):
        db.cancel_workflow(run_id)
    return str(rows[0]["state"])


def bench_for_tags(db: DBOSClient, url: str | None, tags: dict[str, str]) -> str:
    """The registered bench for a `--tag` submission: every tag in its site, the fewest runs
    queued or running (then by name). ConfigError when none matches."""
    names = benches.matching(resolve_url(url), tags)
    if not names:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))
        raise ConfigError(f"no registered bench has site tags {wanted} (an agent registers "
                          "its benches when it starts)")
    load = {name: 0 for name in names}
    for row in run_rows(db):
        if row["bench"] in load and row["state"] in ("queued", "running"):
            load[row["bench"]] += 1
    return min(names, key=lambda name: (load[name], name))


def hold(db: DBOSClient, bench: str, seconds: float, by: str) -> str:
    """Queue a hold of the bench ahead of its queued runs (it starts when the run under way
    ends); the hold's id."""
    hold_id = f"hold-{bench}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    db.register_queue(queue_name(bench), global_concurrency=1, worker_concurrency=1,
                      polling_interval_sec=POLL_S, on_conflict="never_update")
    options: EnqueueOptions = {"workflow_name": HOLD_NAME, "queue_name": queue_name(bench),
                               "workflow_id": hold_id, "app_version": APP_VERSION,
                               "priority": HOLD_PRIORITY}
    db.enqueue(options, {"schema": JOB_SCHEMA, "bench": bench, "by": by,
                         "until": time.time() + seconds})
    return hold_id


def release(db: DBOSClient, bench: str) -> list[str]:
    """Cancel the bench's holds (queued or holding); their ids."""
    ids = [s.workflow_id for s in db.list_workflows(name=HOLD_NAME,
                                                     queue_name=queue_name(bench),
                                                     status=["ENQUEUED", "PENDING"])]
    for hold_id in ids:
        db.cancel_workflow(hold_id)
    return ids
