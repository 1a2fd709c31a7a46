"""Samples as InfluxDB line protocol (nanosecond precision): correct, and fast enough to feed a
server at full speed.

    measurement,tag1=v1,tag2=v2 field1=1.5,field2=3i,field3=true,field4="text" 1700000000000000000

Escaping follows the InfluxDB reference: commas and spaces in measurements; commas, spaces and
equals signs in tag keys, tag values and field keys; double quotes and backslashes inside string
field values. Integers carry the `i` suffix, booleans are `true`/`false`, floats are written
with Python's shortest round-trip repr. What line protocol cannot carry faithfully is refused
with a SampleError (see `harness.base.sample.check_sample`): NaN and infinity, line breaks,
backslashes in names (InfluxDB and VictoriaMetrics unescape them differently), empty names.
Tags are written sorted by key (what InfluxDB recommends); an empty tag value means no tag.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.base.sample import (
    INT64_MAX,
    INT64_MIN,
    Sample,
    SampleError,
    fields_problem,
    series_problem,
)

_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ "})
_KEY = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\="})
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"'})


def escape_measurement(name: str) -> str:
    """A measurement name as line protocol writes it."""
    return name.translate(_MEASUREMENT)


def escape_key(text: str) -> str:
    """A tag key, tag value or field key as line protocol writes it."""
    return text.translate(_KEY)


def escape_string(text: str) -> str:
    """A string field value, quotes included."""
    return '"' + text.translate(_STRING) + '"'


def format_value(value: object) -> str:
    """One field value in line protocol; raises SampleError for what it cannot carry."""
    cls = value.__class__
    if cls is float:
        if value - value != 0:  # type: ignore[operator]  # NaN and ±inf
            raise SampleError(f"field value {value} cannot be written (no NaN or infinity)")
        return repr(value)
    if cls is int:
        if not INT64_MIN <= value <= INT64_MAX:  # type: ignore[operator]
            raise SampleError(f"field value {value} does not fit a 64-bit integer")
        return f"{value}i"
    if cls is bool:
        return "true" if value else "false"
    if cls is str:
        if "\n" in value or "\r" in value:  # type: ignore[operator]
            raise SampleError("a string field value contains a line break")
        return escape_string(value)  # type: ignore[arg-type]
    # subclasses (numpy scalars, IntEnum...): judged by what they are
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return format_value(int(value))
    if isinstance(value, float):
        return format_value(float(value))
    if isinstance(value, str):
        return format_value(str(value))
    raise SampleError(f"field value {value!r} has type {cls.__name__} "
                      "(use float, int, bool or str)")


_FORMATS = {float: "%r", int: "%di", bool: "%s", str: "%s"}
_BOOLS = ("false", "true")
_UNKNOWN: Any = object()  # a field set not seen yet


class _Shape:
    """How to write one field set: keys and value types known, so one `%` does the line."""

    __slots__ = ("bools", "floats", "ints", "strings", "sum_check", "template")

    def __init__(self, keys: tuple[str, ...], types: tuple[type, ...]) -> None:
        self.template = ",".join(f"{escape_key(k).replace('%', '%%')}={_FORMATS[t]}"
                                 for k, t in zip(keys, types, strict=True)) + " %d"
        self.floats = tuple(i for i, t in enumerate(types) if t is float)
        self.ints = tuple(i for i, t in enumerate(types) if t is int)
        self.bools = tuple(i for i, t in enumerate(types) if t is bool)
        self.strings = tuple(i for i, t in enumerate(types) if t is str)
        # a NaN or an infinity anywhere makes the sum non-finite (so does a huge finite sum,
        # which the exact check then lets through)
        self.sum_check = bool(self.floats) and not self.strings


class LineEncoder:
    """Turns samples into lines, caching each series' escaped `measurement,tags ` prefix and
    each field set's template (tag cardinality is bounded by the schema, so the caches stay
    small; they are emptied if they ever pass `max_cached` entries)."""

    def __init__(self, max_cached: int = 50_000) -> None:
        # keys are flat tuples, cheap to build and hash: (measurement, *tag keys, *tag values)
        # and (*field keys, *field value types)
        self._prefixes: dict[tuple[str, ...], str] = {}
        self._shapes: dict[tuple[object, ...], _Shape | None] = {}
        self._max = max_cached

    def _prefix(self, sample: Sample, cache_key: tuple[str, ...]) -> str:
        problem = series_problem(sample.measurement, sample.tags)
        if problem is not None:
            raise SampleError(f"sample {sample.measurement!r} at {sample.time_ns}: {problem}")
        tags = "".join(f",{escape_key(k)}={escape_key(v)}"
                       for k, v in sorted(sample.tags.items()) if v != "")
        if len(self._prefixes) >= self._max:
            self._prefixes.clear()
        prefix = self._prefixes[cache_key] = escape_measurement(sample.measurement) + tags + " "
        return prefix

    def _shape(self, sample: Sample, shape_key: tuple[object, ...]) -> _Shape | None:
        """The template of a field set; None for value types written one by one (numpy
        scalars, enums...)."""
        problem = fields_problem(dict.fromkeys(sample.fields, 0))
        if problem is not None:
            raise SampleError(f"sample {sample.measurement!r} at {sample.time_ns}: {problem}")
        types = tuple(type(v) for v in sample.fields.values())
        shape = _Shape(tuple(sample.fields), types) if all(t in _FORMATS for t in types) \
            else None
        if len(self._shapes) >= self._max:
            self._shapes.clear()
        self._shapes[shape_key] = shape
        return shape

    def line(self, sample: Sample) -> str:
        """One sample as one line (no trailing newline)."""
        return self.lines((sample,))[0]

    def lines(self, samples: Iterable[Sample]) -> list[str]:
        """Each sample as one line (the hot loop: everything inline)."""
        prefixes, shapes = self._prefixes, self._shapes
        out: list[str] = []
        append = out.append
        for sample in samples:
            tags = sample.tags
            cache_key = (sample.measurement, *tags, *tags.values())
            prefix = prefixes.get(cache_key)
            if prefix is None:
                prefix = self._prefix(sample, cache_key)
            fields = sample.fields
            values: Any = tuple(fields.values())
            shape_key = (*fields, *map(type, values))
            shape = shapes.get(shape_key, _UNKNOWN)
            if shape is _UNKNOWN:
                shape = self._shape(sample, shape_key)
            time_ns = sample.time_ns
            if time_ns.__class__ is not int or shape is None:
                append(_slow_line(sample, prefix))
                continue
            if shape.sum_check:
                total = sum(values)
                if total - total != 0:
                    _check_fields(sample)
            elif shape.floats:
                for i in shape.floats:
                    if values[i] - values[i] != 0:
                        _check_fields(sample)
            for i in shape.ints:
                if not INT64_MIN <= values[i] <= INT64_MAX:
                    _check_fields(sample)
            if shape.bools or shape.strings:
                values = list(values)
                for i in shape.bools:
                    values[i] = _BOOLS[values[i]]
                for i in shape.strings:
                    if "\n" in values[i] or "\r" in values[i]:
                        _check_fields(sample)
                    values[i] = escape_string(values[i])
            append(prefix + shape.template % (*values, time_ns))
        return out

    def encode(self, samples: Iterable[Sample]) -> bytes:
        """Samples as a UTF-8 request body: one line each, every line ending in a newline."""
        lines = self.lines(samples)
        if not lines:
            return b""
        return ("\n".join(lines) + "\n").encode("utf-8")


def _check_fields(sample: Sample) -> None:
    """Raise SampleError for the first field value line protocol cannot carry."""
    for key, value in sample.fields.items():
        try:
            format_value(value)
        except SampleError as exc:
            raise SampleError(f"sample {sample.measurement!r} at {sample.time_ns}: "
                              f"field {key}: {exc}") from None


def _slow_line(sample: Sample, prefix: str) -> str:
    """One value at a time: for value types without a template, and odd timestamps."""
    time_ns = sample.time_ns
    if not isinstance(time_ns, int) or isinstance(time_ns, bool):
        raise SampleError(f"sample {sample.measurement!r}: time {time_ns!r} is not integer "
                          "nanoseconds")
    _check_fields(sample)
    items = ",".join(f"{escape_key(k)}={format_value(v)}" for k, v in sample.fields.items())
    return f"{prefix}{items} {int(time_ns)}"


def encode_line(sample: Sample) -> str:
    """One sample as a line of line protocol (no caching; for one-off use)."""
    return LineEncoder().line(sample)

