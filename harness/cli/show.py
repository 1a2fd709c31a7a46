"""`harness show RUN|latest [--trial ID] [--verbose] [--json]`: a run's summary, concise by
default (one line per trial, and what went wrong under it)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.base import jsonio
from harness.cli.params import RUN_REF
from harness.cli.results import EXIT_BAD_INPUT, _find, _out_option


@click.command()
@click.argument("run", type=RUN_REF)
@_out_option
@click.option("--trial", default=None, metavar="ID[#REP]",
              help="Only this trial (every repetition, or one as ID#REP), in full.")
@click.option("-v", "--verbose", is_flag=True,
              help="Every trial's metrics, criteria and notes (default: one line a trial).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the run's summary.json (with --trial: only those trials).")
def show(run: str, out_dir: Path, trial: str | None, verbose: bool, as_json: bool) -> None:
    """Print a run's summary: devices, then one line per trial with the figures its
    criteria judged (what failed under it). RUN is a run id (or unique prefix), a run
    directory, or `latest` (the newest run in --out).

    \\b
    Exit codes: 0 shown
                2 no such run or trial (bad input)"""
    from harness.store.show import select_trials, summary_lines

    info = _find(run, out_dir)
    summary = info.summary()
    try:
        if as_json:
            if trial is not None:
                summary = {**summary, "trials": select_trials(list(summary.get("trials")
                                                                   or ()), trial)}
            click.echo(jsonio.dumps(summary, indent=2, ensure_ascii=False))
            return
        lines = summary_lines(summary, info.path, trial=trial, verbose=verbose)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for line in lines:
        click.echo(line)
