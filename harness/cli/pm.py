"""`harness pm show FILE [--json]`: the counters of a 3GPP PM file (TS 32.435 XML, or .gz).

Exit codes: 0 shown; 2 the file cannot be read or is not a well-formed, safe measCollecFile
(the message names file:line).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from harness.base import jsonio

EXIT_BAD_INPUT = 2


@click.group()
def pm() -> None:
    """3GPP PM files (TS 32.435 measCollecFile XML, optionally gzip).

    \b
    Exit codes: 0 shown, 2 unreadable, malformed or hostile file (file:line says where)."""


@pm.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the counters as JSON.")
def show(file: Path, as_json: bool) -> None:
    """Print FILE's counters: object instance, cell, PLMN, period end, value, suspect.

    \b
    Exit codes: 0 shown
                2 unreadable, malformed or hostile file (file:line says where)"""
    from drivers.pm_files import PmFileError, parse_pm_file

    try:
        parsed = parse_pm_file(file)
    except PmFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    rows: list[dict[str, Any]] = [
        {"counter": v.counter, "object": v.ldn, "cell": v.cell, "plmn": v.plmn,
         "end": v.end.isoformat(), "granularity_s": v.granularity_s, "value": v.value,
         "suspect": v.suspect}
        for v in parsed.values]
    if as_json:
        click.echo(jsonio.dumps({
            "file": parsed.path, "sender": parsed.sender,
            "begin": parsed.begin.isoformat() if parsed.begin else None,
            "end": parsed.end.isoformat() if parsed.end else None, "values": rows}))
        return
    click.echo(f"{parsed.path}: sender {parsed.sender or '-'}, "
               f"{parsed.begin.isoformat() if parsed.begin else '?'} .. "
               f"{parsed.end.isoformat() if parsed.end else '?'}, {len(rows)} values")
    width = max((len(r["counter"]) for r in rows), default=7)
    for r in rows:
        value = "NIL" if r["value"] is None else f"{r['value']:g}"
        flag = "  suspect" if r["suspect"] else ""
        click.echo(f"  {r['counter']:<{width}}  {value:>14}  {r['object']}  "
                   f"(cell {r['cell'] if r['cell'] is not None else '-'}, "
                   f"PLMN {r['plmn'] or '-'}, {r['granularity_s']:g} s to {r['end']}){flag}")
