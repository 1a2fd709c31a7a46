"""`harness record DEVICE --lab LAB -o DIR`: capture what a device's profile reads, for replay.

Writes DIR/DEVICE.snmprec (snmpsim's format), DIR/cli/*.txt (one transcript per command) and
DIR/recording.json; a lab device with `simulated: {replay: DIR}` is then served from it.
Exit status: 0 recorded, 2 bad input, 3 the device could not be read.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from harness.base.errors import ConfigError, HarnessError

EXIT_BAD_INPUT, EXIT_UNREACHABLE = 2, 3


@click.command("record")
@click.argument("device")
@click.option("--lab", "lab_path", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("lab.yaml"), show_default=True, help="The bench description.")
@click.option("-o", "--out", "out", type=click.Path(path_type=Path, file_okay=False),
              required=True, help="Folder to write the recording into (created).")
def record(device: str, lab_path: Path, out: Path) -> None:
    """Record DEVICE's SNMP subtrees and CLI output that its profile reads (changes nothing).

    \b
    Exit codes: 0 recorded, 2 bad input (lab, device name), 3 device unreachable.
    """
    from harness.base.loader import load_model
    from harness.config.lab import Lab
    from harness.engine.inputs import check_secrets

    try:
        if not lab_path.exists():
            raise ConfigError(f"no lab file {lab_path}; give one with --lab")
        lab = load_model(lab_path, Lab)
        check_secrets(lab, lab_path)
        if device not in lab.devices or lab.devices[device].role not in ("gnodeb", "core"):
            names = [n for n, d in lab.devices.items() if d.role in ("gnodeb", "core")]
            raise ConfigError(f"no gNodeB or core named {device!r} in {lab_path} "
                              f"(recordable: {', '.join(names) or 'none'})")
        result = asyncio.run(_record(lab, device, out))
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except HarnessError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNREACHABLE)
    click.echo(f"recorded {device} into {out}: {result.objects} SNMP objects under "
               f"{len(result.subtrees)} subtrees, {len(result.transcripts)} command "
               f"transcript(s) in {result.seconds:.2f} s")
    for problem in result.problems:
        click.echo(f"warning: not recorded: {problem}", err=True)


async def _record(lab: Any, name: str, out: Path) -> Any:
    from drivers.record import record_device
    from harness.engine.bench import open_bench

    work = Path(tempfile.mkdtemp(prefix="ran-harness-record-"))
    try:
        bench = await open_bench(lab, work)
        try:
            device = bench.gnbs.get(name) or bench.cores.get(name)
            profile = getattr(device, "profile", None)
            if device is None or profile is None:
                raise ConfigError(f"device {name} has no vendor profile to record from")
            return await record_device(name, profile, snmp=getattr(device, "snmp", None),
                                       ssh=getattr(device, "ssh", None), folder=out)
        finally:
            await bench.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
