"""Judging one trial with a parsed criterion: values with their intervals, then a verdict.

The comparison is PASS or FAIL only when it comes out the same over every value the measured
side's 95 % interval allows (a metric's CI, a share's Wilson interval, carried through the
arithmetic); otherwise INCONCLUSIVE. The parser stores the measured side on the left, so
`100 Mbit/s <= throughput.mean` and `throughput.mean >= 100 Mbit/s` judge and read alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from harness.base import units
from harness.base.errors import HarnessError
from harness.base.stats import wilson_interval
from harness.base.units import Quantity, UnitError
from harness.base.verdict import Verdict
from harness.judge.criteria.interval import Value, arith, outcomes
from harness.judge.criteria.tree import (
    FUNCTIONS,
    BinOp,
    Call,
    CriterionContext,
    Metric,
    MetricWithheld,
    Node,
    Num,
    Rate,
    Share,
    ShareSpec,
    compare,
    metric_signs,
)


@dataclass(frozen=True)
class CriterionResult:
    """How one criterion judged one trial; `shares` holds each share()'s (events, n)."""

    expr: str
    observed: Quantity | None
    threshold: Quantity | None
    verdict: Verdict
    source: str | None
    detail: str
    shares: Mapping[str, tuple[int, int]] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, object]:
        """The summary.json shape of this result (`shares` only when it has any)."""
        out: dict[str, object] = {
            "expr": self.expr,
            "observed": None if self.observed is None else self.observed.to_json(),
            "threshold": None if self.threshold is None else self.threshold.to_json(),
            "verdict": self.verdict.value,
            "source": self.source,
            "detail": self.detail,
        }
        if self.shares:
            out["shares"] = {text: [k, n] for text, (k, n) in self.shares.items()}
        return out


class _EvalError(Exception):
    """Why a criterion could not be computed for a trial (becomes an ERROR detail)."""


class _NoEvidence(Exception):
    """Nothing to judge on (a share() over an empty series): INCONCLUSIVE with the reason."""


def mismatch(lhs: Quantity, rhs: Quantity) -> str:
    """Why two sides cannot be compared, and what to change."""
    detail = f"cannot compare {units.describe_unit(lhs.unit)} with {units.describe_unit(rhs.unit)}"
    return detail + (": give the threshold a unit" if rhs.unit == "" else "")


