"""What a monitor reaches through the bench (the engine's `Bench` is one; monitors never
import it: layers engine → monitors)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

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
    def lab_status(self) -> Callable[[], Awaitable[Mapping[str, Any]]] | None:
        """The simulated lab's status (its devices' live counters), None on a real lab."""
        ...

    @property
    def traps(self) -> TrapHub | None:
        """The run's trap receivers (alarm monitors subscribe), None without any."""
        ...
