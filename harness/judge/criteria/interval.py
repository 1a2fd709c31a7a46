"""Interval arithmetic on quantities: a value's point estimate with the range it may take.

A metric with a 95 % confidence interval, or a share() with its Wilson interval, carries that
range through + - * /, so a criterion's verdict can be INCONCLUSIVE whichever way it is written
and whatever arithmetic surrounds the metric. Combining two intervals this way bounds every
combination of their values: wider than a joint 95 % interval, so it errs toward INCONCLUSIVE,
never toward PASS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.base import units
from harness.base.units import Quantity
from harness.judge.criteria.tree import ARITH, compare


@dataclass(frozen=True)
class Value:
    """A quantity and the interval [lo, hi] (in its unit) it may lie in; lo == hi when exact."""

    q: Quantity
    lo: float
    hi: float
    uncertain: bool = False  # an interval (not only exact numbers) went into it

    @staticmethod
    def exact(q: Quantity) -> Value:
        """A number, a function's result or a metric without an interval."""
        return Value(q, q.value, q.value)

    @staticmethod
    def within(q: Quantity, interval: tuple[float, float] | None) -> Value:
        """A measured quantity and its CI (widened to hold the point estimate)."""
        if interval is None:
            return Value.exact(q)
        lo, hi = float(interval[0]), float(interval[1])
        if math.isnan(lo) or math.isnan(hi):
            return Value(q, -math.inf, math.inf, True)
        return Value(q, min(lo, hi, q.value), max(lo, hi, q.value), True)

    def to(self, unit: str) -> Value:
        """The same value in another unit of its dimension (UnitError otherwise)."""
        return Value(units.convert(self.q, unit), _convert(self.lo, self.q.unit, unit),
                     _convert(self.hi, self.q.unit, unit), self.uncertain)

    def describe(self) -> str:
        """`[1350, 1650] Mbit/s`."""
        return f"[{self.lo:.6g}, {self.hi:.6g}]" + (f" {self.q.unit}" * bool(self.q.unit))


def _convert(value: float, unit: str, target: str) -> float:
    if math.isinf(value):
        return value
    return units.convert(Quantity(value, unit), target).value


def arith(op: str, a: Value, b: Value) -> Value:
    """a op b for the point estimate and for the interval; ZeroDivisionError when b is 0."""
    point = ARITH[op](a.q, b.q)
    if not (a.uncertain or b.uncertain):
        return Value.exact(point)
    unit = point.unit
    if op == "/" and b.lo <= 0.0 <= b.hi:
        return Value(point, -math.inf, math.inf, True)  # the divisor's interval holds zero
    if op == "+":
        pairs = [(a.lo, b.lo), (a.hi, b.hi)]
    elif op == "-":
        pairs = [(a.lo, b.hi), (a.hi, b.lo)]
    else:
        pairs = [(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    corners = [_corner(op, x, a.q.unit, y, b.q.unit, unit) for x, y in pairs]
    if any(math.isnan(c) for c in corners):
        return Value(point, -math.inf, math.inf, True)
    return Value(point, min(corners), max(corners), True)


def _corner(op: str, x: float, xu: str, y: float, yu: str, unit: str) -> float:
    """One corner of the result's box, in the point estimate's unit (infinities kept)."""
    if math.isinf(x) or math.isinf(y):
        # scale an infinite end by the other operand's sign (its unit factor is positive)
        sx = 0.0 if x == 0 else math.copysign(1.0, x)
        sy = 0.0 if y == 0 else math.copysign(1.0, y)
        if op in "+-":
            return x if math.isinf(x) else (y if op == "+" else -y)
        if op == "/" and math.isinf(y):
            return math.nan if math.isinf(x) else 0.0
        return math.inf * sx * sy if sx * sy else math.nan
    return units.convert(ARITH[op](Quantity(x, xu), Quantity(y, yu)), unit).value


def outcomes(op: str, left: Value, right: Value) -> set[bool]:
    """Every outcome `left op right` can have over the two intervals (same unit)."""
    if not (left.uncertain or right.uncertain):
        return {compare(op, left.q.value, right.q.value)}
    if op in (">=", ">"):
        return {compare(op, left.lo, right.hi), compare(op, left.hi, right.lo)}
    if op in ("<=", "<"):
        return {compare(op, left.hi, right.lo), compare(op, left.lo, right.hi)}
    degenerate = left.lo == left.hi and right.lo == right.hi
    overlap = left.lo <= right.hi and right.lo <= left.hi
    if overlap and not degenerate:
        return {True, False}
    return {compare(op, left.q.value, right.q.value)}
