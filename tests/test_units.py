"""Unit parsing, conversion and arithmetic in harness.base.units."""

from __future__ import annotations

import math

import pytest

from harness.base.errors import HarnessError
from harness.base.units import (
    Quantity,
    UnitError,
    add,
    convert,
    describe_unit,
    divide,
    format_quantity,
    multiply,
    parse_unit,
    subtract,
)


@pytest.mark.parametrize(("text", "canonical"), [
    ("bit/s", "bit/s"), ("bps", "bit/s"), ("kbps", "kbit/s"), ("Mbps", "Mbit/s"),
    ("Gbps", "Gbit/s"), ("Mbit/s", "Mbit/s"), ("us", "µs"), ("µs", "µs"), ("\u03bcs", "µs"),
    ("ms", "ms"), ("ns", "ns"), ("s", "s"), ("%", "%"), ("", ""), (" MB ", "MB"),
    ("kbit", "kbit"), ("GB", "GB"),
])
def test_parse_unit_canonical(text: str, canonical: str) -> None:
    assert parse_unit(text) == canonical


def test_parse_unit_unknown_says_so_and_suggests_case() -> None:
    with pytest.raises(UnitError, match=r"unknown unit 'mbps'.*did you mean 'Mbps'"):
        parse_unit("mbps")
    with pytest.raises(HarnessError, match="unknown unit 'furlong'"):
        parse_unit("furlong")


@pytest.mark.parametrize(("value", "unit", "target", "expected"), [
    (1, "Gbit/s", "Mbit/s", 1000.0),
    (1500, "kbit/s", "Mbit/s", 1.5),
    (2, "Mbps", "bit/s", 2e6),
    (1, "MB/s", "Mbit/s", 8.0),
    (250, "µs", "ms", 0.25),
    (3, "s", "ms", 3000.0),
    (1, "min", "s", 60.0),
    (1, "GB", "Mbit", 8000.0),
    (1, "KiB", "bit", 8192.0),
    (12.5, "%", "%", 12.5),
    (7, "", "", 7.0),
])
def test_convert(value: float, unit: str, target: str, expected: float) -> None:
    result = convert(Quantity(value, unit), target)
    assert result.unit == parse_unit(target)
    assert math.isclose(result.value, expected, rel_tol=1e-12)


def test_convert_exact_for_decimal_prefixes() -> None:
    assert convert(Quantity(1500, "kbit/s"), "Mbit/s") == Quantity(1.5, "Mbit/s")
    assert Quantity(1, "Gbit/s").to("Mbit/s").value >= 999


@pytest.mark.parametrize(("unit", "target"), [
    ("ms", "Mbit/s"), ("Mbit/s", "MB"), ("%", ""), ("", "s"), ("Mbit", "Mbit/s"),
])
def test_convert_dimension_mismatch_names_both_units(unit: str, target: str) -> None:
    with pytest.raises(UnitError, match="cannot convert") as info:
        convert(Quantity(1, unit), target)
    message = str(info.value)
    assert describe_unit(unit) in message and describe_unit(target) in message


def test_add_and_subtract_in_left_unit() -> None:
    assert add(Quantity(1, "Gbit/s"), Quantity(500, "Mbit/s")) == Quantity(1.5, "Gbit/s")
    assert subtract(Quantity(10, "ms"), Quantity(500, "µs")).value == pytest.approx(9.5)
    with pytest.raises(UnitError, match="cannot add"):
        add(Quantity(100, "Mbit/s"), Quantity(10, "ms"))


def test_multiply_scales_and_combines() -> None:
    assert multiply(Quantity(0.6, ""), Quantity(2337, "Mbit/s")) == Quantity(0.6 * 2337, "Mbit/s")
    assert multiply(Quantity(2337, "Mbit/s"), Quantity(50, "%")).value == pytest.approx(1168.5)
    data = multiply(Quantity(100, "Mbit/s"), Quantity(10, "s"))
    assert data.unit == "bit" and data.value == pytest.approx(1e9)
    with pytest.raises(UnitError, match="does not know"):
        multiply(Quantity(1, "s"), Quantity(1, "s"))


def test_divide() -> None:
    ratio = divide(Quantity(1500, "Mbit/s"), Quantity(3, "Gbit/s"))
    assert ratio == Quantity(0.5, "")
    assert divide(Quantity(1, "GB"), Quantity(8, "s")) == Quantity(1e9, "bit/s")
    assert divide(Quantity(10, "ms"), Quantity(2, "")) == Quantity(5, "ms")
    with pytest.raises(ZeroDivisionError):
        divide(Quantity(10, "ms"), Quantity(0, ""))
    with pytest.raises(UnitError):
        divide(Quantity(1, ""), Quantity(1, "s"))


def test_format_and_json() -> None:
    assert format_quantity(Quantity(1712.4, "Mbit/s")) == "1712.4 Mbit/s"
    assert str(Quantity(3, "")) == "3"
    assert str(Quantity(0.05, "%")) == "0.05 %"
    assert Quantity(2.5, "ms").to_json() == {"value": 2.5, "unit": "ms"}
