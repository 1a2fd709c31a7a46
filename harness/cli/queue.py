"""`harness queue [--json]`, `harness wait RUN_ID [--timeout]`, `harness cancel RUN_ID`: what
the campaign queue holds, waiting for a run, cancelling one."""

from __future__ import annotations

import sys

import click

from harness.base import jsonio
from harness.base.errors import ConfigError
from harness.cli.submit import db_option

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 4
EXIT_FAILED = 5
EXIT_TIMEOUT = 124


def _bad(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.command("queue")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as a JSON list.")
@db_option
def queue_cmd(as_json: bool, db_url: str | None) -> None:
    """List the queued runs, oldest first: state (queued, running, done, failed,
    cancelled), bench, agent, verdict (and `influx: N pending` while a run's samples have
    not all reached the centre's InfluxDB).

    \b
    Exit codes: 0 listed
                2 bad input (the database)"""
    from harness.campaign.db import resolve_url
    from harness.campaign.push import influx_states, short_state
    from harness.campaign.queue import client, run_rows

    try:
        with client(db_url) as db:
            rows = run_rows(db)
    except ConfigError as exc:
        _bad(exc)
    try:
        states = influx_states(resolve_url(db_url))  # the agents' latest (push.py)
    except Exception as exc:  # e.g. a database user that may not create our table
        click.echo(f"warning: InfluxDB hand-off states not read: {type(exc).__name__}",
                   err=True)
        states = {}
    for row in rows:
        row["influx"] = states.get(row["id"], row["influx"])
    if as_json:
        click.echo(jsonio.dumps(rows, indent=2))
        return
    click.echo(f"{'RUN':<40} {'STATE':<10} {'BENCH':<16} {'AGENT':<12} VERDICT")
    for row in rows:
        click.echo(f"{row['id']:<40} {row['state']:<10} {row['bench'] or '-':<16} "
                   f"{row['agent'] or '-':<12} {row['verdict'] or '-'}"
                   + (f"  ({influx})" if (influx := short_state(row["influx"])) else ""))


@click.command()
@click.argument("run_id")
@click.option("--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Give up after this long (exit 124).  [default: wait for ever]")
@db_option
def wait(run_id: str, timeout: float | None, db_url: str | None) -> None:
    """Wait until RUN_ID ends; prints its run directory; exits with the run's exit code.

    \b
    Exit codes: 0 PASS, 1 FAIL, 3 ERROR or INCONCLUSIVE (as `harness run`)
                2 bad input (unknown run id, the database) or the run's own exit 2
              130 the run was interrupted
                4 cancelled
                5 failed without an exit code (see `harness queue --json`, error)
              124 --timeout passed first"""
    from harness.campaign.queue import client
    from harness.campaign.queue import wait as queue_wait

    try:
        with client(db_url) as db:
            row = queue_wait(db, run_id, timeout)
    except ConfigError as exc:
        _bad(exc)
    if row is None:
        click.echo(f"{run_id}: still not finished after {timeout:g} s", err=True)
        sys.exit(EXIT_TIMEOUT)
    if row["state"] == "cancelled":
        click.echo(f"{run_id}: cancelled", err=True)
        sys.exit(EXIT_CANCELLED)
    if row["exit_code"] is None:
        click.echo(f"{run_id}: failed: {row['error']}", err=True)
        sys.exit(EXIT_FAILED)
    if row["run_dir"]:
        click.echo(row["run_dir"])
    sys.exit(int(row["exit_code"]))


@click.command()
@click.argument("run_id")
@db_option
def cancel(run_id: str, db_url: str | None) -> None:
    """Cancel RUN_ID: a queued run never starts; a running one is interrupted like Ctrl-C
    (devices restored, partial results kept).

    \b
    Exit codes: 0 cancelled (or it had already ended: said on stderr)
                2 bad input (unknown run id, the database)"""
    from harness.campaign.queue import cancel as queue_cancel
    from harness.campaign.queue import client

    try:
        with client(db_url) as db:
            before = queue_cancel(db, run_id)
    except ConfigError as exc:
        _bad(exc)
    if before in ("queued", "running"):
        click.echo(f"{run_id}: cancelled (was {before})")
    else:
        click.echo(f"{run_id}: already {before}; nothing to cancel", err=True)
