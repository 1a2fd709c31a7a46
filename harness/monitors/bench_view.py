"""What a monitor reaches through the bench (the engine's `Bench` is one; monitors never
import it: layers engine → monitors)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from drivers.capabilities import CoreDevice, GnodebDevice
from harness.config.lab import Lab
from harness.monitors.traps import TrapHub

__all__ = ["MonitorBench"]


class MonitorBench(Protocol):
    """The bench as a monitor sees it."""

    @property
    def lab(self) -> Lab:
        """The lab file's model."""
        ...

    @property
    def gnbs(self) -> Mapping[str, GnodebDevice]:
        """gNodeBs by lab name."""
        ...

    @property
    def cores(self) -> Mapping[str, CoreDevice]:
        """5G cores by lab name."""
        ...

    @property
    def traps(self) -> TrapHub | None:
        """The run's trap receivers (alarm monitors subscribe), None without any."""
        ...
