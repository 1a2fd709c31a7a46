"""A planned trial: one concrete trial the engine runs and a kind measures (a value, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.judge.criteria import Criterion
from harness.kinds.base import TrialBase

__all__ = ["PlannedTrial"]


@dataclass(frozen=True)
class PlannedTrial:
    """One concrete trial to run: every placeholder filled, every default applied."""

    id: str
    repetition: int
    kind: str
    spec: TrialBase
    ue: str | None
    dn: str | None
    via: str | None
    cell: int
    duration_s: float
    omit_s: float
    timeout_s: float
    kpi_interval_s: float
    monitor: dict[str, list[str]]
    criteria: list[Criterion]
    params: dict[str, Any]
    min_samples: int | None = None
    metric_units: Mapping[str, str] = field(default_factory=dict)
    monitor_cells: tuple[int, ...] = ()  # the gNodeB cells KPIs are polled on; () = (cell,)

    @property
    def kpi_cells(self) -> list[int]:
        """The gNodeB cells the trial's KPIs are polled on (its own cell unless it names
        others with `monitor_cells:`)."""
        return list(self.monitor_cells or (self.cell,))

    @property
    def direction(self) -> str:
        """The spec's direction ("dl", "ul", "bidir"), "" for kinds without one."""
        value = getattr(self.spec, "direction", "")
        return value if isinstance(value, str) else ""

    @property
    def protocol(self) -> str:
        """The spec's protocol ("tcp", "udp"), "" for kinds without one."""
        value = getattr(self.spec, "protocol", "")
        return value if isinstance(value, str) else ""

    @property
    def streams(self) -> int:
        """The spec's iperf3 streams (1 for kinds without any)."""
        value = getattr(self.spec, "streams", 1)
        return value if isinstance(value, int) else 1

    @property
    def devices(self) -> frozenset[str]:
        """Every lab device this trial uses (trials on disjoint devices may run in parallel)."""
        return frozenset(self.spec.devices())
