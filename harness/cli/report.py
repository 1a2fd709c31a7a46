"""`harness report RUN_DIR`: re-render a stored run's report (HTML, PDF) from its summary.json
and samples.sqlite alone — no lab, no device — in another language or after a template fix;
and the `--lang`/`--pdf` options `harness run` shares with it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from harness.base.errors import ConfigError, HarnessError
from harness.report.i18n import LANGS, Lang

F = TypeVar("F", bound=Callable[..., Any])
EXIT_BAD_INPUT = 2


def report_options(function: F) -> F:
    """`--lang vi|en|both` and `--pdf/--no-pdf`, for `harness run` and `harness report`."""
    function = click.option(
        "--pdf/--no-pdf", "pdf", default=True, show_default=True,
        help="Also print report.pdf (WeasyPrint) beside report.html.")(function)
    function = click.option(
        "--lang", "lang", type=click.Choice(LANGS), default="both", show_default=True,
        help="Language of the report: Vietnamese, English, or both side by side.")(function)
    return function


def report_lang(value: str) -> Lang:
    """A --lang value as the report's language type (click has checked it)."""
    if value not in LANGS:
        raise click.BadParameter(f"{value!r}: expected one of {', '.join(LANGS)}")
    return cast(Lang, value)


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@report_options
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None,
              help="Write the report here instead of into RUN_DIR (leaves a signed run "
                   "directory as its manifest lists it).  [default: RUN_DIR]")
def report(run_dir: Path, lang: str, pdf: bool, out_dir: Path | None) -> None:
    """Re-render the report of the run in RUN_DIR from its stored results alone.

    \b
    Reads summary.json and samples.sqlite (never modified: read-only, nothing added);
    writes report.html, report.pdf, plots/ and junit.xml into RUN_DIR, or into --out.
    A signed run directory (manifest.json) is never rewritten: give --out.

    \b
    Exit codes: 0 written
                1 the report could not be written
                2 not a run directory (or a newer format, or signed without --out)"""
    from harness.base.summary import SUMMARY_FORMAT_VERSION
    from harness.report import write_report
    from harness.report.stored import read_stored_summary, stored_samples

    if out_dir is None and (run_dir / "manifest.json").is_file():
        click.echo(f"error: {run_dir} is signed (manifest.json): re-rendering its report in "
                   "place would change files the manifest lists; give --out DIR", err=True)
        sys.exit(EXIT_BAD_INPUT)
    try:
        summary = read_stored_summary(run_dir, SUMMARY_FORMAT_VERSION)
        samples = stored_samples(run_dir)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except HarnessError as exc:  # a store of a newer format, an unreadable store
        click.echo(f"error: {run_dir}: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    target = out_dir if out_dir is not None else run_dir
    try:
        files = write_report(target, summary, samples, junit_path=target / "junit.xml",
                             lang=report_lang(lang), pdf=pdf, evidence_dir=run_dir)
    except ValueError as exc:  # an unknown verdict in the summary
        click.echo(f"error: {run_dir / 'summary.json'}: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:
        click.echo(f"error: cannot write the report into {target}: {exc.strerror or exc}",
                   err=True)
        sys.exit(1)
    finally:
        close = getattr(samples, "close", None)  # the store read in place
        if close is not None:
            close()
    click.echo(str(files.html))
    if files.pdf is not None:
        click.echo(str(files.pdf))
    elif files.pdf_error:
        click.echo(f"warning: {files.pdf_error}", err=True)
