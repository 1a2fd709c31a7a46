"""The one sample model: (time, measurement, tags, fields), as InfluxDB line protocol has it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

FieldValue = float | int | bool | str


@dataclass(frozen=True)
class Sample:
    """One timestamped point.

    `time_ns` is nanoseconds since the Unix epoch; tags are low-cardinality identifiers
    (run_id, trial, device, kpi, direction...); fields are the measured values.
    """

    time_ns: int
    measurement: str
    tags: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
