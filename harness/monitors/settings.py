"""The scenario's `monitors:` block: which monitors run beside each trial, and how."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator

from harness.config.types import Duration, NonEmptyStr, StrictModel


def _percent(value: object) -> object:
    """`5%` (or 5) → 5.0: a percentage given with or without its sign."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()[:-1].strip()
    return value


Percent = Annotated[float, BeforeValidator(_percent), Field(ge=0, le=100)]


class AlarmMonitorSettings(StrictModel):
    """Alarm capture: traps as they come, and the active-alarm table polled."""

    enabled: bool = True
    interval: Duration = 2.0  # how often the active-alarm table is read

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0 s")
        return value


class HealthMonitorSettings(StrictModel):
    """Device health (CPU, memory, temperature) polled through the profile's KPIs."""

    enabled: bool = True
    interval: Duration = 2.0

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0 s")
        return value


class CrosscheckSettings(StrictModel):
    """UE-measured volume against the gNodeB's PDCP volume counter, within a tolerance."""

    enabled: bool = True
    # % of the UE-measured volume; unset: the lab's `crosscheck.tolerance`, else 5 %
    tolerance: Percent | None = None
    kpi_dl: NonEmptyStr = "DRB.PdcpSduVolumeDL"
    kpi_ul: NonEmptyStr = "DRB.PdcpSduVolumeUL"


DEFAULT_TOLERANCE = 5.0  # % of the UE-measured volume, when neither scenario nor lab sets one


class MonitorSettings(StrictModel):
    """Monitors that run during every trial."""

    alarms: AlarmMonitorSettings = AlarmMonitorSettings()
    health: HealthMonitorSettings = HealthMonitorSettings()
    crosscheck: CrosscheckSettings = CrosscheckSettings()
