"""CLI transcripts of a recording: one file per command, a small header then the output verbatim.

```
command: show version
mode: exec
exit: 0
---
Software version : 1.0.0
```
`mode` is how the profile sends it (exec channel or the interactive CLI); `exit` the exit
status of an exec command (-1 when the device sent none). Everything after the `---` line is
the device's output, byte for byte (UTF-8).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.base.errors import ConfigError

__all__ = ["Transcript", "format_transcript", "load_transcript", "parse_transcript"]

_SEPARATOR = "---"
_MODES = ("exec", "cli")
_EXIT = re.compile(r"^-?[0-9]{1,3}$")


@dataclass(frozen=True)
class Transcript:
    """One recorded command: its line, how it was sent, its exit status and its output."""

    command: str
    mode: str
    exit_status: int
    output: str


def format_transcript(transcript: Transcript) -> str:
    """The file text of one transcript."""
    if "\n" in transcript.command or "\r" in transcript.command:
        raise ValueError("a recorded command is one line")
    return (f"command: {transcript.command}\nmode: {transcript.mode}\n"
            f"exit: {transcript.exit_status}\n{_SEPARATOR}\n{transcript.output}")


def parse_transcript(text: str, file: str) -> Transcript:
    """A transcript from its file text; ConfigError naming file:line for a malformed header."""
    lines = text.split("\n")
    ends = [i for i, line in enumerate(lines) if line.rstrip("\r") == _SEPARATOR]
    header = lines[: ends[0]] if ends else lines
    while not ends and header and not header[-1].strip():
        header = header[:-1]  # the file's final newline
    fields: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(header, start=1):
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in ("command", "mode", "exit"):
            raise ConfigError(f"expected 'command:', 'mode:', 'exit:' or '{_SEPARATOR}' before "
                              f"the output, got {line[:60]!r}", file=file, line=number)
        if key in fields:
            raise ConfigError(f"'{key}:' given twice (first on line {fields[key][1]})",
                              file=file, line=number)
        fields[key] = (value.strip(), number)
    if not ends:
        raise ConfigError(f"no '{_SEPARATOR}' line ending the header: the output must follow "
                          "one", file=file, line=len(header) + 1)
    output = "\n".join(lines[ends[0] + 1:])
    if "command" not in fields or not fields["command"][0]:
        where = fields["command"][1] if "command" in fields else 1
        raise ConfigError("the transcript names no command ('command: show version')",
                          file=file, line=where)
    mode, mode_line = fields.get("mode", ("exec", 0))
    if mode not in _MODES:
        raise ConfigError(f"mode {mode!r} is not one of {', '.join(_MODES)}", file=file,
                          line=mode_line)
    exit_text, exit_line = fields.get("exit", ("0", 0))
    if not _EXIT.match(exit_text):
        raise ConfigError(f"exit {exit_text!r} is not an exit status (a whole number)",
                          file=file, line=exit_line)
    return Transcript(fields["command"][0], mode, int(exit_text), output)


def load_transcript(path: Path) -> Transcript:
    """`parse_transcript` of a file; ConfigError when it cannot be read as UTF-8."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the transcript: {exc}", file=str(path)) from None
    return parse_transcript(text, str(path))
