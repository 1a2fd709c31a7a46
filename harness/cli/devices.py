"""`harness devices`: what is on the bench and whether each way of reaching it works.

Connects to every device of the lab (starting the simulated lab first if the lab has one),
reads its facts and checks each transport, and runs nothing on the devices. An unreachable
device is a row saying why, not a crash. Exit status: 0 all reachable, 3 otherwise, 2 bad input.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from drivers.capabilities import Facts, Reachability, TrafficEndpoint, TransportStatus
from harness.base import jsonio
from harness.base.errors import ConfigError, HarnessError

EXIT_UNREACHABLE = 3
EXIT_BAD_INPUT = 2
DEVICES_FORMAT_VERSION = 1
_FACTS = ("description", "vendor", "model", "serial", "firmware", "uptime_s")


@click.command("devices")
@click.option("--lab", "lab_path", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("lab.yaml"), show_default=True, help="The bench description.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def devices(lab_path: Path, as_json: bool) -> None:
    """Connect to every device and show its facts and reachability (runs nothing on it).

    \b
    Exit codes: 0 every device reachable
                2 bad input (lab file, secrets)
                3 a device unreachable (or the bench could not be opened)"""
    from harness.base.loader import load_model
    from harness.config.lab import Lab
    from harness.engine.inputs import check_secrets

    try:
        if not lab_path.exists():
            raise ConfigError(f"no lab file {lab_path}; give one with --lab")
        lab = load_model(lab_path, Lab)
        check_secrets(lab, lab_path)
        report = asyncio.run(survey(lab))
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except HarnessError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNREACHABLE)
    if as_json:
        click.echo(jsonio.dumps(report, indent=2, ensure_ascii=False))
    else:
        Console(width=160).print(render_table(report))
    sys.exit(0 if report["reachable"] else EXIT_UNREACHABLE)


async def survey(lab: Any) -> dict[str, Any]:
    """Open the bench, check every device concurrently, close it; the report as a dict."""
    from harness.engine.bench import open_bench

    work = Path(tempfile.mkdtemp(prefix="ran-harness-devices-"))
    try:
        bench = await open_bench(lab, work)
        try:
            equipment: dict[str, object] = {**bench.gnbs, **bench.cores, **bench.hosts}
            rows = await asyncio.gather(*(
                _row(name, lab.devices[name].role, bench.drivers.get(name, ""), device)
                for name, device in equipment.items()))
        finally:
            await bench.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    order = list(lab.devices)
    rows.sort(key=lambda r: order.index(r["name"]))
    return {"format_version": DEVICES_FORMAT_VERSION, "lab": lab.name, "devices": rows,
            "reachable": all(r["reachable"] for r in rows)}


async def _row(name: str, role: str, driver: str, device: object) -> dict[str, Any]:
    """One device's facts and transports; failures become text in the row."""
    row: dict[str, Any] = {"name": name, "role": role, "driver": driver,
                           "profile": getattr(getattr(device, "profile", None), "name", None),
                           "transports": {}, "facts": dict.fromkeys(_FACTS), "error": None}
    statuses: list[TransportStatus] = []
    try:
        if isinstance(device, Reachability):
            statuses = await device.reachability()
        if isinstance(device, TrafficEndpoint):
            row["tools"] = await device.tools()
            versions = row["tools"]
            row["facts"]["description"] = ", ".join(
                f"{tool} {version}" for tool, version in versions.items() if version)
        if isinstance(device, Facts) and all(s.ok for s in statuses):
            facts = await device.facts()
            row["facts"] = {k: getattr(facts, k) for k in _FACTS}
            if not statuses:
                statuses = [TransportStatus("snmp", True)]
    except HarnessError as exc:
        row["error"] = str(exc)
        if not statuses:
            statuses = [TransportStatus("device", False, str(exc))]
    for status in statuses:
        entry: dict[str, Any] = {"ok": status.ok, "error": status.error or None}
        if status.transport == "ssh":
            entry["host_key_policy"] = status.detail or None
        row["transports"][status.transport] = entry
    row["reachable"] = bool(statuses) and all(s.ok for s in statuses)
    return row


def render_table(report: dict[str, Any]) -> Table:
    """The report as a rich table: one row per device, problems spelled out."""
    table = Table(title=f"lab {report['lab']}", show_lines=True)
    for column in ("device", "role / driver", "reachability", "sysDescr", "vendor", "model",
                   "serial", "firmware", "uptime"):
        table.add_column(column, overflow="fold")
    for row in report["devices"]:
        facts = row["facts"]
        reach = []
        for transport, status in row["transports"].items():
            mark = "ok" if status["ok"] else f"ERROR: {status['error']}"
            policy = status.get("host_key_policy")
            reach.append(f"{transport} {mark}" + (f" (host key {policy})" if policy else ""))
        if row["error"] and all(s["ok"] for s in row["transports"].values()):
            reach.append(f"facts ERROR: {row['error']}")
        uptime = facts.get("uptime_s")
        table.add_row(
            row["name"], f"{row['role']} / {row['driver']}",
            "\n".join(reach) or "-", facts.get("description") or "", facts.get("vendor") or "",
            facts.get("model") or "", facts.get("serial") or "", facts.get("firmware") or "",
            _duration(uptime) if isinstance(uptime, int | float) else "")
    return table


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"
