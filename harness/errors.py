"""One exception root for everything the harness reports to a user."""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose; its message says how to fix it."""


class ConfigError(HarnessError):
    """A lab, scenario or profile file is wrong: the message names file, line, column and field."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None, field: str | None = None) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        where = ""
        if file is not None:
            where = file
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        if field:
            where += f"{field}: "
        super().__init__(where + message)
        self.reason = message


class DeviceUnreachable(HarnessError):
    """A device did not answer (timeout, refused connection) on some transport."""


class AuthFailed(HarnessError):
    """A device refused our credentials (SNMP community / USM user, SSH login)."""


class CommandFailed(HarnessError):
    """A device command ran but reported failure; the message carries the device output."""


class ToolMissing(HarnessError):
    """A traffic tool (iperf3, irtt) is not installed where it is needed."""


class MeasurementError(HarnessError):
    """A traffic tool ran but produced no usable measurement."""
