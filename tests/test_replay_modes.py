"""A replayed device answers a command with the transcript of the mode it comes in: the same
command recorded as an exec request and at the interactive CLI, with different outputs, is
replayed as each (fails on the old code, which kept one transcript per command text). A
command recorded in one mode only answers in both; the same (mode, command) twice is a
ConfigError naming both files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.transport.ssh import CliOptions, SshTarget, SshTransport
from harness.base.errors import ConfigError
from harness.base.secrets import Secret
from harness.base.transcript import Transcript, format_transcript
from harness.simlab.replay import ReplayDevice, load_recording
from harness.simlab.snmp_agent import AgentCredentials
from tests.conftest import free_port

PASSWORD = "replay-modes-1"


def _write(folder: Path, *transcripts: Transcript) -> None:
    (folder / "cli").mkdir(parents=True, exist_ok=True)
    for number, transcript in enumerate(transcripts, start=1):
        (folder / "cli" / f"{number:02d}-t.txt").write_text(format_transcript(transcript),
                                                           encoding="utf-8")


def _exec_and_cli(folder: Path, tmp: Path) -> tuple[list[str], list[str]]:
    """(exec outputs, CLI outputs) of `show version` and `show clock` on the replayed device."""
    device = ReplayDevice(
        "gnb9", load_recording(folder), host="127.0.0.1", snmp_port=free_port(),
        ssh_port=free_port(), ssh_users={"admin": PASSWORD}, host_key_file=tmp / "host_key",
        credentials=AgentCredentials("public", "harness", "authkey-123", "privkey-123"))

    async def go() -> tuple[list[str], list[str]]:
        await device.start()
        try:
            known = tmp / "known_hosts"
            known.write_text(f"[127.0.0.1]:{device.ssh_port} {device.ssh.host_key_line}\n")
            target = SshTarget(host="127.0.0.1", port=device.ssh_port, user="admin",
                               password=Secret(PASSWORD), known_hosts=str(known),
                               timeout_s=5.0, command_timeout_s=5.0)
            commands = ("show version", "show clock")
            async with SshTransport(target, device="gnb9") as transport:
                execs = [(await transport.run(c)).stdout for c in commands]
                async with await transport.open_cli(CliOptions(prompt=r"^gnb9# $")) as cli:
                    typed = [await cli.send(c) for c in commands]
            return execs, typed
        finally:
            await device.stop()

    return asyncio.run(go())


def test_exec_and_cli_transcripts_of_one_command_replay_apart(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    _write(folder,
           Transcript("show version", "exec", 0, "exec-version 1.0\n"),
           Transcript("show version", "cli", 0, "Acme gNB\nVersion : 2.1.0\n"),
           Transcript("show clock", "cli", 0, "12:00:00 UTC\n"))  # CLI only: both modes
    execs, typed = _exec_and_cli(folder, tmp_path)
    assert execs == ["exec-version 1.0\n", "12:00:00 UTC\n"]
    assert [t.splitlines() for t in typed] == [["Acme gNB", "Version : 2.1.0"],
                                               ["12:00:00 UTC"]]


def test_one_mode_and_command_recorded_twice_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    _write(folder, Transcript("show version", "cli", 0, "a\n"),
           Transcript("show version", "cli", 0, "b\n"))
    with pytest.raises(ConfigError) as info:
        load_recording(folder)
    assert "02-t.txt" in str(info.value) and "01-t.txt" in str(info.value)
