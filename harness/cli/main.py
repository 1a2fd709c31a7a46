"""The `harness` command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from harness import __version__
from harness.base import jsonio
from harness.base.errors import ConfigError, HarnessError
from harness.base.verdict import exit_code
from harness.cli.agent import agent
from harness.cli.campaign import campaign
from harness.cli.devices import devices
from harness.cli.hold import hold, release
from harness.cli.params import HTTP_URL, RUN_REF
from harness.cli.pm import pm
from harness.cli.queue import cancel, queue_cmd, wait
from harness.cli.record import record
from harness.cli.report import report, report_lang, report_options
from harness.cli.results import RESULT_COMMANDS, run_results_options
from harness.cli.show import show
from harness.cli.sim import sim
from harness.cli.submit import submit
from harness.cli.verify import verify
from harness.simlab.state import DEFAULT_STATE_DIR

if TYPE_CHECKING:
    from harness.engine.attach import Attach

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _fail_input(exc: HarnessError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ran-harness")
def cli() -> None:
    """ran-harness: trials of 5G gNodeBs and cores, from lab and scenario files to a report.

    Every command lists its exit codes in its --help; 2 is always bad input."""


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option("--lab", "lab_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="The bench description.  [default: lab.yaml]")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("reports"), show_default=True, help="Where run directories go.")
@click.option("--junit", "junit", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Also write JUnit XML here.")
@click.option("--sink", "sinks", multiple=True, metavar="NAME",
              help="Also send the results to this plugin result sink (entry-point group "
                   "ran_harness.sinks); repeatable.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("--progress", "progress_mode", type=click.Choice(["auto", "live", "lines", "json"]),
              default="auto", show_default=True,
              help="Progress on stderr: live panel, lines, or JSON Lines for CI.")
@click.option("--retries", type=click.IntRange(0, 10), default=0, show_default=True,
              help="Run a trial that ends in ERROR again, up to N more times.")
@click.option("--max-parallel", type=click.IntRange(1, 32), default=None,
              help="With `parallel: true` in the scenario: at most N trials at once.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Carry on with this interrupted run (same scenario and lab).")
@click.option("--influx-url", type=HTTP_URL, default=None,
              help="Also send samples to this InfluxDB v2 API (token: $INFLUX_TOKEN).")
@click.option("--influx-org", default=None, help="InfluxDB org (overrides the lab's).")
@click.option("--influx-bucket", default=None, help="InfluxDB bucket (overrides the lab's).")
@click.option("--baseline", type=RUN_REF, default=None,
              help="Compare with this run (id or directory) or 'last-pass': the metrics the "
                   "criteria read (and the scenario's regression: metrics) are judged; a "
                   "regression FAILs (exit 1), one that the repetitions cannot separate from "
                   "noise is INCONCLUSIVE (exit 3).")
@click.option("--threshold", default="5%", show_default=True,
              help="Relative change that may count as a regression against --baseline (never "
                   "below the metric's noise floor; a scenario's regression.threshold wins).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the run's summary (summary.json) on stdout instead of the run "
                   "directory (its path is the summary's run_dir).")
@click.option("--attach", is_flag=True,
              help="Run on the simulated lab `harness sim up` started (so `harness sim "
                   "fault` acts on it) instead of starting one for this run; it keeps "
                   "running after the run.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_STATE_DIR, show_default=True,
              help="With --attach: the `harness sim up --state-dir` of the lab.")
@report_options
def run(scenario: Path | None, lab_path: Path | None, out_dir: Path, junit: Path | None,
        quiet: bool, progress_mode: str, retries: int, max_parallel: int | None,
        resume_dir: Path | None, influx_url: str | None, influx_org: str | None,
        influx_bucket: str | None, baseline: str | None, threshold: str,
        sinks: tuple[str, ...], as_json: bool, attach: bool, state_dir: Path, lang: str,
        pdf: bool) -> None:
    """Run SCENARIO on the lab; prints the run directory; the exit code tells the verdict.

    \b
    Exit codes: 0 every trial PASS (and no regression against --baseline)
                1 any FAIL, or a regression (Welch p < alpha over >= 2 repetitions)
                2 bad input (lab, scenario, command line)
                3 ERROR or INCONCLUSIVE without FAIL, including a possible regression
                  that the repetitions cannot separate from noise (1 repetition)
              130 interrupted"""
    from harness.base.events import EventBus, Notice
    from harness.base.summary import SUMMARY_FORMAT_VERSION
    from harness.cli.progress import make_progress
    from harness.engine.inputs import input_warnings, load_inputs
    from harness.engine.resume import ResumeState, load_resume, resume_paths
    from harness.engine.runner import Runner, RunOptions
    from harness.engine.sinks import SinkOptions, compose_sinks
    from harness.report.sink import JunitSink
    from harness.store.signing import lab_signer

    resume: ResumeState | None = None
    try:
        if resume_dir is not None:
            recorded_scenario, recorded_lab = resume_paths(resume_dir)
            scenario = scenario or recorded_scenario
            lab_path = lab_path or recorded_lab
        if scenario is None:
            raise ConfigError("give a SCENARIO file (or --resume RUN_DIR)")
        lab_path = lab_path or Path("lab.yaml")
        if resume_dir is not None:
            resume = load_resume(resume_dir, scenario, lab_path, SUMMARY_FORMAT_VERSION)
        inputs = load_inputs(scenario, lab_path)
        attached = _attach(inputs.lab, lab_path, state_dir) if attach else None
        results = run_results_options(inputs, out_dir, influx_url=influx_url,
                                      influx_org=influx_org, influx_bucket=influx_bucket,
                                      baseline=baseline, threshold=threshold)
        signer = lab_signer(inputs.lab.name, inputs.lab.signing.key if inputs.lab.signing
                            else None)  # before any device: a bad key is bad input
        outputs = compose_sinks(SinkOptions(results, junit=junit, plugins=sinks,
                                            signer=signer, report_lang=report_lang(lang),
                                            report_pdf=pdf))
    except ConfigError as exc:
        _fail_input(exc)
    if signer.generated:  # said once, when the lab's key is made
        click.echo(f"new signing key for lab {inputs.lab.name}: {signer.origin} (public key "
                   f"beside it), fingerprint {signer.fingerprint}", err=True)
    bus = EventBus()
    if not quiet:
        bus.subscribe(make_progress(progress_mode, Console(stderr=True)))
    for warning in input_warnings(inputs.lab):  # unverified host keys, inline secrets
        if quiet:
            click.echo(f"warning: {warning}", err=True)
        else:
            bus.emit(Notice(warning, "warning"))
    if attached is not None:
        bus.emit(Notice(f"attached to the simulated lab of `harness sim up` (state "
                        f"{state_dir}); it keeps running after this run; traps it raises do "
                        "not reach this run (sim up gives it no trap receiver)", "warning"))
    options = RunOptions(retries=retries, max_parallel=max_parallel, resume=resume,
                         attach=attached)
    runner = Runner(inputs, out_dir, bus, results, options, sinks=outputs)
    try:
        outcome = asyncio.run(runner.run())
    except KeyboardInterrupt:
        click.echo(f"interrupted; partial results in {runner.run_dir}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except ConfigError as exc:
        _fail_input(exc)
    for sink in outputs:
        if isinstance(sink, JunitSink) and sink.error and quiet:  # said by the display else
            click.echo(f"error: {sink.error}", err=True)
    if as_json:
        click.echo(jsonio.dumps({**outcome.summary, "run_dir": str(outcome.run_dir)},
                                indent=2, ensure_ascii=False))
    else:
        click.echo(str(outcome.run_dir))
    if outcome.storage_error:  # one clear line, and where the summary went
        click.echo(f"error: {outcome.storage_error}", err=True)
        if outcome.summary_path is None:
            click.echo("error: summary.json could not be written anywhere", err=True)
        elif outcome.summary_path.parent != outcome.run_dir:
            click.echo(f"summary written to {outcome.summary_path} instead", err=True)
    if outcome.interrupted:
        restored = ("devices restored" if not outcome.summary.get("restore_errors")
                    else "devices NOT all restored (see restore_errors)")
        click.echo(f"interrupted: {restored}, partial results kept", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(exit_code(outcome.verdict))


def _attach(lab: Any, lab_path: Path, state_dir: Path) -> Attach:
    """What `--attach` asks for, checked before any device is touched (ConfigError)."""
    from harness.engine.attach import Attach, attached_state

    simulated = [name for name, dev in lab.devices.items() if dev.simulated is not None]
    if not simulated:
        raise ConfigError(f"--attach: {lab_path} has no simulated device to attach to")
    attach = Attach(state_dir, lab_path)
    attached_state(attach, simulated)
    return attach


@cli.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--lab", "lab_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Lab to check scenarios against (default: the one lab among "
                                 "FILES, else lab.yaml if present).")
def validate(files: tuple[Path, ...], lab_path: Path | None) -> None:
    """Check lab, scenario, profile and campaign files without touching any device.

    \b
    Exit codes: 0 every file is valid
                2 a file is not (each error as FILE:LINE:COLUMN: field: message)"""
    from harness.base.loader import load_model
    from harness.config.lab import Lab
    from harness.engine.inputs import detect_kind, load_inputs
    from harness.engine.profile_checks import check_profile_file, lab_profiles

    failed = False
    kinds: dict[Path, str] = {}
    for path in files:
        try:
            kinds[path] = detect_kind(path)
        except ConfigError:
            kinds[path] = "?"  # reported in the loop below, in order
    labs = [p for p, k in kinds.items() if k == "lab"]
    # `harness validate LAB SCENARIO`: the scenario is checked against the lab given with it
    default_lab = lab_path or (labs[0] if len(labs) == 1 else Path("lab.yaml"))
    for path in files:
        try:
            kind = detect_kind(path)
            if kind == "lab":
                lab_profiles(load_model(path, Lab), path)
            elif kind == "profile":
                check_profile_file(path)
            elif kind == "campaign":
                from harness.campaign.spec import load_campaign

                load_campaign(path)
            else:
                lab = default_lab
                if not lab.exists():
                    raise ConfigError("a scenario is checked against a lab: give --lab",
                                      file=str(path))
                load_inputs(path, lab)
            click.echo(f"{path}: ok ({kind})")
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            failed = True
    sys.exit(EXIT_BAD_INPUT if failed else 0)


@cli.command()
@click.option("--bandwidth", "bandwidth_mhz", type=int, required=True, help="Channel MHz.")
@click.option("--scs", "scs_khz", type=int, required=True, help="Subcarrier spacing, kHz.")
@click.option("--layers", type=int, required=True, help="MIMO layers.")
@click.option("--modulation", type=click.Choice(["qpsk", "16qam", "64qam", "256qam"]),
              required=True)
@click.option("--direction", type=click.Choice(["dl", "ul"]), default="dl", show_default=True)
@click.option("--fr", type=click.Choice(["1", "2"]), default="1", show_default=True)
@click.option("--scaling", type=float, default=1.0, show_default=True,
              help="Scaling factor f (1, 0.8, 0.75, 0.4).")
@click.option("--tdd", default=None, help="TDD pattern, e.g. DDDSU.")
@click.option("--special", default=None, help="Special-slot split D:G:U, e.g. 10:2:2.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def peak(bandwidth_mhz: int, scs_khz: int, layers: int, modulation: str, direction: str,
         fr: str, scaling: float, tdd: str | None, special: str | None, as_json: bool) -> None:
    """TS 38.306 §4.1.2 approximate peak data rate of one carrier, in Mbit/s.

    \b
    Exit codes: 0 computed
                2 bad input (a carrier TS 38.306 does not define)"""
    from harness.base.nr_peak import Carrier, n_prb, tdd_share

    try:
        carrier = Carrier(bandwidth_mhz, scs_khz, layers, modulation, direction, int(fr),
                          scaling)
        rate = carrier.peak_mbps()
        prbs = n_prb(bandwidth_mhz, scs_khz, int(fr))
        share = tdd_share(tdd, special, direction) if tdd else None
    except ConfigError as exc:
        _fail_input(exc)
    result: dict[str, object] = {
        "bandwidth_mhz": bandwidth_mhz, "scs_khz": scs_khz, "n_prb": prbs, "layers": layers,
        "modulation": modulation, "direction": direction, "fr": int(fr), "scaling": scaling,
        "peak_mbps": round(rate, 1),
    }
    if share is not None:
        result.update(tdd=tdd, special=special, tdd_share=round(share, 4),
                      tdd_peak_mbps=round(rate * share, 1))
    if as_json:
        click.echo(jsonio.dumps(result))
        return
    click.echo(f"{rate:,.1f} Mbit/s  ({direction.upper()}, FR{fr}, {bandwidth_mhz} MHz @ "
               f"{scs_khz} kHz = {prbs} PRB, {layers} layers, {modulation}, f={scaling})")
    if share is not None:
        click.echo(f"{rate * share:,.1f} Mbit/s  with TDD {tdd}"
                   f"{' S=' + special if special else ''} ({direction.upper()} share "
                   f"{share:.3f})")


cli.add_command(sim)
cli.add_command(devices)
cli.add_command(verify)
for _command in RESULT_COMMANDS:
    cli.add_command(_command)


cli.add_command(report)
cli.add_command(pm)
cli.add_command(record)
cli.add_command(show)
cli.add_command(submit)
cli.add_command(agent)
cli.add_command(queue_cmd)
cli.add_command(wait)
cli.add_command(cancel)
cli.add_command(hold)
cli.add_command(release)
cli.add_command(campaign)


def main() -> None:
    """Console-script entry point."""
    cli()
