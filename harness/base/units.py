"""Quantities with units, as measured values and thresholds carry them.

Units come from a small table, not pint: pint costs ~0.25-0.35 s to import and build a registry
(measured, pint 0.25), lacks `kbps`/`%` the way test reports write them, and we need only five
dimensions. A unit is a (dimension, factor-to-base) pair; dimensions are exponents of (bit, s, %).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from harness.base.errors import HarnessError

Dimension = tuple[int, int, int]
"""Exponents of (bit, second, percent): bit rate is (1, -1, 0), time (0, 1, 0), count (0, 0, 0)."""

RATE: Dimension = (1, -1, 0)
TIME: Dimension = (0, 1, 0)
DATA: Dimension = (1, 0, 0)
PERCENT: Dimension = (0, 0, 1)
COUNT: Dimension = (0, 0, 0)


class UnitError(HarnessError, ValueError):
    """A unit is unknown, or two quantities of different dimensions were combined or compared."""


@dataclass(frozen=True)
class Quantity:
    """A number with its unit as a report writes it (`Mbit/s`, `ms`, `%`, `` for counts)."""

    value: float
    unit: str

    def to_json(self) -> dict[str, float | str]:
        return {"value": self.value, "unit": self.unit}

    def to(self, unit: str) -> Quantity:
        """This quantity expressed in another unit of the same dimension."""
        return convert(self, unit)

    def __str__(self) -> str:
        return format_quantity(self)


@dataclass(frozen=True)
class _UnitDef:
    dimension: Dimension
    factor: float  # value in this unit times factor = value in the dimension's base unit


def _table() -> dict[str, _UnitDef]:
    units: dict[str, _UnitDef] = {"": _UnitDef(COUNT, 1.0), "%": _UnitDef(PERCENT, 1.0)}
    for prefix, scale in (("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
        units[f"{prefix}bit"] = _UnitDef(DATA, scale)
        units[f"{prefix}bit/s"] = _UnitDef(RATE, scale)
        units[f"{prefix}B"] = _UnitDef(DATA, 8 * scale)
        units[f"{prefix}B/s"] = _UnitDef(RATE, 8 * scale)
    for prefix, power in (("Ki", 1), ("Mi", 2), ("Gi", 3)):
        units[f"{prefix}B"] = _UnitDef(DATA, 8.0 * 1024**power)
    for name, seconds in (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0),
                          ("min", 60.0), ("h", 3600.0)):
        units[name] = _UnitDef(TIME, seconds)
    return units


_UNITS: Mapping[str, _UnitDef] = MappingProxyType(_table())

_ALIASES: Mapping[str, str] = MappingProxyType({
    "bps": "bit/s", "kbps": "kbit/s", "Kbps": "kbit/s", "Mbps": "Mbit/s", "Gbps": "Gbit/s",
    "Tbps": "Tbit/s", "us": "µs", "\u03bcs": "µs",  # Greek mu, which keyboards often produce
    "sec": "s", "percent": "%",
})

_DIMENSION_NAMES: Mapping[Dimension, str] = MappingProxyType({
    RATE: "bit rate", TIME: "time", DATA: "data volume", PERCENT: "percentage", COUNT: "count",
})

_BASE_UNITS: Mapping[Dimension, str] = MappingProxyType({
    RATE: "bit/s", TIME: "s", DATA: "bit", PERCENT: "%", COUNT: "",
})


def known_units() -> tuple[str, ...]:
    """Every canonical unit spelling, for error messages and documentation."""
    return tuple(u for u in _UNITS if u)


def parse_unit(text: str) -> str:
    """The canonical spelling of a unit (`Mbps` -> `Mbit/s`, `us` -> `µs`); UnitError if unknown."""
    name = text.strip()
    if name in _UNITS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    hint = ""
    for candidate in (*_UNITS, *_ALIASES):
        if candidate and candidate.lower() == name.lower():
            hint = f" (did you mean '{candidate}'? unit prefixes are case-sensitive)"
            break
    raise UnitError(f"unknown unit '{name}'{hint}; known units: {', '.join(known_units())}")


def dimension(unit: str) -> Dimension:
    """The dimension of a unit (any accepted spelling)."""
    return _UNITS[parse_unit(unit)].dimension


def describe_unit(unit: str) -> str:
    """`Mbit/s (bit rate)`, `a plain number` for counts: how error messages name a unit."""
    canonical = parse_unit(unit)
    if canonical == "":
        return "a plain number"
    dim = _UNITS[canonical].dimension
    return f"{canonical} ({_DIMENSION_NAMES.get(dim, 'unknown dimension')})"


def convert(q: Quantity, unit: str) -> Quantity:
    """`q` expressed in `unit`; UnitError when the dimensions differ (e.g. ms to Mbit/s)."""
    source, target = parse_unit(q.unit), parse_unit(unit)
    src, dst = _UNITS[source], _UNITS[target]
    if src.dimension != dst.dimension:
        raise UnitError(f"cannot convert {describe_unit(source)} to {describe_unit(target)}")
    if source == target:
        return Quantity(q.value, target)
    # Multiply, then divide: exact for decimal prefixes (1500 kbit/s == 1.5 Mbit/s).
    return Quantity(q.value * src.factor / dst.factor, target)


def same_dimension(a: str, b: str) -> bool:
    """Whether quantities in units `a` and `b` can be added or compared."""
    return dimension(a) == dimension(b)


def add(a: Quantity, b: Quantity) -> Quantity:
    """a + b in a's unit; UnitError on a dimension mismatch."""
    return Quantity(a.value + _convert_for(b, a.unit, "add").value, parse_unit(a.unit))


