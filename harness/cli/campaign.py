"""`harness campaign`: campaigns of runs across benches. `harness campaign CAMPAIGN.yaml`
(short for `harness campaign run CAMPAIGN.yaml`) submits every planned run through the queue
and waits for them; `harness campaign report CAMPAIGN.yaml` builds the campaign report from the
archived, signature-verified run directories."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.base.errors import ConfigError
from harness.base.verdict import exit_code
from harness.cli.report import report_lang
from harness.cli.submit import db_option
from harness.report.i18n import LANGS

EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 124


class _CampaignGroup(click.Group):
    """`harness campaign FILE ...` means `harness campaign run FILE ...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Put `run` before a first argument that is no subcommand and no option."""
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_CampaignGroup)
def campaign() -> None:
    """Campaigns: scenarios on benches across sites, and their one report.

    \b
    harness campaign CAMPAIGN.yaml          submit every planned run and wait (= run)
    harness campaign report CAMPAIGN.yaml   the campaign report from the archive

    \b
    Exit codes: 0 every run PASSed (run) / every planned run verified and PASS (report)
                1 a run FAILed
                2 bad input (campaign file, database, options)
                3 not all PASS (ERROR, INCONCLUSIVE, missing or excluded runs…)
              124 run: --timeout passed before every run ended
    (each subcommand's --help says them in full)"""


@campaign.command("run")
@click.argument("campaign_file", metavar="CAMPAIGN.yaml",
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--timeout", "timeout", default=None, metavar="DURATION",
              help="Stop waiting after this long (e.g. 90s, 4h; exit 124); the runs go on.  "
                   "[default: wait for ever]")
@click.option("--no-wait", is_flag=True, help="Submit and print the ids; do not wait.")
@db_option
def run_campaign(campaign_file: Path, timeout: str | None, no_wait: bool,
                 db_url: str | None) -> None:
    """Submit every (entry, repetition) of the campaign to the queue with its stable id
    (NAME.SCENARIO.BENCH.rN) and wait for them all. An id already in the queue is not
    queued again: running the command twice queues nothing new. Prints the ids.

    \b
    Exit codes: 0 every run PASSed (or --no-wait: all submitted)
                1 a run FAILed
                2 bad input (campaign file, database, an id taken by a different run,
                  no registered bench with an entry's tags), or a run's own bad input
                3 otherwise not all PASS: ERROR, INCONCLUSIVE, interrupted, cancelled,
                  failed without a verdict
              124 --timeout passed before every run ended"""
    from harness.base.schema import parse_duration
    from harness.campaign.queue import client
    from harness.campaign.spec import load_campaign
    from harness.campaign.submit_all import campaign_exit, run_exit, submit_campaign, wait_all

    try:
        seconds = parse_duration(timeout) if timeout is not None else None
    except ValueError as exc:
        click.echo(f"error: --timeout: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    try:
        loaded = load_campaign(campaign_file)
        with client(db_url) as db:
            submitted = submit_campaign(db, db_url, loaded)
            new = sum(1 for s in submitted if s.new)
            click.echo(f"campaign {loaded.spec.name}: {new} run(s) queued, "
                       f"{len(submitted) - new} already submitted", err=True)
            for item in submitted:
                click.echo(item.run_id)
            if no_wait:
                return
            rows, timed_out = wait_all(db, [s.run_id for s in submitted], seconds)
    except (ConfigError, OSError, UnicodeDecodeError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    from harness.campaign.push import short_state

    for item in submitted:
        row = rows.get(item.run_id, {})
        state = row.get("state", "?")
        code = str(run_exit(row)) if state in ("done", "failed", "cancelled") else "-"
        archive = row.get("archive") or {}
        where = row.get("run_dir") or row.get("error") or "-"
        click.echo(f"{item.run_id}: {state} on {item.bench}, exit {code}"
                   f", {row.get('verdict') or '-'}: {where}"
                   + (f"; not archived: {archive['refused']}" if archive.get("refused") else "")
                   + (f"; {influx}" if (influx := short_state(row.get("influx"))) else ""),
                   err=True)
    if timed_out:
        click.echo(f"still not finished after {timeout}", err=True)
        sys.exit(EXIT_TIMEOUT)
    sys.exit(campaign_exit(list(rows.values())))


@campaign.command("report")
@click.argument("campaign_file", metavar="CAMPAIGN.yaml",
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--lang", "lang", type=click.Choice(LANGS), default="both", show_default=True,
              help="Language of the report: Vietnamese, English, or both side by side.")
@click.option("--pdf/--no-pdf", "pdf", default=False, show_default=True,
              help="Also print campaign.pdf (WeasyPrint) beside campaign.html.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Where campaign.html and campaign.json go.  "
                                 "[default: reports/campaign-NAME]")
def report(campaign_file: Path, lang: str, pdf: bool, out_dir: Path | None) -> None:
    """Build the campaign report from the run directories in the campaign's archive.

    \b
    Each run directory counts only if its signature verifies against its bench's key
    registered in the campaign file (`keys:`); one that does not is listed as excluded with
    the reason. Prints the report's path; the exit code is the campaign's verdict.

    \b
    Exit codes: 0 every planned run verified and PASS
                1 a counted run FAILed
                2 bad input (campaign file, FILE:LINE:COL)
                3 ERROR, or INCONCLUSIVE: a planned run missing, a directory that fails
                  verification, an inconclusive run, or nothing counted"""
    from harness.campaign.collect import collect_campaign
    from harness.campaign.report import write_campaign_report
    from harness.campaign.spec import load_campaign

    try:
        loaded = load_campaign(campaign_file)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    tally = collect_campaign(loaded)
    target = out_dir if out_dir is not None else Path("reports") / f"campaign-{loaded.spec.name}"
    files = write_campaign_report(tally, target, lang=report_lang(lang), pdf=pdf)
    for excluded in tally.excluded:
        click.echo(f"excluded: {excluded.run_dir}: {excluded.reason}", err=True)
    for missing in tally.missing:
        click.echo(f"missing: {missing.run_id}", err=True)
    if files.pdf_error:
        click.echo(f"warning: {files.pdf_error}", err=True)
    click.echo(f"{tally.verdict.value}: {len(tally.included)} of {len(loaded.planned())} "
               f"planned run(s) counted", err=True)
    click.echo(str(files.html))
    sys.exit(exit_code(tally.verdict))