def wilson_percent(events: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of events/n in percent (exactly 0 or 100 at the ends); n > 0."""
    lo, hi = wilson_interval(events, n) or (0.0, 1.0)
    return (0.0 if events == 0 else lo * 100.0, 100.0 if events == n else hi * 100.0)


@dataclass(frozen=True)
class Criterion:
    """A parsed criterion: what it reads, and how to judge a trial with it.

    `series_names` are the per-sample series its share()s count; `expected_samples` is the
    sample count its source asks for (a share() on fewer says so in the detail).
    """

    expr: str
    source: str | None
    metric_names: frozenset[str]
    device_refs: frozenset[str]
    _tree: BinOp = field(repr=False, compare=False)
    series_names: frozenset[str] = frozenset()
    expected_samples: int | None = None

    def evaluate(self, ctx: CriterionContext) -> CriterionResult:
        """Judge one trial: PASS/FAIL by the comparison, ERROR or INCONCLUSIVE with the reason.

        On a unit mismatch `threshold` is the right-hand side in its own unit.
        """
        tree = self._tree
        lhs: Value | None = None
        rhs: Value | None = None
        shares: dict[str, tuple[int, int]] = {}
        try:
            lhs = self._value(tree.left, ctx, shares)
            rhs = self._value(tree.right, ctx, shares)
            if not units.same_dimension(lhs.q.unit, rhs.q.unit):
                return self._result(lhs, rhs, Verdict.ERROR, mismatch(lhs.q, rhs.q), shares)
            threshold = rhs.to(lhs.q.unit)
        except _NoEvidence as exc:
            return self._result(lhs, rhs, Verdict.INCONCLUSIVE, str(exc), shares)
        except _EvalError as exc:
            return self._result(lhs, rhs, Verdict.ERROR, str(exc), shares)
        except (HarnessError, ArithmeticError, ValueError, TypeError) as exc:
            reason = "division by zero" if isinstance(exc, ZeroDivisionError) else str(exc)
            return self._result(lhs, rhs, Verdict.ERROR, reason, shares)
        if math.isnan(lhs.q.value) or math.isnan(threshold.q.value):
            return self._result(lhs, threshold, Verdict.ERROR, "value is NaN (not measured)",
                                shares)
        op = tree.op
        passed = compare(op, lhs.q.value, threshold.q.value)
        if len(outcomes(op, lhs, threshold)) > 1:
            detail = (f"{lhs.q} {op} {threshold.q} is {str(passed).lower()} for the point "
                      f"estimate, but {_straddle(lhs, threshold)}")
            return self._result(lhs, threshold, Verdict.INCONCLUSIVE, detail, shares)
        if passed:
            return self._result(lhs, threshold, Verdict.PASS, f"{lhs.q} {op} {threshold.q}",
                                shares)
        return self._result(lhs, threshold, Verdict.FAIL, f"{lhs.q} is not {op} {threshold.q}",
                            shares)

    def directions(self) -> dict[str, str]:
        """metric → "higher", "lower" or "either": which way of each metric it reads by name
        helps the criterion hold (`==`, `!=` or a metric on both sides: either)."""
        names = {1: "higher", -1: "lower"}
        return {name: names.get(next(iter(signs)), "either") if len(signs) == 1 else "either"
                for name, signs in metric_signs(self._tree).items()}

    @property
    def shares(self) -> tuple[ShareSpec, ...]:
        """The share()s this criterion counts (in reading order)."""
        found: list[ShareSpec] = []
        stack: list[Node] = [self._tree]
        while stack:
            node = stack.pop()
            if isinstance(node, Share):
                found.append(node.spec)
            elif isinstance(node, BinOp):
                stack.extend((node.right, node.left))
        return tuple(found)

    def _value(self, node: Node, ctx: CriterionContext,
               shares: dict[str, tuple[int, int]]) -> Value:
        if isinstance(node, Num):
            return Value.exact(Quantity(node.value, node.unit))
        if isinstance(node, Metric):
            try:
                q = _canonical(ctx.metric(node.name), f"metric '{node.name}'")
            except MetricWithheld as exc:
                raise _NoEvidence(f"no value of '{node.name}' to judge on: {exc.reason}") from None
            except KeyError:
                raise _EvalError(f"trial has no metric '{node.name}'") from None
            return Value.within(q, _interval(ctx, node.name))
        if isinstance(node, Call):
            func = FUNCTIONS[node.name]
            shown = f"{node.name}({', '.join(a for a in node.args if a is not None)})"
            try:
                return Value.exact(_canonical(func.call(ctx, node.args), shown))
            except KeyError as exc:
                raise _EvalError(f"{shown}: unknown {exc}") from None
        if isinstance(node, Share):
            return self._share(node.spec, ctx, shares)
        if isinstance(node, Rate):
            return _rate(node, ctx)
        left = self._value(node.left, ctx, shares)
        right = self._value(node.right, ctx, shares)
        if node.op == "/" and right.q.value == 0:
            what = f"'{node.right.name}' is 0" if isinstance(node.right, Metric) else \
                "the divisor is 0"
            raise _EvalError(f"division by zero: {what}")
        return arith(node.op, left, right)

    def _share(self, spec: ShareSpec, ctx: CriterionContext,
               shares: dict[str, tuple[int, int]]) -> Value:
        try:
            events, n = ctx.share(spec)
        except KeyError:
            raise _EvalError(f"share({spec.text}): the trial recorded no per-sample series "
                             f"'{spec.series}'") from None
        except UnitError as exc:
            raise _EvalError(str(exc)) from None
        if n <= 0:
            raise _NoEvidence(f"share({spec.text}): the series has no samples")
        shares[spec.text] = (events, n)
        lo, hi = wilson_percent(events, n)
        return Value(Quantity(events / n * 100.0, "%"), lo, hi, True)

    def _result(self, observed: Value | None, threshold: Value | None, verdict: Verdict,
                detail: str, shares: dict[str, tuple[int, int]]) -> CriterionResult:
        notes = [f"{k} of {n} samples meet {text} (Wilson 95 % CI "
                 f"[{wilson_percent(k, n)[0]:.3g}, {wilson_percent(k, n)[1]:.3g}] %)"
                 for text, (k, n) in shares.items()]
        expected = self.expected_samples
        short = [n for _, n in shares.values() if expected and n < expected]
        if short and expected:
            notes.append(f"warning: N = {min(short)} samples, below the {expected:,} the "
                         "source asks for")
        return CriterionResult(self.expr, None if observed is None else observed.q,
                               None if threshold is None else threshold.q, verdict,
                               self.source, "; ".join([detail, *notes]),
                               MappingProxyType(dict(shares)))


def _rate(node: Rate, ctx: CriterionContext) -> Value:
    shown = f"rate({node.events}, {node.attempts})"
    counts: list[float] = []
    for name in (node.events, node.attempts):
        try:
            q = _canonical(ctx.metric(name), f"metric '{name}'")
        except KeyError:
            raise _EvalError(f"trial has no metric '{name}'") from None
        if q.unit != "" or not (math.isfinite(q.value) and q.value >= 0 and
                                float(q.value).is_integer()):
            raise _EvalError(f"{shown}: '{name}' must be a count, got {q}")
        counts.append(q.value)
    events, attempts = int(counts[0]), int(counts[1])
    if attempts == 0:
        raise _NoEvidence(f"{shown}: no attempts ('{node.attempts}' is 0), nothing to judge")
    if events > attempts:
        raise _EvalError(f"{shown}: {events} events out of {attempts} attempts")
    lo, hi = wilson_percent(events, attempts)
    return Value(Quantity(events / attempts * 100.0, "%"), lo, hi, True)


def _straddle(observed: Value, threshold: Value) -> str:
    """Which interval makes the outcome uncertain, for the INCONCLUSIVE detail."""
    if observed.uncertain and not threshold.uncertain:
        return f"its 95 % CI {observed.describe()} straddles the threshold"
    if threshold.uncertain and not observed.uncertain:
        return f"the threshold's 95 % CI {threshold.describe()} straddles the observed value"
    return (f"over their 95 % CIs (observed {observed.describe()}, threshold "
            f"{threshold.describe()}) the outcome differs")


def _interval(ctx: CriterionContext, name: str) -> tuple[float, float] | None:
    try:
        return ctx.interval(name)
    except KeyError:
        return None


def _canonical(q: Quantity, what: str) -> Quantity:
    try:
        return Quantity(float(q.value), units.parse_unit(q.unit))
    except UnitError as exc:
        raise _EvalError(f"{what}: {exc}") from None
