"""Compatibility re-export for plugins: the exceptions live in `harness.base.errors`."""

from __future__ import annotations

from harness.base.errors import (
    AuthFailed,
    CommandFailed,
    ConfigError,
    DeviceUnreachable,
    HarnessError,
    MeasurementError,
    StorageError,
    ToolMissing,
)

__all__ = [
    "AuthFailed",
    "CommandFailed",
    "ConfigError",
    "DeviceUnreachable",
    "HarnessError",
    "MeasurementError",
    "StorageError",
    "ToolMissing",
]
