"""`harness submit SCENARIO --bench NAME [--id RUN_ID] [--db URL]`: queue a run on a bench;
prints its id (the same id again is a no-op that prints the same id)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.base.errors import ConfigError

EXIT_BAD_INPUT = 2

DB_HELP = ("The campaign database: sqlite:///PATH or postgresql://USER:${env:VAR}@HOST/DB "
           "(password by reference).  [default: $HARNESS_CAMPAIGN_DB, else "
           "~/.local/state/ran-harness/campaign.sqlite]")


def db_option(func: click.decorators.FC) -> click.decorators.FC:
    """The `--db URL` option every campaign command takes."""
    return click.option("--db", "db_url", default=None, metavar="URL", help=DB_HELP)(func)


@click.command()
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--bench", default=None, help="The bench (its lab file's `name:`).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
              help="Instead of --bench: a registered bench whose lab `site:` has every such "
                   "tag (the one with the fewest runs waiting); repeatable.")
@click.option("--id", "run_id", default=None,
              help="The queued run's id (default: SCENARIO-TIME-XXXX); submitting an id "
                   "again is a no-op.")
@db_option
def submit(scenario: Path, bench: str | None, tags: tuple[str, ...], run_id: str | None,
           db_url: str | None) -> None:
    """Queue SCENARIO on BENCH (or on a bench with these site tags); an agent serving the bench
    runs it (one run at a time per bench). Prints the run id.

    \b
    Exit codes: 0 queued (or that id was already queued with this bench and scenario)
                2 bad input (scenario, database, an id taken by a different run)"""
    from harness.campaign.bench_run import BenchJob
    from harness.campaign.queue import bench_for_tags, client, new_run_id, run_rows
    from harness.campaign.queue import submit as queue_submit

    try:
        text = scenario.read_text(encoding="utf-8")
        name = _scenario_name(_yaml(text, scenario), scenario)
        wanted = _tags(tags)
        if (bench is None) == (not wanted):
            raise ConfigError("give either --bench NAME or --tag KEY=VALUE")
        with client(db_url) as db:
            earlier = run_rows(db, [run_id]) if run_id else []
            if bench is None:  # a resubmitted id keeps the bench it was given
                bench = earlier[0]["bench"] if earlier else bench_for_tags(db, db_url, wanted)
            job = BenchJob(run_id or new_run_id(name), bench, name, text)
            queued, new = queue_submit(db, job)
    except (ConfigError, OSError, UnicodeDecodeError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if not new:
        click.echo(f"{queued} was already submitted: nothing queued", err=True)
    click.echo(queued)


def _tags(tags: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--tag {tag}: give KEY=VALUE, e.g. --tag city=hanoi")
        out[key.strip()] = value.strip()
    return out


def _yaml(text: str, path: Path) -> object:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML: {exc}") from None


def _scenario_name(data: object, path: Path) -> str:
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}: a scenario has a `name:`")
    return name
