"""`harness campaign`: campaigns of runs across benches. `harness campaign report
CAMPAIGN.yaml` builds the campaign report from the archived, signature-verified run
directories."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.base.errors import ConfigError
from harness.base.verdict import exit_code
from harness.cli.report import report_lang
from harness.report.i18n import LANGS

EXIT_BAD_INPUT = 2


@click.group()
def campaign() -> None:
    """Campaigns: scenarios on benches across sites, and their one report."""


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
