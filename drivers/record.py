"""Recording a device for replay: what its profile reads, captured once from the real thing.

An SNMP walk of every subtree the profile reads (facts, KPIs, cell table and parameters, alarm
table — any OID or OID template anywhere in the profile), written in snmpsim's `.snmprec`
format, and a transcript of every command the profile reads with (`command_facts`, and the
parameterless `show…` actions), one file per command. Nothing that changes the device is sent.

Layout of a recording folder:
    DEVICE.snmprec        the walk (snmpsim serves it as community DEVICE)
    cli/NN-SLUG.txt       one transcript per command (harness.base.transcript)
    recording.json        device, profile, when, what was walked and which files hold what
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drivers.profile import Profile
from drivers.transport.snmp import NoSuchValue, SnmpTransport
from drivers.transport.ssh import SshTransport
from harness.base import jsonio
from harness.base.errors import HarnessError
from harness.base.snmprec import TAG_NAMES, format_record
from harness.base.transcript import Transcript, format_transcript

__all__ = ["RECORDING_FORMAT_VERSION", "Recording", "profile_commands", "profile_subtrees",
           "record_device"]

RECORDING_FORMAT_VERSION = 1
_OID_TEMPLATE = re.compile(r"^\.?[0-9]+(\.([0-9]+|\{[A-Za-z_]+\}))+$")
_SYSTEM = "1.3.6.1.2.1.1"  # SNMPv2-MIB system group: sysDescr, sysObjectID, sysUpTime, sysName
_HEX_TEXT = re.compile(r"^0x([0-9a-f]{2})+$")


@dataclass
class Recording:
    """What one `record_device` call wrote."""

    folder: Path
    snmprec: Path | None = None
    objects: int = 0
    subtrees: list[str] = field(default_factory=list)
    transcripts: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # commands that could not be recorded


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def profile_subtrees(profile: Profile) -> list[str]:
    """The smallest set of subtrees covering every OID the profile reads (plus the system
    group): a template's part before its first `{…}`, an exact OID's parent (its column)."""
    roots = {_SYSTEM}
    for text in _strings(profile.model_dump()):
        if not _OID_TEMPLATE.match(text):
            continue
        oid = text.lstrip(".")
        root = oid.split("{", 1)[0].rstrip(".") if "{" in oid else oid.rpartition(".")[0]
        if root.count(".") >= 2:
            roots.add(root)
    ordered = sorted(roots, key=lambda o: tuple(int(p) for p in o.split(".")))
    kept: list[str] = []
    for root in ordered:
        if not any(root == k or root.startswith(k + ".") for k in kept):
            kept.append(root)
    return kept


def profile_commands(profile: Profile) -> list[tuple[str, str]]:
    """(mode, command) of every command the profile reads with, each once: its
    `command_facts`, and its parameterless actions named `show…` (no action that changes
    the device)."""
    found: dict[tuple[str, str], None] = {}
    for fact in profile.command_facts.values():
        found[(fact.mode, fact.command)] = None
    for name, action in profile.actions.items():
        if not name.startswith("show") or action.params or action.command is None:
            continue
        commands = action.command if isinstance(action.command, list) else [action.command]
        mode = "cli" if action.mode != "exec" else "exec"
        for command in commands:
            if "{" not in command:
                found[(mode, command)] = None
    return list(found)


def _snmprec_value(tag: int, value: object) -> object:
    """The value as the .snmprec writer takes it (OCTET STRINGs our codec showed as 0x… hex
    because they are binary go back to bytes)."""
    if tag in (4, 68) and isinstance(value, str) and _HEX_TEXT.match(value):
        return bytes.fromhex(value[2:])
    return value


def _slug(command: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", command).strip("-")[:40] or "command"


async def record_device(name: str, profile: Profile, *, snmp: SnmpTransport | None,
                        ssh: SshTransport | None, folder: Path) -> Recording:
    """Walk the profile's subtrees and run its read commands on device `name`; write the
    recording into `folder` (created). Raises HarnessError when the SNMP walk fails."""
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    result = Recording(folder=folder)
    manifest: dict[str, Any] = {
        "format_version": RECORDING_FORMAT_VERSION, "device": name, "profile": profile.name,
        "recorded": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "snmprec": None, "subtrees": [], "transcripts": [], "prompt": None}
    if snmp is not None:
        lines: dict[tuple[int, ...], str] = {}
        result.subtrees = profile_subtrees(profile)
        for root in result.subtrees:
            for oid, tag, value in await snmp.walk_typed(root):
                if isinstance(value, NoSuchValue) or tag not in TAG_NAMES:
                    continue
                key = tuple(int(p) for p in oid.split("."))
                lines[key] = format_record(oid, tag, _snmprec_value(tag, value))  # type: ignore[arg-type]
        result.snmprec = folder / f"{name}.snmprec"
        result.snmprec.write_text("".join(lines[k] + "\n" for k in sorted(lines)),
                                  encoding="utf-8")
        result.objects = len(lines)
        manifest.update(snmprec=result.snmprec.name, subtrees=result.subtrees)
    commands = profile_commands(profile)
    if commands and ssh is not None:
        cli_dir = folder / "cli"
        cli_dir.mkdir(exist_ok=True)
        session = None
        for number, (mode, command) in enumerate(commands, start=1):
            try:
                if mode == "exec":
                    run = await ssh.run(command)
                    transcript = Transcript(command, mode, run.exit_status,
                                            run.stdout + run.stderr)
                else:
                    if session is None:
                        if profile.cli is None:
                            raise HarnessError(f"profile {profile.name} has no `cli:` section")
                        # open_cli has run the profile's on_connect commands already
                        session = await ssh.open_cli(profile.cli.options())
                        manifest["prompt"] = session.prompt
                    output = await session.send(command, check=False)
                    transcript = Transcript(command, mode, 0, output)
            except HarnessError as exc:
                result.problems.append(f"{command!r}: {exc}")
                continue
            path = cli_dir / f"{number:02d}-{_slug(command)}.txt"
            path.write_text(format_transcript(transcript), encoding="utf-8")
            result.transcripts.append(path)
            manifest["transcripts"].append({"command": command, "mode": mode,
                                            "file": f"cli/{path.name}"})
        if session is not None:
            await session.close()
    elif commands:
        result.problems.append("the profile reads commands but the lab gives no SSH: "
                               "no transcripts recorded")
    result.seconds = time.monotonic() - started
    manifest["seconds"] = round(result.seconds, 3)
    (folder / "recording.json").write_text(jsonio.dumps(manifest, indent=2) + "\n",
                                           encoding="utf-8")
    return result
