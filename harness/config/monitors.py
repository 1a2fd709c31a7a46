"""The scenario's `monitors:` block: which monitors run beside each trial, and how."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from harness.base.schema import Duration, NonEmptyStr, StrictModel, at_least


def _percent(value: object) -> object:
    """`5%` (or 5) → 5.0: a percentage given with or without its sign."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()[:-1].strip()
    return value


Percent = Annotated[float, BeforeValidator(_percent), Field(ge=0, le=100)]


MIN_POLL_INTERVAL_S = 0.1
PollInterval = Annotated[Duration, AfterValidator(at_least(MIN_POLL_INTERVAL_S,
                                                           "a device poll over SNMP"))]
"""How often a monitor polls a device: at least 0.1 s (as `kpi_interval`), never rounded."""


class AlarmMonitorSettings(StrictModel):
    """Alarm capture: traps as they come, and the active-alarm table polled."""

    enabled: bool = True
    interval: PollInterval = 2.0  # how often the active-alarm table is read


class HealthMonitorSettings(StrictModel):
    """Device health (CPU, memory, temperature) polled through the profile's KPIs."""

    enabled: bool = True
    interval: PollInterval = 2.0


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
