"""The per-device log: one logger per device instance, carrying the device name and run id,
that masks every secret the device was given before a record is made.

Drivers and transports write every command they send and what came back here. A run directory
gets one file per device (`DeviceLogFiles`), so the evidence of what was done to a device is
next to the results, and never holds a password.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

MASK = "***"
LOGGER_PREFIX = "drivers.device"
_FORMAT = "%(asctime)s %(levelname)s [%(device)s run=%(run_id)s] %(message)s"


class DeviceLog:
    """Logger of one device instance; `mask()` registers secret values never to be written."""

    def __init__(self, device: str, *, run_id: str = "") -> None:
        self.device = device
        self.run_id = run_id
        self.logger = logging.getLogger(f"{LOGGER_PREFIX}.{device}")
        self._secrets: set[str] = set()

    def mask(self, *values: str | None) -> None:
        """Never write these values (passwords, communities, keys): they become `***`."""
        self._secrets.update(v for v in values if v)

    def redact(self, text: str) -> str:
        """`text` with every registered secret replaced by `***` (longest first)."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def enabled(self, level: int) -> bool:
        """True when a record at `level` would be written somewhere."""
        return self.logger.isEnabledFor(level)

    def log(self, level: int, message: str, *args: object) -> None:
        """Format now, mask, then log with the device and run id attached."""
        if not self.logger.isEnabledFor(level):
            return
        text = message % args if args else message
        self.logger.log(level, self.redact(text),
                        extra={"device": self.device, "run_id": self.run_id})

    def debug(self, message: str, *args: object) -> None:
        """Log at DEBUG (command output goes here)."""
        self.log(logging.DEBUG, message, *args)

    def info(self, message: str, *args: object) -> None:
        """Log at INFO (every command sent to the device goes here)."""
        self.log(logging.INFO, message, *args)

    def warning(self, message: str, *args: object) -> None:
        """Log at WARNING."""
        self.log(logging.WARNING, message, *args)


class DeviceLogFiles:
    """Writes each named device's log to `<folder>/<device>.log` while open (a context).

    The device loggers are set to DEBUG for the duration, so command output is kept; their
    previous levels are put back on close.
    """

    def __init__(self, folder: Path, devices: Iterable[str]) -> None:
        self.folder = folder
        self.devices = list(devices)
        self._handlers: list[tuple[logging.Logger, logging.Handler, int]] = []

    def open(self) -> DeviceLogFiles:
        """Create the folder and attach one file handler per device."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for device in self.devices:
            logger = logging.getLogger(f"{LOGGER_PREFIX}.{device}")
            handler = _DeviceLogFile(self.folder / f"{device}.log", encoding="utf-8")
            handler.setFormatter(_DeviceFormatter(_FORMAT))
            handler.setLevel(logging.DEBUG)
            self._handlers.append((logger, handler, logger.level))
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
        return self

    def close(self) -> None:
        """Detach and close the handlers; safe to call twice."""
        handlers, self._handlers = self._handlers, []
        for logger, handler, level in handlers:
            logger.removeHandler(handler)
            logger.setLevel(level)
            try:
                handler.close()  # flushes what is buffered: a full disk refuses it here too
            except OSError as exc:
                if isinstance(handler, _DeviceLogFile):
                    handler.failed = handler.failed or exc

    def __enter__(self) -> DeviceLogFiles:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _DeviceLogFile(logging.FileHandler):
    """A device's log file that a full or read-only disk does not turn into a traceback per
    record: the write is dropped (the run reports the storage fault through its own files)."""

    failed: OSError | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            self.failed = self.failed or exc
            return
        super().handleError(record)


class _DeviceFormatter(logging.Formatter):
    """Fills `device`/`run_id` for records that did not come through a DeviceLog."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "device"):
            record.device = record.name.rsplit(".", 1)[-1]
        if not hasattr(record, "run_id"):
            record.run_id = ""
        return super().format(record)
