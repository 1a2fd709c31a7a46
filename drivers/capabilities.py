"""What the runner may ask of a device, as typing.Protocols; drivers implement the ones they can."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class DeviceFacts:
    """Identity of a device as it reports itself."""

    vendor: str
    model: str
    serial: str
    firmware: str
    description: str = ""
    uptime_s: float | None = None


@dataclass(frozen=True)
class KpiReading:
    """One raw KPI reading: the device's number before rate/scale processing."""

    name: str
    cell: int
    raw: int | float
    kind: str  # gauge | counter32 | counter64
    unit: str
    scale: float


@runtime_checkable
class Facts(Protocol):
    """A device that can say what it is."""

    async def facts(self) -> DeviceFacts: ...


@runtime_checkable
class KpiSource(Protocol):
    """A device whose performance counters can be polled."""

    def kpi_names(self) -> Sequence[str]: ...

    async def read_kpis(self, names: Sequence[str], cells: Sequence[int]) -> list[KpiReading]: ...


@runtime_checkable
class CellControl(Protocol):
    """A device whose cells can be read and reconfigured."""

    async def cell_ids(self) -> list[int]: ...

    async def cell_config(self, cell: int) -> dict[str, int | str]: ...

    async def set_cell(self, cell: int, params: Mapping[str, int | str]) -> None: ...


@runtime_checkable
class Closable(Protocol):
    """A device holding connections that must be released."""

    async def close(self) -> None: ...
