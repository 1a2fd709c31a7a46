"""The syntax tree of a criterion, its whitelisted functions, and the share() specification."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from harness.base import units
from harness.base.units import Quantity, UnitError

SERIES_SUFFIX = ".mean"
"""share(throughput ...) reads the per-sample series a kind records under `throughput.mean`."""


def series_key(name: str) -> str:
    """The KindRun.series key (and metric) behind the series name a share() is written with."""
    return f"{name}{SERIES_SUFFIX}"


def compare(op: str, a: float, b: float) -> bool:
    """`a op b`: exact for integers (counts), relative tolerance 1e-9 otherwise."""
    exact = a.is_integer() and b.is_integer()
    equal = a == b if exact else math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    less, greater = a < b and not equal, a > b and not equal
    outcomes = {"==": equal, "!=": not equal, "<": less, "<=": less or equal,
                ">": greater, ">=": greater or equal}
    return outcomes[op]


@dataclass(frozen=True)
class ShareSpec:
    """What one share() counts: samples of `series` meeting `series op threshold`.

    `text` (e.g. `throughput >= 30 Mbit/s`) names the share in results, and is the key under
    which repetitions' (events, n) are pooled.
    """

    series: str
    op: str
    threshold: Quantity

    @property
    def text(self) -> str:
        """`throughput >= 30 Mbit/s`."""
        return f"{self.series} {self.op} {self.threshold}"

    def count(self, values: Sequence[float], unit: str) -> tuple[int, int]:
        """(samples meeting the comparison, samples) of a series in `unit`.

        UnitError when the threshold's dimension is not the series'; ValueError on a NaN sample.
        """
        if not units.same_dimension(unit, self.threshold.unit):
            raise UnitError(f"share({self.text}): cannot compare series '{self.series}' in "
                            f"{units.describe_unit(unit)} with "
                            f"{units.describe_unit(self.threshold.unit)}")
        limit = units.convert(self.threshold, unit).value
        if any(math.isnan(v) for v in values):
            raise ValueError(f"share({self.text}): series '{self.series}' has NaN samples")
        return sum(1 for v in values if compare(self.op, float(v), limit)), len(values)


class MetricWithheld(KeyError):
    """A metric the trial watched but reports no value of, because its evidence was not
    fit to judge on (every reading of a KPI marked `suspect` by the device...): a criterion
    on it is INCONCLUSIVE with `reason`, never PASS or FAIL."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name)
        self.name = name
        self.reason = reason


class CriterionContext(Protocol):
    """What a criterion reads from a finished trial (or from a trial's repetitions pooled)."""

    def metric(self, name: str) -> Quantity:
        """The metric's value; KeyError if the trial has no such metric (MetricWithheld
        when it has one but withheld its value, and why)."""
        ...

    def interval(self, name: str) -> tuple[float, float] | None:
        """95 % confidence interval of the metric in its own unit, or None."""
        ...

    def peak(self, device: str, direction: str | None) -> Quantity:
        """TS 38.306 peak rate of a device's cell(s), optionally for one direction."""
        ...

    def share(self, spec: ShareSpec) -> tuple[int, int]:
        """(events, n) of a share(): `spec.count` over the series, or the repetitions' events
        pooled; KeyError when the trial has no such series."""
        ...


@dataclass(frozen=True)
class Param:
    """One argument of a whitelisted function."""

    name: str
    choices: frozenset[str] | None = None  # None: any name (a device)
    optional: bool = False
    is_device: bool = False


@dataclass(frozen=True)
class Function:
    """A whitelisted function: its signature for messages, parameters, unit and evaluation."""

    signature: str
    params: tuple[Param, ...]
    unit: str  # unit of the result, for parse-time dimension checks
    call: Callable[[CriterionContext, tuple[str | None, ...]], Quantity]


FUNCTIONS: Mapping[str, Function] = MappingProxyType({
    "peak": Function(
        "peak(device[, dl|ul])",
        (Param("device", is_device=True), Param("direction", frozenset({"dl", "ul"}), True)),
        "bit/s",
        lambda ctx, args: ctx.peak(str(args[0]), args[1]),
    ),
})
SHARE_SIGNATURE = "share(series CMP value)"
RATE_SIGNATURE = "rate(events, attempts)"
SIGNATURES = ", ".join([*(f.signature for f in FUNCTIONS.values()), SHARE_SIGNATURE,
                        RATE_SIGNATURE])


@dataclass(frozen=True)
class Num:
    """A number with its unit."""

    value: float
    unit: str
    col: int


@dataclass(frozen=True)
class Metric:
    """A trial's metric, by name."""

    name: str
    col: int


@dataclass(frozen=True)
class Call:
    """A whitelisted function call with name arguments."""

    name: str
    args: tuple[str | None, ...]
    col: int


@dataclass(frozen=True)
class Share:
    """share(series op threshold): the percentage of samples meeting the comparison."""

    spec: ShareSpec
    col: int


@dataclass(frozen=True)
class Rate:
    """rate(events, attempts): events/attempts of two count metrics, in %, with its Wilson
    interval (e.g. successful registrations over registration requests)."""

    events: str
    attempts: str
    col: int


@dataclass(frozen=True)
class BinOp:
    """Arithmetic (+ - * /) or, at the root only, a comparison."""

    op: str
    left: Node
    right: Node
    col: int


Node = Num | Metric | Call | Share | Rate | BinOp  # "-x" is BinOp("*", Num(-1), x)


def measured(node: Node) -> bool:
    """Whether a side reads anything measured (a metric or a share), not only constants."""
    if isinstance(node, Metric | Share | Rate):
        return True
    if isinstance(node, BinOp):
        return measured(node.left) or measured(node.right)
    return False


_UP = {">": 1, ">=": 1, "<": -1, "<=": -1, "==": 0, "!=": 0}


def metric_signs(root: BinOp) -> dict[str, set[int]]:
    """For each metric a comparison reads by name, the signs (+1 higher is better, -1 lower is
    better, 0 either way) of its influence on whether the comparison holds. Metrics inside
    share() and rate() are counted there, not compared as values, and are left out."""
    found: dict[str, set[int]] = {}
    up = _UP[root.op]

    def walk(node: Node, sign: int) -> None:
        if isinstance(node, Metric):
            found.setdefault(node.name, set()).add(sign)
        elif isinstance(node, BinOp):
            right = -sign if node.op in "-/" else sign
            left_sign, right_sign = sign, right
            if node.op == "*":  # a negative constant factor turns the other side round
                left_sign = -sign if _negative(node.right) else sign
                right_sign = -sign if _negative(node.left) else sign
            walk(node.left, left_sign)
            walk(node.right, right_sign)

    walk(root.left, up)
    walk(root.right, -up)
    return found


def _negative(node: Node) -> bool:
    return isinstance(node, Num) and node.value < 0


ARITH: Mapping[str, Callable[[Quantity, Quantity], Quantity]] = MappingProxyType({
    "+": units.add, "-": units.subtract, "*": units.multiply, "/": units.divide,
})
