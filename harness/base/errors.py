"""One exception root for everything the harness reports to a user."""

from __future__ import annotations

import errno


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


_STORAGE_HINTS = {
    "ENOSPC": "the disk is full: free space, or give --out on another disk",
    "EDQUOT": "the disk quota is used up: free space, or give --out elsewhere",
    "EROFS": "the file system is read-only: give --out on a writable disk",
    "ENOENT": "the directory is gone (deleted or unmounted during the run?)",
    "EACCES": "permission denied: give --out in a directory you can write",
    "EPERM": "not permitted: give --out in a directory you can write",
    "EIO": "the disk reported an I/O error",
    "SQLITE_FULL": "the disk is full: free space, or give --out on another disk",
    "SQLITE_READONLY": "the file or its directory is read-only",
    "SQLITE_IOERR": "the disk reported an I/O error (or the file was removed)",
}


class StorageError(HarnessError):
    """A run file could not be written (disk full, read-only or vanished directory, a failing
    SQLite commit): the message names the file, the system's reason and what to do."""

    def __init__(self, path: object, reason: str, *, code: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.code = code
        hint = next((h for key, h in _STORAGE_HINTS.items() if code.startswith(key)), "")
        super().__init__(f"cannot write {self.path}: {reason}" + (f" ({hint})" if hint else ""))

    @classmethod
    def from_os(cls, path: object, exc: OSError) -> StorageError:
        """From an OSError: its errno name and text (`No space left on device`)."""
        code = errno.errorcode.get(exc.errno or 0, "")
        reason = exc.strerror or str(exc)
        return cls(path, f"{reason} [{code}]" if code else reason, code=code)

    @classmethod
    def from_sqlite(cls, path: object, exc: Exception) -> StorageError:
        """From a sqlite3 error: its text and SQLite code (`database or disk is full`)."""
        code = str(getattr(exc, "sqlite_errorname", "") or "")
        return cls(path, f"{exc} [{code}]" if code else str(exc), code=code)
