"""`harness runs | show | push | compare | export`: the results of past runs, and the options
`harness run` takes for InfluxDB and baselines."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from harness.base import jsonio
from harness.base.errors import ConfigError, HarnessError
from harness.base.verdict import exit_code
from harness.cli.params import HTTP_URL, RUN_REF
from harness.store.catalog import Catalog, RunInfo
from harness.store.compare import compare as compare_runs
from harness.store.compare import format_table, parse_threshold, scenario_differences
from harness.store.influx import InfluxTarget, resolve_target, settings_for
from harness.store.results import Baseline, ResultsOptions

if TYPE_CHECKING:
    from harness.engine.runner import RunInputs

EXIT_BAD_INPUT = 2
LATEST = "latest"  # `harness show latest`: the newest run of the reports directory

_out_option = click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
                           default=Path("reports"), show_default=True,
                           help="The reports directory holding the runs.")


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _catalog(out_dir: Path) -> Catalog:
    catalog = Catalog(out_dir)
    catalog.sync()
    return catalog


def _threshold(text: str) -> float:
    try:
        return parse_threshold(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def run_results_options(inputs: RunInputs, out_dir: Path, *, influx_url: str | None,
                        influx_org: str | None, influx_bucket: str | None,
                        baseline: str | None, threshold: str) -> ResultsOptions:
    """What `harness run`'s --influx-*/--baseline/--threshold (and INFLUX_TOKEN) ask for;
    raises ConfigError before any device is touched."""
    from harness.engine.inputs import known_secrets

    target = resolve_target(inputs.lab.results.influxdb, url=influx_url, org=influx_org,
                            bucket=influx_bucket, environ=os.environ,
                            secrets=known_secrets(inputs.lab))
    limit = _threshold(threshold)
    rules = regression_rules(inputs)
    if not baseline:
        return ResultsOptions(influx=target, regression=rules)
    catalog = _catalog(out_dir)
    try:
        scenario = inputs.scenario.name
        if baseline == "last-pass":
            info = catalog.last_pass(scenario)
            if info is None:
                return ResultsOptions(influx=target, regression=rules, baseline_note=(
                    f"no earlier PASS run of '{scenario}' in {out_dir}"))
        else:
            info = catalog.find(baseline)
            if info.scenario != scenario:
                raise ConfigError(f"--baseline {baseline}: that run is of scenario "
                                  f"'{info.scenario}', this one is '{scenario}'")
    except HarnessError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        catalog.close()
    return ResultsOptions(influx=target, baseline=Baseline(info.path, limit), regression=rules)


def regression_rules(inputs: RunInputs) -> dict[str, Any]:
    """summary.json's `regression` entry: per trial id, the metrics the scenario's
    `regression:` key adds to the criteria's (scenario-level ones where the trial produces
    them) and the threshold (the trial's, else the scenario's; None: `--threshold`)."""
    from harness.kinds import MONITOR_METRIC_PREFIXES

    spec = inputs.scenario.regression
    trials: dict[str, dict[str, Any]] = {}
    for planned in inputs.trials:
        names = [m for m in spec.metrics
                 if m in planned.metric_units or m.startswith(MONITOR_METRIC_PREFIXES)]
        limit = spec.threshold
        for rule in spec.rules_for(planned.id):
            names += [m for m in rule.metrics if m not in names]
            limit = rule.threshold if rule.threshold is not None else limit
        if names or limit is not None:
            trials[planned.id] = {"metrics": names, "threshold": limit}
    return {"metrics": list(spec.metrics), "threshold": spec.threshold, "trials": trials}


@click.command()
@_out_option
@click.option("--scenario", default=None, help="Only runs of this scenario.")
@click.option("--verdict", default=None, help="Only runs with this verdict (PASS, FAIL...).")
@click.option("--firmware", default=None, help="Only runs where a device had this firmware.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="At most N runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def runs(out_dir: Path, scenario: str | None, verdict: str | None, firmware: str | None,
         limit: int, as_json: bool) -> None:
    """List runs, newest first, with their verdicts.

    \b
    Exit codes: 0 listed (also when there are none)
                2 bad input (a bad option)"""
    from harness.store.spool import peek

    catalog = _catalog(out_dir)
    found = catalog.runs(scenario=scenario, verdict=verdict, firmware=firmware, limit=limit)
    rows = []
    for info in found:
        spool = peek(info.path)
        pending = None
        if spool is not None and spool[0] is not None:
            pending = spool[1] - spool[2].get(spool[0].key, 0)
        rows.append((info, pending))
    if as_json:
        click.echo(jsonio.dumps([{"run_id": i.run_id, "scenario": i.scenario, "lab": i.lab,
                                "verdict": i.verdict, "started": i.started,
                                "finished": i.finished, "trials": i.trials,
                                "path": str(i.path), "firmware": i.firmware,
                                "firmware_after": i.firmware_after,
                                "influx_pending_bytes": p} for i, p in rows], indent=2))
        return
    if not rows:
        click.echo(f"no runs in {out_dir}")
        return
    table = [("RUN", "SCENARIO", "VERDICT", "STARTED", "TRIALS", "FIRMWARE", "INFLUXDB")]
    for info, pending in rows:
        firmware_text = ", ".join(  # `gnb1=1.0.0→2.0.0` when the run upgraded it
            f"{d}={f}" + (f"→{after}" if (after := info.firmware_after.get(d, f)) != f else "")
            for d, f in info.firmware.items() if f)
        influx = "" if pending is None else ("sent" if pending == 0 else "PENDING (push)")
        table.append((info.run_id, info.scenario, info.verdict, (info.started or "")[:19],
                      str(info.trials), firmware_text, influx))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _find(run: str, out_dir: Path) -> RunInfo:
    catalog = _catalog(out_dir)
    try:
        if run == LATEST:
            newest = catalog.runs(limit=1)
            if not newest:
                raise HarnessError(f"no runs in {out_dir} (give --out, or run one first)")
            return newest[0]
        return catalog.find(run)
    except HarnessError as exc:
        _fail(str(exc))
        raise
    finally:
        catalog.close()


@click.command()
@click.argument("run", type=RUN_REF)
@_out_option
@click.option("--influx-url", type=HTTP_URL, default=None,
              help="Server (default: where the run sent).")
@click.option("--influx-org", default=None, help="Org (default: the run's or the lab's).")
@click.option("--influx-bucket", default=None, help="Bucket (default: the run's or the lab's).")
@click.option("--lab", "lab_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Lab whose results.influxdb to use (default: the run's lab file).")
@click.option("--all", "resend", is_flag=True,
              help="Send every point again, not only unacknowledged ones (idempotent).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=30.0,
              show_default=True,
              help="Keep retrying an unreachable server this many seconds.")
def push(run: str, out_dir: Path, influx_url: str | None, influx_org: str | None,
         influx_bucket: str | None, lab_path: Path | None, resend: bool,
         timeout_s: float) -> None:
    """Send a run's spooled points to InfluxDB (all of its samples if it never had a sink).
    Token: INFLUX_TOKEN, else the lab's results.influxdb.token.

    \b
    Exit codes: 0 every point acknowledged
                1 points still pending, or the server refused them
                2 bad input (no such run, no InfluxDB given)"""
    from harness.store.push import push_run

    info = _find(run, out_dir)
    try:
        target = _push_target(info, influx_url, influx_org, influx_bucket, lab_path)
        report = push_run(info.path, target, resend=resend, timeout_s=timeout_s)
    except ConfigError as exc:
        _fail(str(exc))
        return
    except HarnessError as exc:
        _fail(str(exc), 1)
        return
    for line in report.lines():
        click.echo(line, err=bool(report.error))
    sys.exit(0 if report.pending == 0 and not report.error else 1)


def _push_target(info: RunInfo, url: str | None, org: str | None, bucket: str | None,
                 lab_path: Path | None) -> InfluxTarget:
    from harness.base.loader import load_model
    from harness.config.lab import Lab
    from harness.store.spool import peek

    spooled = peek(info.path)
    dest = spooled[0] if spooled else None
    if lab_path is None:
        lab_file = (info.summary().get("lab") or {}).get("file")
        lab_path = Path(lab_file) if lab_file and Path(lab_file).is_file() else None
    settings = load_model(lab_path, Lab).results.influxdb if lab_path else None
    settings = settings_for(settings, dest.url if dest else None)  # the lab now names another
    target = resolve_target(settings, url=url or (dest.url if dest else None),
                            org=org or (dest.org if dest else None),
                            bucket=bucket or (dest.bucket if dest else None),
                            environ=os.environ)
    if target is None:
        raise ConfigError("no InfluxDB to push to: give --influx-url, --influx-org and "
                          "--influx-bucket (and INFLUX_TOKEN)")
    return target


@click.command()
@click.argument("runs_", metavar="[BASELINE] CANDIDATE", nargs=-1, required=True, type=RUN_REF)
@_out_option
@click.option("--baseline", "baseline", type=RUN_REF, default=None,
              help="Baseline when only CANDIDATE is given: a run id or 'last-pass'.")
@click.option("--firmware", default=None,
              help="With --baseline last-pass: the last PASS run on this device firmware.")
@click.option("--threshold", default="5%", show_default=True,
              help="Relative change that counts as a regression.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True,
              help="Significance level of the Welch t-test over repetitions.")
@click.option("--all", "all_metrics", is_flag=True,
              help="Also list the metrics that are not judged (shown, never a regression).")
@click.option("--any-scenario", is_flag=True,
              help="Compare runs of different scenarios anyway (the trials they share).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def compare(runs_: tuple[str, ...], out_dir: Path, baseline: str | None, firmware: str | None,
            threshold: str, alpha: float, all_metrics: bool, any_scenario: bool,
            as_json: bool) -> None:
    """Per-trial, per-metric differences of CANDIDATE against BASELINE.

    Only metrics the trials' criteria read (and the scenario's `regression:` metrics) are
    judged, beyond their noise floor and the threshold. Runs of different scenarios are
    refused (what differs is said on stderr) unless --any-scenario; a changed scenario file
    or differing trials are warned about on stderr.

    \b
    Exit codes: 0 no regression (at least one judged metric compared)
                1 a regression (Welch p < alpha over >= 2 repetitions each)
                2 bad input (no such run, a bad option, runs of different scenarios
                  without --any-scenario)
                3 a possible regression that the repetitions cannot separate from noise
                  (one repetition, or p >= alpha), a judged metric gone from the candidate,
                  or no judged metric shared (nothing compared)"""
    try:
        limit = _threshold(threshold)
    except ConfigError as exc:
        _fail(str(exc))
    catalog = _catalog(out_dir)
    try:
        if len(runs_) == 2 and baseline is None:
            base, cand = catalog.find(runs_[0]), catalog.find(runs_[1])
        elif len(runs_) == 1 and baseline:
            cand = catalog.find(runs_[0])
            if baseline == "last-pass":
                found = catalog.last_pass(cand.scenario, firmware=firmware, exclude=cand.run_id)
                if found is None:
                    on = f" on firmware {firmware}" if firmware else ""
                    raise ConfigError(f"no PASS run of '{cand.scenario}'{on} in {out_dir}")
                base = found
            else:
                base = catalog.find(baseline)
        else:
            raise ConfigError("give BASELINE and CANDIDATE, or CANDIDATE with --baseline")
    except HarnessError as exc:
        _fail(str(exc))
        return
    finally:
        catalog.close()
    other, differences = scenario_differences(base.summary(), cand.summary())
    for line in differences:
        click.echo(f"warning: {line}", err=True)
    if other and not any_scenario:
        _fail("not compared: a baseline should be a run of the same scenario (see `harness "
              "runs --scenario NAME`); to compare the trials they share anyway, add "
              "--any-scenario")
    result = compare_runs(base.summary(), cand.summary(), threshold=limit, alpha=alpha)
    if as_json:
        click.echo(jsonio.dumps(result.as_json(), indent=2))
    else:
        click.echo(f"baseline {base.run_id} ({base.verdict})  →  candidate {cand.run_id} "
                   f"({cand.verdict}); threshold {limit:.1%} (or the scenario's), noise "
                   f"floors per metric, alpha {alpha}")
        for line in format_table(result, all_metrics=all_metrics):
            click.echo(line)
        judged = sum(1 for d in result.diffs if d.judged)
        click.echo(f"{len(result.regressions)} regression(s), {len(result.inconclusive)} "
                   f"inconclusive, {judged} judged metric(s) of {len(result.diffs)}: "
                   f"{result.verdict.value}")
        if result.reason:
            click.echo(result.reason)
    sys.exit(exit_code(result.verdict))


@click.command()
@click.argument("run", type=RUN_REF)
@_out_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write here instead of standard output.")
@click.option("--measurement", default=None, help="Only this measurement (e.g. kpi, verdict).")
def export(run: str, out_dir: Path, fmt: str, output: Path | None,
           measurement: str | None) -> None:
    """Write a run's samples and verdicts as CSV or JSON.

    \b
    Exit codes: 0 written
                2 bad input (no such run, no samples.sqlite, cannot write -o)"""
    from harness.store.export import write_csv, write_json
    from harness.store.sqlite import SqliteStore

    info = _find(run, out_dir)
    db = info.path / "samples.sqlite"
    if not db.is_file():
        _fail(f"{info.path} has no samples.sqlite")
    started = time.monotonic()
    if output is not None and output.exists() and not output.is_file():
        _fail(f"cannot write {output}: not a regular file")
    created = output is not None and not output.exists()
    store = SqliteStore(db, read_only=True)
    try:
        with (open(output, "w", encoding="utf-8", newline="") if output
              else _stdout()) as out:
            if fmt == "csv":
                count = write_csv(store, out, measurement=measurement)
            else:
                count = write_json(store, info.summary(), out, measurement=measurement)
    except OSError as exc:  # no such folder, no permission, /proc, a full disk
        if created and output is not None:
            output.unlink(missing_ok=True)
        _fail(f"cannot write {output or 'standard output'}: {exc.strerror or exc}")
        return
    finally:
        store.close()
    if output is not None:
        click.echo(f"{count} sample(s) → {output} ({time.monotonic() - started:.1f} s)",
                   err=True)


class _stdout:
    """Standard output as a context manager that is not closed at the end."""

    def __enter__(self) -> Any:
        return sys.stdout

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()


RESULT_COMMANDS = (runs, push, compare, export)  # `show` is harness/cli/show.py
