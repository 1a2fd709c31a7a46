"""`harness agent --lab LAB.yaml [--lab …] --executor-id ID [--db URL]`: serve the queues of
these benches: one run at a time per bench, different benches in parallel; after a restart
with the same executor id, its unfinished runs resume from their run directories."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from harness.base.errors import ConfigError
from harness.cli.params import HTTP_URL
from harness.cli.submit import db_option

if TYPE_CHECKING:
    from harness.campaign.push import CentrePush
    from harness.campaign.watch import DbWatch
    from harness.config.lab import Lab

EXIT_BAD_INPUT = 2
STOP_WAIT_S = 90.0
"""How long a stopping agent waits for its interrupted runs to restore their devices."""


@click.command()
@click.option("--lab", "labs", multiple=True, required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A bench this agent serves (its `name:` is the bench); repeatable.")
@click.option("--executor-id", required=True,
              help="This agent's fixed id: a restarted agent recovers the runs it had under "
                   "way. Never run two agents with one id.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("reports"), show_default=True,
              help="Where queued runs go: OUT/RUN_ID/ holds the run directory.")
@click.option("--pdf/--no-pdf", "pdf", default=True, show_default=True,
              help="Let each run print report.pdf (as `harness run --pdf`); the PDF takes "
                   "several seconds per run.")
@click.option("--dry-run", is_flag=True,
              help="Take the queued runs but only `harness validate` each scenario against "
                   "its bench's lab (no device touched): checks a campaign's plumbing.")
@click.option("--archive", "archive", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="After each run, copy its run directory into "
                                 "ARCHIVE/BENCH/ if its signature verifies against the bench's "
                                 "registered key (--key, --campaign).")
@click.option("--key", "key_options", multiple=True, metavar="BENCH=PUBKEY",
              help="The registered Ed25519 public key of a bench (for --archive); repeatable.")
@click.option("--campaign", "campaigns", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Take the registered keys from this campaign file's `keys:`; repeatable.")
@click.option("--influx-url", type=HTTP_URL, default=None,
              help="After each run, send its samples to the centre's InfluxDB v2 API here "
                   "(token: --influx-token, else $INFLUX_TOKEN, else the bench lab's "
                   "results.influxdb.token when it names this server).")
@click.option("--influx-org", default=None, help="The centre's InfluxDB org.")
@click.option("--influx-bucket", default=None, help="The centre's InfluxDB bucket.")
@click.option("--influx-token", "influx_token", default=None, metavar="REF",
              help="The centre's token by reference: '${env:NAME}' or '${file:PATH}' "
                   "(never the token itself).")
@click.option("--influx-retry", "influx_retry", type=click.FloatRange(min=0.1), default=30.0,
              show_default=True, metavar="SECONDS",
              help="Retry the runs whose points are still pending this often.")
@db_option
def agent(labs: tuple[Path, ...], executor_id: str, out_dir: Path, pdf: bool, dry_run: bool,
          archive: Path | None, key_options: tuple[str, ...], campaigns: tuple[Path, ...],
          influx_url: str | None, influx_org: str | None, influx_bucket: str | None,
          influx_token: str | None, influx_retry: float, db_url: str | None) -> None:
    """Run the runs queued for these benches until stopped (SIGTERM or Ctrl-C; a run under
    way is interrupted, its devices restored, and resumed at the next start). With --archive,
    each finished run directory is copied into the archive only if it verifies against its
    bench's registered key (else the queue entry says why it was not). With --influx-url,
    each run's samples go to the centre's InfluxDB through the run's spool: while it is
    unreachable they stay pending (queue entry `influx`) and are retried in the background.

    \b
    Exit codes: 0 stopped
                2 bad input (a lab file, two labs with one name, the database)"""
    from harness.base.loader import load_model
    from harness.campaign.bench_run import interrupt_children
    from harness.campaign.db import shown
    from harness.campaign.queue import AgentConfig, start_agent, stop_agent
    from harness.config.lab import Lab

    benches: dict[str, Path] = {}
    sites: dict[str, dict[str, str]] = {}
    say = _say(executor_id)
    try:
        loaded: dict[str, Lab] = {}
        for path in labs:
            lab = load_model(path, Lab)
            if lab.name in benches:
                raise ConfigError(f"{path}: bench {lab.name} is also {benches[lab.name]}")
            benches[lab.name] = path.resolve()
            sites[lab.name] = dict(lab.site)
            loaded[lab.name] = lab
        keys = _keys(key_options, campaigns)
        influx = _centre(loaded, influx_url, influx_org, influx_bucket, influx_token,
                         db_url, executor_id, say, influx_retry)
        out_dir.mkdir(parents=True, exist_ok=True)
        if archive is not None:
            archive.mkdir(parents=True, exist_ok=True)
        _one_agent_per_id(out_dir, executor_id)
        start_agent(db_url, AgentConfig(executor_id, benches, out_dir.resolve(),
                                          run_args=() if pdf else ("--no-pdf",),
                                          dry_run=dry_run, sites=sites,
                                          archive=archive.resolve() if archive else None,
                                          keys=keys, influx=influx))
    except (ConfigError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"agent {executor_id} serving {', '.join(sorted(benches))} from "
               f"{shown(db_url)}", err=True)
    if influx is not None:
        click.echo(f"agent {executor_id}: each run's samples go to "
                   f"{next(iter(influx.targets.values())).dest}", err=True)
        influx.start()
    watch = _watch(db_url, executor_id, say)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop.wait(1.0):
        pass
    click.echo(f"agent {executor_id} stopping: runs under way are interrupted and resume at "
               "the next start", err=True)
    watch.stop()
    if influx is not None:
        influx.stop()
    interrupt_children(STOP_WAIT_S)
    stop_agent()
    os._exit(0)  # the interrupted runs' steps must never record an end


def _say(executor_id: str) -> Callable[[str], None]:
    """One time-stamped line on the agent's stderr."""
    from datetime import UTC, datetime

    def say(line: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        click.echo(f"{stamp} agent {executor_id}: {line}", err=True)

    return say


def _watch(db_url: str | None, executor_id: str, say: Callable[[str], None]) -> DbWatch:
    """Say on stderr when the database is lost and when it is back (watch.py)."""
    from harness.campaign.db import masked, resolve_url
    from harness.campaign.watch import DbWatch

    resolved = resolve_url(db_url)
    return DbWatch(resolved, say, masked=lambda text: masked(text, resolved)).start()


def _centre(labs: dict[str, Lab], url: str | None, org: str | None, bucket: str | None,
            token_ref: str | None, db_url: str | None, executor_id: str,
            say: Callable[[str], None], retry_s: float) -> CentrePush | None:
    """The hand-off to the centre's InfluxDB (None without --influx-url): one target per
    bench, the token resolved now (ConfigError when it cannot be; never printed)."""
    from harness.base.secrets import Secret
    from harness.campaign.db import resolve_url
    from harness.campaign.push import CentrePush
    from harness.store.influx import resolve_target, settings_for

    if url is None:
        if org or bucket or token_ref:
            raise ConfigError("--influx-org/--influx-bucket/--influx-token need --influx-url")
        return None
    environ = dict(os.environ)
    if token_ref is not None:
        try:
            secret = Secret(token_ref)
            if secret.inline:
                raise ValueError("give it by reference ('${env:NAME}' or '${file:PATH}'): "
                                 "a command line is visible to every user of the machine")
            environ["INFLUX_TOKEN"] = secret.reveal()
        except (ValueError, ConfigError) as exc:
            raise ConfigError(f"--influx-token: {exc}") from None
    targets = {}
    for bench, lab in labs.items():
        settings = settings_for(lab.results.influxdb, url)  # another server's token: not sent
        target = resolve_target(settings, url=url, org=org, bucket=bucket, environ=environ)
        assert target is not None  # the url is given
        targets[bench] = target
    return CentrePush(targets, resolve_url(db_url), executor_id, say, retry_s)


def _keys(key_options: tuple[str, ...], campaigns: tuple[Path, ...]) -> dict[str, Path]:
    """bench ("*": every bench) → registered public key, from campaign files then --key."""
    from harness.campaign.archive import parse_key_option
    from harness.campaign.spec import load_campaign

    keys: dict[str, Path] = {}
    for path in campaigns:
        keys.update({b: k.resolve() for b, k in load_campaign(path).keys.items()})
    for option in key_options:
        bench, key = parse_key_option(option)
        keys[bench] = key
    return keys


_HELD: list[int] = []  # the executor id's lock, held for the agent's life


def _one_agent_per_id(out_dir: Path, executor_id: str) -> None:
    """Refuse a second agent with this executor id on this output directory (two would
    recover each other's runs): a flock on OUT/.queue/agent-ID.lock."""
    import fcntl

    path = out_dir / ".queue" / f"agent-{executor_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"another agent with executor id {executor_id} is running on "
                          f"{out_dir}") from None
    _HELD.append(fd)
