"""The one sample model: (time, measurement, tags, fields), as InfluxDB line protocol has it.

The schema (which measurements, tags and fields exist) is documented in the README; the
constants here are the machine-readable part of it: what is a tag, which fields have a fixed
type, and the checks every store applies so that SQLite and InfluxDB always hold the same
points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.base.errors import HarnessError

FieldValue = float | int | bool | str

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

MEASUREMENTS: dict[str, str] = {
    "throughput": "one traffic-tool interval (iperf3): bits_per_second, bytes, retransmits",
    "latency": "one latency-tool interval (irtt, ping): rtt, ipdv, loss",
    "kpi": "one KPI reading polled from a device: value, raw, delta, rate (suspect)",
    "alarm": "an alarm raised or cleared on a device",
    "health": "a device health reading (CPU, memory, temperature, uptime)",
    "device_restart": "a device was seen restarting during a trial (uptime went back)",
    "verdict": "a trial's or run's verdict, with its metrics and criteria",
    "event": "something that happened in a run (setup step, warning, error)",
}
"""Measurements of the schema and what one point of each means."""

TAG_KEYS: tuple[str, ...] = (
    "run_id", "scenario", "lab", "site", "operator", "trial", "repetition", "level",
    "criterion", "device", "role", "vendor", "model", "firmware", "plmn", "cell", "kpi",
    "unit", "direction", "protocol", "severity", "kind",
)
"""Tags used by the schema. Every one takes a bounded set of values: never a sample id,
a counter value or free text (those are fields)."""

FIELD_TYPES: dict[tuple[str, str], type] = {
    ("kpi", "value"): float, ("kpi", "raw"): float, ("kpi", "delta"): float,
    ("kpi", "rate"): float,
    ("throughput", "bits_per_second"): float, ("throughput", "bytes"): int,
    ("throughput", "retransmits"): int,
}
"""Fields whose type is fixed: InfluxDB refuses a field that changes type, so an int given
for a float field is stored as a float (and the other way round) in every store."""


class SampleError(HarnessError):
    """A sample that no store can hold faithfully (NaN, a newline in a tag, an empty name...)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One timestamped point.

    `time_ns` is nanoseconds since the Unix epoch; tags are low-cardinality identifiers
    (run_id, trial, device, kpi, direction...); fields are the measured values.
    """

    time_ns: int
    measurement: str
    tags: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, FieldValue] = field(default_factory=dict)


def _bad_name(kind: str, name: object) -> str | None:
    if not isinstance(name, str):
        return f"{kind} {name!r} is not text"
    if not name:
        return f"{kind} is empty"
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        return f"{kind} {name!r} contains a control character (newline, tab...)"
    if "\\" in name:
        return (f"{kind} {name!r} contains a backslash, which InfluxDB and VictoriaMetrics "
                "read back differently")
    return None


def check_value(key: str, value: object) -> str | None:
    """Why a field value cannot be stored, or None when it can."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return f"field {key!r} = {value} does not fit a 64-bit integer"
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"field {key!r} is {value} (line protocol has no NaN or infinity)"
        return None
    if isinstance(value, str):
        if "\n" in value or "\r" in value:
            return f"field {key!r} contains a line break"
        return None
    return f"field {key!r} has type {type(value).__name__} (use float, int, bool or str)"


def series_problem(measurement: object, tags: Mapping[str, str]) -> str | None:
    """Why a measurement and tag set cannot be stored, or None when they can."""
    problem = _bad_name("measurement", measurement)
    if problem is None and str(measurement).startswith("#"):
        problem = f"measurement {measurement!r} starts with '#' (a comment line)"
    for key, value in tags.items():
        problem = problem or _bad_name("tag key", key)
        if problem is None and value != "":  # an empty tag is no tag, as in InfluxDB
            problem = _bad_name(f"tag {key!r} value", value)
    return problem


def fields_problem(fields: Mapping[str, object]) -> str | None:
    """Why a field set cannot be stored, or None when it can."""
    if not fields:
        return "no fields (a point needs at least one)"
    problem = None
    for key, value in fields.items():
        problem = problem or _bad_name("field key", key) or check_value(key, value)
    return problem


def check_sample(sample: Sample) -> None:
    """Raise SampleError naming the first thing that no store could hold faithfully."""
    problem = series_problem(sample.measurement, sample.tags)
    if problem is None and (not isinstance(sample.time_ns, int)
                            or isinstance(sample.time_ns, bool)):
        problem = f"time {sample.time_ns!r} is not integer nanoseconds"
    problem = problem or fields_problem(sample.fields)
    if problem is not None:
        raise SampleError(f"sample {sample.measurement!r} at {sample.time_ns}: {problem}")


def normalized(sample: Sample) -> Sample:
    """The sample with FIELD_TYPES applied (an int KPI value becomes a float, etc.) and
    empty tags left out (InfluxDB has no empty tag: it is the same as no tag)."""
    tags = sample.tags
    if "" in tags.values():
        tags = {k: v for k, v in tags.items() if v != ""}
    changes: dict[str, FieldValue] = {}
    for key, value in sample.fields.items():
        wanted = FIELD_TYPES.get((sample.measurement, key))
        if wanted is None or type(value) is wanted or isinstance(value, bool | str):
            continue
        if wanted is float and isinstance(value, int):
            changes[key] = float(value)
        elif wanted is int and isinstance(value, float) and value.is_integer():
            changes[key] = int(value)
    if not changes and tags is sample.tags:
        return sample
    return Sample(sample.time_ns, sample.measurement, tags, {**sample.fields, **changes})
