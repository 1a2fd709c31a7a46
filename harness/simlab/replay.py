"""A recorded device, served again: SNMP from its `.snmprec`, its CLI from its transcripts.

`harness record` writes the recording (drivers/record.py); a lab device with
`simulated: {replay: DIR}` is then this: a real SNMP agent (the simulated lab's pysnmp agent,
v2c and v3 authPriv) answering every recorded object with its recorded type and value, and an
SSH server answering each recorded command with its recorded output and exit status — the
transcript of the mode it comes in (an exec request or a line typed at the interactive CLI;
a command recorded in one mode only answers in both). Facts,
cells and KPIs come from there through the device's profile like from the real device; the
values stand still (a replay is the instant it was recorded). A malformed recording is a
ConfigError naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.base import snmprec
from harness.base.errors import ConfigError
from harness.base.transcript import Transcript, load_transcript
from harness.simlab.snmp_agent import AgentCredentials, MibValue, SnmpAgent
from harness.simlab.ssh_server import SshCliServer

__all__ = ["Recording", "ReplayDevice", "load_recording"]

_KINDS = {snmprec.INTEGER: "Integer", snmprec.OID: "ObjectIdentifier",
          snmprec.IPADDR: "IpAddress", snmprec.COUNTER32: "Counter32",
          snmprec.GAUGE32: "Gauge32", snmprec.TIMETICKS: "TimeTicks",
          snmprec.COUNTER64: "Counter64", snmprec.OPAQUE: "Opaque"}
UNKNOWN_EXIT = 127


@dataclass(frozen=True)
class Recording:
    """A loaded recording: the MIB to serve, the commands it answers, the CLI prompt seen."""

    folder: Path
    mib: Mapping[tuple[int, ...], MibValue]
    commands: Mapping[tuple[str, str], Transcript]  # (mode, command) → its transcript
    prompt: str | None


def _snmprec_file(folder: Path, manifest: Mapping[str, object]) -> Path | None:
    named = manifest.get("snmprec")
    if isinstance(named, str):
        return folder / named
    found = sorted(folder.glob("*.snmprec"))
    if len(found) > 1:
        raise ConfigError(f"{len(found)} .snmprec files and no recording.json naming one: "
                          "keep one per recording folder", file=str(folder))
    return found[0] if found else None


def load_recording(folder: Path) -> Recording:
    """Read a recording folder (recording.json optional); ConfigError with file:line."""
    if not folder.is_dir():
        raise ConfigError("no such recording folder (make one with `harness record`)",
                          file=str(folder))
    manifest: dict[str, object] = {}
    manifest_file = folder / "recording.json"
    if manifest_file.exists():
        try:
            loaded = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            line = getattr(exc, "lineno", None)
            raise ConfigError(f"not a recording manifest: {exc}", file=str(manifest_file),
                              line=line) from None
        if not isinstance(loaded, dict):
            raise ConfigError("not a recording manifest (expected a JSON object)",
                              file=str(manifest_file), line=1)
        manifest = loaded
    mib: dict[tuple[int, ...], MibValue] = {}
    source = _snmprec_file(folder, manifest)
    if source is not None:
        for record in snmprec.load_snmprec(source):
            if record.tag == snmprec.NULL:
                continue
            if record.tag == snmprec.OCTETS:
                raw = record.value if isinstance(record.value, bytes) else b""
                mib[record.oid] = ("HexString", raw.hex())
            elif record.tag == snmprec.OPAQUE and isinstance(record.value, bytes):
                mib[record.oid] = ("Opaque", record.value.hex())
            else:
                mib[record.oid] = (_KINDS[record.tag], record.value)  # type: ignore[assignment]
    commands: dict[tuple[str, str], Transcript] = {}
    seen: dict[tuple[str, str], Path] = {}
    for path in sorted((folder / "cli").glob("*.txt")) if (folder / "cli").is_dir() else []:
        transcript = load_transcript(path)
        key = (transcript.mode, transcript.command)
        if key in seen:
            raise ConfigError(f"{transcript.mode} command {transcript.command!r} is also "
                              f"recorded in {seen[key].name}: keep one transcript per mode and "
                              "command", file=str(path), line=1)
        seen[key] = path
        commands[key] = transcript
    if not mib and not commands:
        raise ConfigError("the recording holds no .snmprec and no cli/*.txt transcript",
                          file=str(folder))
    prompt = manifest.get("prompt")
    return Recording(folder, mib, commands, prompt if isinstance(prompt, str) else None)


class ReplayDevice:
    """One recorded device served on `host`: SNMP on `snmp_port`, SSH on `ssh_port` (0: free
    ports, read back from `snmp_port`/`ssh_port` once started)."""

    def __init__(self, name: str, recording: Recording, *, host: str, snmp_port: int,
                 ssh_port: int, credentials: AgentCredentials, ssh_users: Mapping[str, str],
                 host_key_file: Path) -> None:
        self.name = name
        self.recording = recording
        self.agent = SnmpAgent(host=host, port=snmp_port, credentials=credentials,
                               provider=lambda: recording.mib)
        self.ssh = SshCliServer(host=host, port=ssh_port, users=dict(ssh_users),
                                host_key_file=host_key_file, mode_handler=self._answer,
                                prompt=recording.prompt or f"{name}# ")

    def _answer(self, command: str, mode: str) -> tuple[str, int]:
        """The transcript recorded in `mode`; else the one of the other mode, if any."""
        line = command.strip()
        other = "cli" if mode == "exec" else "exec"
        commands = self.recording.commands
        transcript = commands.get((mode, line)) or commands.get((other, line))
        if transcript is None:
            return (f"% {line!r} is not in the recording of {self.name} "
                    f"({self.recording.folder})\n", UNKNOWN_EXIT)
        return transcript.output, transcript.exit_status

    @property
    def snmp_port(self) -> int:
        """Where the SNMP agent listens."""
        return self.agent.port

    @property
    def ssh_port(self) -> int:
        """Where the SSH server listens."""
        return self.ssh.port

    async def start(self) -> None:
        """Start answering SNMP and SSH."""
        self.ssh.start()
        try:
            await self.agent.start()
        except BaseException:
            self.ssh.stop()
            raise

    async def stop(self) -> None:
        """Stop both servers."""
        try:
            await self.agent.stop()
        finally:
            self.ssh.stop()
