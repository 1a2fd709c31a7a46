"""What every simulated device's command line shares: reading a line, refusing a command,
and `show version`.

A device CLI (`GnbCli`, `CoreCli`) implements `dispatch(words)`; `DeviceCli.__call__` splits
the line as a shell would and turns a refusal into `% reason` with exit status 1.
"""

from __future__ import annotations

import shlex

from harness.simlab.core import CoreIdentity
from harness.simlab.gnb import GnbIdentity


class CliError(Exception):
    """A command the device refuses; the text is shown after '% '."""


def invalid(words: list[str]) -> CliError:
    """The refusal of a line that is no command of this device."""
    return CliError(f"Invalid input: '{' '.join(words)}' (type 'help')")


def version_text(identity: GnbIdentity | CoreIdentity, uptime_ticks: int,
                 functions: str = "") -> str:
    """`show version`: vendor and model (with the network functions it plays), software
    version, serial number and uptime in whole seconds."""
    model = f"{identity.model} ({functions})" if functions else identity.model
    return (
        f"{identity.vendor} {model}\n"
        f"Software version : {identity.firmware}\n"
        f"Serial number    : {identity.serial}\n"
        f"Uptime           : {uptime_ticks // 100} s\n"
    )


class DeviceCli:
    """Interprets one command line; returns (output, exit status)."""

    refusals: tuple[type[Exception], ...] = (CliError,)
    """Exceptions whose text is the device's answer to a refused command."""

    def __call__(self, line: str) -> tuple[str, int]:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return f"% Invalid input: {exc}\n", 1
        if not words:
            return "", 0
        try:
            return self.dispatch(words), 0
        except self.refusals as exc:
            return f"% {exc}\n", 1

    def dispatch(self, words: list[str]) -> str:
        """The output of the command `words`; raises one of `refusals` to refuse it."""
        raise NotImplementedError
