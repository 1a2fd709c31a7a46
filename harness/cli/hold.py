"""`harness hold BENCH --for 4h` / `harness release BENCH`: an engineer takes a bench by hand
through the same lease as the queued runs."""

from __future__ import annotations

import getpass
import sys

import click

from harness.base.errors import ConfigError
from harness.cli.submit import db_option

EXIT_BAD_INPUT = 2


@click.command()
@click.argument("bench")
@click.option("--for", "duration", required=True, metavar="DURATION",
              help="How long, e.g. 30m, 4h, 90s.")
@db_option
def hold(bench: str, duration: str, db_url: str | None) -> None:
    """Hold BENCH: no queued run starts on it until the time is up or `harness release`.
    The hold goes ahead of the queued runs and starts when the run under way ends (an agent
    serving the bench takes it); prints the hold's id (`harness wait ID` waits for its end).

    \b
    Exit codes: 0 held (queued ahead of the bench's runs)
                2 bad input (duration, the database)"""
    from harness.base.schema import parse_duration
    from harness.campaign.queue import client
    from harness.campaign.queue import hold as queue_hold

    try:
        seconds = parse_duration(duration)
        if seconds <= 0:
            raise ConfigError(f"--for {duration}: give a positive duration")
        with client(db_url) as db:
            hold_id = queue_hold(db, bench, seconds, getpass.getuser())
    except (ConfigError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(hold_id)


@click.command()
@click.argument("bench")
@db_option
def release(bench: str, db_url: str | None) -> None:
    """Release BENCH: end its holds; its queued runs go on.

    \b
    Exit codes: 0 released (or there was no hold: said on stderr)
                2 bad input (the database)"""
    from harness.campaign.queue import client
    from harness.campaign.queue import release as queue_release

    try:
        with client(db_url) as db:
            ids = queue_release(db, bench)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if not ids:
        click.echo(f"{bench}: no hold", err=True)
    for hold_id in ids:
        click.echo(f"released {hold_id}")