def subtract(a: Quantity, b: Quantity) -> Quantity:
    """a - b in a's unit; UnitError on a dimension mismatch."""
    return Quantity(a.value - _convert_for(b, a.unit, "subtract").value, parse_unit(a.unit))


def multiply(a: Quantity, b: Quantity) -> Quantity:
    """a * b: a plain number or a percentage scales the other side; else dimensions multiply."""
    a, b = _canonical(a), _canonical(b)
    if b.unit == "":
        return Quantity(a.value * b.value, a.unit)
    if a.unit == "":
        return Quantity(a.value * b.value, b.unit)
    if b.unit == "%":
        return Quantity(a.value * b.value / 100.0, a.unit)
    if a.unit == "%":
        return Quantity(a.value / 100.0 * b.value, b.unit)
    return _combine(a, b, 1)


def divide(a: Quantity, b: Quantity) -> Quantity:
    """a / b: same dimensions give a plain number, a plain number or percentage scales a.

    ZeroDivisionError when b is zero.
    """
    a, b = _canonical(a), _canonical(b)
    if b.unit == "":
        return Quantity(a.value / b.value, a.unit)
    if _UNITS[a.unit].dimension == _UNITS[b.unit].dimension:
        return Quantity(a.value / convert(b, a.unit).value, "")
    if b.unit == "%":
        return Quantity(a.value / (b.value / 100.0), a.unit)
    if a.unit == "%":
        a = Quantity(a.value / 100.0, "")
    return _combine(a, b, -1)


def format_quantity(q: Quantity, digits: int = 6) -> str:
    """`1712.4 Mbit/s`, `0.05 %`, `3` (counts have no unit): how details and reports print it."""
    number = f"{q.value:.{digits}g}"
    return f"{number} {q.unit}" if q.unit else number


def _canonical(q: Quantity) -> Quantity:
    unit = parse_unit(q.unit)
    return q if unit == q.unit else Quantity(q.value, unit)


def _convert_for(q: Quantity, unit: str, verb: str) -> Quantity:
    if not same_dimension(q.unit, unit):
        raise UnitError(f"cannot {verb} {describe_unit(unit)} and {describe_unit(q.unit)}")
    return convert(q, unit)


def _combine(a: Quantity, b: Quantity, sign: int) -> Quantity:
    """Product (sign 1) or quotient (sign -1) of two dimensional quantities, in base units."""
    da, db = _UNITS[a.unit], _UNITS[b.unit]
    dim: Dimension = (da.dimension[0] + sign * db.dimension[0],
                      da.dimension[1] + sign * db.dimension[1],
                      da.dimension[2] + sign * db.dimension[2])
    op = "*" if sign == 1 else "/"
    if dim not in _BASE_UNITS:
        raise UnitError(f"{a.unit} {op} {b.unit} gives a unit the harness does not know; "
                        "only bit rate, time, data volume, percentage and counts are supported")
    left, right = a.value * da.factor, b.value * db.factor
    value = left * right if sign == 1 else left / right
    return Quantity(value, _BASE_UNITS[dim])
