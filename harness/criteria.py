"""Acceptance criteria: a restricted expression language with units, judged to a verdict.

`throughput.mean >= 0.7 * peak(gnb1, dl)` is tokenised and parsed by hand (never eval): numbers
with units, dotted metric names, whitelisted functions, + - * / ( ) and exactly one comparison.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from harness import units
from harness.errors import ConfigError, HarnessError
from harness.units import Quantity, UnitError
from harness.verdict import Verdict

_MAX_DEPTH = 32
_COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")
_VALUE = "a value (number with unit, metric name or function call)"


class CriterionSyntaxError(ConfigError):
    """A criterion does not parse; the message says what was expected, `.column` is 1-based."""

    def __init__(self, message: str, *, column: int, expr: str | None = None,
                 file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        text = message if expr is None else f"{message} (column {column} of {expr!r})"
        super().__init__(text, file=file, line=line, column=column, field=field)
        self.expr = expr


class CriterionContext(Protocol):
    """What a criterion reads from a finished trial."""

    def metric(self, name: str) -> Quantity:
        """The metric's value; KeyError if the trial has no such metric."""
        ...

    def interval(self, name: str) -> tuple[float, float] | None:
        """95 % confidence interval of the metric in its own unit, or None."""
        ...

    def peak(self, device: str, direction: str | None) -> Quantity:
        """TS 38.306 peak rate of a device's cell(s), optionally for one direction."""
        ...


@dataclass(frozen=True)
class CriterionResult:
    """How one criterion judged one trial."""

    expr: str
    observed: Quantity | None
    threshold: Quantity | None
    verdict: Verdict
    source: str | None
    detail: str

    def to_json(self) -> dict[str, object]:
        """The summary.json shape of this result."""
        return {
            "expr": self.expr,
            "observed": None if self.observed is None else self.observed.to_json(),
            "threshold": None if self.threshold is None else self.threshold.to_json(),
            "verdict": self.verdict.value,
            "source": self.source,
            "detail": self.detail,
        }


# ---------------------------------------------------------------------------------------------
# Functions: adding one is a table entry.

@dataclass(frozen=True)
class _Param:
    name: str
    choices: frozenset[str] | None = None  # None: any name (a device)
    optional: bool = False
    is_device: bool = False


@dataclass(frozen=True)
class _Function:
    signature: str
    params: tuple[_Param, ...]
    unit: str  # unit of the result, for parse-time dimension checks
    call: Callable[[CriterionContext, tuple[str | None, ...]], Quantity]


_FUNCTIONS: Mapping[str, _Function] = MappingProxyType({
    "peak": _Function(
        "peak(device[, dl|ul])",
        (_Param("device", is_device=True), _Param("direction", frozenset({"dl", "ul"}), True)),
        "bit/s",
        lambda ctx, args: ctx.peak(str(args[0]), args[1]),
    ),
})


# ---------------------------------------------------------------------------------------------
# Syntax tree

@dataclass(frozen=True)
class _Num:
    value: float
    unit: str
    col: int


@dataclass(frozen=True)
class _Metric:
    name: str
    col: int


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[str | None, ...]
    col: int


@dataclass(frozen=True)
class _BinOp:
    op: str
    left: _Node
    right: _Node
    col: int


_Node = _Num | _Metric | _Call | _BinOp  # "-x" is _BinOp("*", _Num(-1), x); comparisons are _BinOp


# ---------------------------------------------------------------------------------------------
# Lexer

@dataclass(frozen=True)
class _Token:
    kind: str  # num name op cmp ( ) , end
    text: str
    col: int
    value: float = 0.0
    unit: str = ""


_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_THOUSANDS = re.compile(r"[0-9]+(?:,[0-9]{3})+(?![0-9])")
_NAME = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*")
_UNIT = re.compile(r"%|[A-Za-zµμ]+(?:/[A-Za-z]+)?")
_SPACE = " \t\r\n"
_HELP = ("criteria allow numbers with units, lowercase metric names, "
         f"{', '.join(f.signature for f in _FUNCTIONS.values())}, + - * / ( ) and one comparison")


def _tokenize(expr: str) -> Iterator[_Token]:
    """Tokens on demand, so an error is reported where reading stops, left to right."""
    i, n = 0, len(expr)
    while i < n:
        ch, col = expr[i], i + 1
        if ch in _SPACE:
            i += 1
            continue
        if _NUMBER.match(expr, i):
            token, i = _lex_number(expr, i)
            yield token
            continue
        match = _NAME.match(expr, i)
        if match:
            i = match.end()
            if expr[i:i + 1] == ".":
                raise _error("expected a name segment after '.'", i + 2)
            yield _Token("name", match.group(), col)
            continue
        two = expr[i:i + 2]
        if two in _COMPARISONS[:4]:
            yield _Token("cmp", two, col)
            i += 2
        elif ch in "<>":
            yield _Token("cmp", ch, col)
            i += 1
        elif ch in "+-*/":
            yield _Token("op", ch, col)
            i += 1
        elif ch in "(),":
            yield _Token(ch, ch, col)
            i += 1
        elif ch == ".":
            raise _error("unexpected '.': attributes and methods are not allowed "
                         "(metric names are written like throughput.mean)", col)
        elif ch == "=":
            raise _error("unexpected '=': write '==' to test equality", col)
        elif ch.isascii() and ch.isalpha():
            raise _error(f"unexpected '{ch}': names are lowercase letters, digits and '_', "
                         "and a unit must directly follow a number (e.g. 100 Mbit/s)", col)
        else:
            raise _error(f"unexpected character {ch!r}; {_HELP}", col)
    yield _Token("end", "", n + 1)


def _lex_number(expr: str, i: int) -> tuple[_Token, int]:
    """A number token with its optional unit, and the index after it."""
    col = i + 1
    sep = _THOUSANDS.match(expr, i)
    if sep:
        digits = sep.group().replace(",", "")
        raise _error(f"thousands separators are not allowed: write {digits}", col)
    match = _NUMBER.match(expr, i)
    text = match.group() if match else ""
    value = float(text)
    if not math.isfinite(value):
        raise _error(f"number {text} is too large", col)
    i = j = col - 1 + len(text)
    while j < len(expr) and expr[j] in _SPACE:
        j += 1
    unit = ""
    unit_match = _UNIT.match(expr, j)
    if unit_match:
        try:
            unit = units.parse_unit(unit_match.group())
        except UnitError as exc:
            word, message = unit_match.group(), str(exc)
            if expr[unit_match.end():unit_match.end() + 1] in ("(", ".") or word in _FUNCTIONS:
                message = f"'{word}' cannot follow a number: write '*' to multiply"
            raise _error(message, j + 1) from None
        i = unit_match.end()
    return _Token("num", text, col, value, unit), i


def _error(message: str, column: int) -> CriterionSyntaxError:
    return CriterionSyntaxError(message, column=column)


# ---------------------------------------------------------------------------------------------
# Parser (recursive descent, one token of look-ahead)

class _Parser:
    def __init__(self, tokens: Iterator[_Token]) -> None:
        self.tokens = tokens
        self.tok = next(tokens)
        self.depth = 0
        self.metrics: set[str] = set()
        self.devices: set[str] = set()

    def take(self) -> _Token:
        tok = self.tok
        if tok.kind != "end":
            self.tok = next(self.tokens)
        return tok

    def expect(self, kind: str, what: str) -> _Token:
        if self.tok.kind != kind:
            raise self.unexpected(what)
        return self.take()

    def unexpected(self, what: str) -> CriterionSyntaxError:
        tok = self.tok
        found = "the expression ended" if tok.kind == "end" else f"found '{tok.text}'"
        return _error(f"expected {what} but {found}", tok.col)

    def comparison(self) -> _BinOp:
        left = self.sum()
        if self.tok.kind != "cmp":
            raise self.unexpected("a comparison (<= >= < > == !=) or an operator (+ - * /)")
        op = self.take()
        right = self.sum()
        if self.tok.kind != "end":
            what = "the end (only one comparison is allowed)" if self.tok.kind == "cmp" else \
                "an operator (+ - * /) or the end"
            raise self.unexpected(what)
        return _BinOp(op.text, left, right, op.col)

    def sum(self) -> _Node:
        node = self.product()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.take()
            node = _BinOp(op.text, node, self.product(), op.col)
        return node

    def product(self) -> _Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.take()
            node = _BinOp(op.text, node, self.unary(), op.col)
        return node

    def unary(self) -> _Node:
        if self.tok.kind == "op" and self.tok.text == "-":
            op = self.take()
            return _BinOp("*", _Num(-1.0, "", op.col), self.atom(), op.col)
        return self.atom()

    def atom(self) -> _Node:
        tok = self.tok
        if tok.kind == "num":
            self.take()
            return _Num(tok.value, tok.unit, tok.col)
        if tok.kind == "name":
            self.take()
            if self.tok.kind == "(":
                return self.call(tok)
            self.metrics.add(tok.text)
            return _Metric(tok.text, tok.col)
        if tok.kind == "(":
            self.take()
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise _error(f"parentheses nested deeper than {_MAX_DEPTH}", tok.col)
            node = self.sum()
            self.expect(")", "')' or an operator (+ - * /)")
            self.depth -= 1
            return node
        raise self.unexpected(_VALUE)

    def call(self, name: _Token) -> _Call:
        func = _FUNCTIONS.get(name.text)
        if func is None:
            allowed = ", ".join(f.signature for f in _FUNCTIONS.values())
            raise _error(f"unknown function '{name.text}'; allowed functions: {allowed}", name.col)
        self.take()  # "("
        args: list[str | None] = []
        for index, param in enumerate(func.params):
            if self.tok.kind == ")" and param.optional:
                break
            if index > 0:
                self.expect(",", f"',' or ')' in {func.signature}")
            arg = self.expect("name", f"{param.name} in {func.signature}")
            if "." in arg.text or (param.choices is not None and arg.text not in param.choices):
                choices = "a plain name" if param.choices is None else " or ".join(
                    sorted(param.choices))
                raise _error(f"{name.text}(): {param.name} must be {choices}, "
                             f"got '{arg.text}'", arg.col)
            if param.is_device:
                self.devices.add(arg.text)
            args.append(arg.text)
        self.expect(")", f"')' closing {func.signature}")
        args.extend([None] * (len(func.params) - len(args)))
        return _Call(name.text, tuple(args), name.col)


# ---------------------------------------------------------------------------------------------
# Static unit check and evaluation

class _EvalError(Exception):
    """Why a criterion could not be computed for a trial (becomes an ERROR detail)."""


def _static(node: _Node) -> Quantity | None:
    """A probe quantity of the node's unit, or None when it depends on a metric's unit."""
    if isinstance(node, _Num):
        return Quantity(1.0, node.unit)
    if isinstance(node, _Call):
        return Quantity(1.0, _FUNCTIONS[node.name].unit)
    if isinstance(node, _Metric):
        return None
    left, right = _static(node.left), _static(node.right)
    if left is None or right is None:
        # a + b has the unit of whichever side is known; a * b is unknown until evaluation
        return (left or right) if node.op in "+-" else None
    try:
        return _arith(node.op, left, right)
    except UnitError as exc:
        raise _error(str(exc), node.col) from None


def _arith(op: str, a: Quantity, b: Quantity) -> Quantity:
    return _ARITH[op](a, b)


_ARITH: Mapping[str, Callable[[Quantity, Quantity], Quantity]] = MappingProxyType({
    "+": units.add, "-": units.subtract, "*": units.multiply, "/": units.divide,
})


def _compare(op: str, a: float, b: float) -> bool:
    """Exact for integers (counts), relative tolerance 1e-9 otherwise."""
    exact = a.is_integer() and b.is_integer()
    equal = a == b if exact else math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    less, greater = a < b and not equal, a > b and not equal
    outcomes = {"==": equal, "!=": not equal, "<": less, "<=": less or equal,
                ">": greater, ">=": greater or equal}
    return outcomes[op]


def _mismatch(lhs: Quantity, rhs: Quantity) -> str:
    detail = f"cannot compare {units.describe_unit(lhs.unit)} with {units.describe_unit(rhs.unit)}"
    return detail + (": give the threshold a unit" if rhs.unit == "" else "")


@dataclass(frozen=True)
class Criterion:
    """A parsed criterion: what it reads, and how to judge a trial with it."""

    expr: str
    source: str | None
    metric_names: frozenset[str]
    device_refs: frozenset[str]
    _tree: _BinOp = field(repr=False, compare=False)

    def evaluate(self, ctx: CriterionContext) -> CriterionResult:
        """Judge one trial: PASS/FAIL by the comparison, ERROR or INCONCLUSIVE with the reason.

        On a unit mismatch `threshold` is the right-hand side in its own unit.
        """
        tree = self._tree
        lhs: Quantity | None = None
        rhs: Quantity | None = None
        try:
            lhs = self._value(tree.left, ctx)
            rhs = self._value(tree.right, ctx)
            if not units.same_dimension(lhs.unit, rhs.unit):
                return self._result(lhs, rhs, Verdict.ERROR, _mismatch(lhs, rhs))
            threshold = units.convert(rhs, lhs.unit)
        except _EvalError as exc:
            return self._result(lhs, rhs, Verdict.ERROR, str(exc))
        except (HarnessError, ArithmeticError, ValueError, TypeError) as exc:
            reason = "division by zero" if isinstance(exc, ZeroDivisionError) else str(exc)
            return self._result(lhs, rhs, Verdict.ERROR, reason)
        if math.isnan(lhs.value) or math.isnan(threshold.value):
            return self._result(lhs, threshold, Verdict.ERROR, "value is NaN (not measured)")
        passed = _compare(tree.op, lhs.value, threshold.value)
        if isinstance(tree.left, _Metric):
            interval = self._interval(ctx, tree.left.name)
            if interval is not None and interval[0] < threshold.value < interval[1]:
                ci = f"[{interval[0]:.6g}, {interval[1]:.6g}]" + (f" {lhs.unit}" * bool(lhs.unit))
                detail = (f"{lhs} {tree.op} {threshold} is {str(passed).lower()} for the point "
                          f"estimate, but its 95 % CI {ci} straddles the threshold")
                return self._result(lhs, threshold, Verdict.INCONCLUSIVE, detail)
        if passed:
            return self._result(lhs, threshold, Verdict.PASS, f"{lhs} {tree.op} {threshold}")
        return self._result(lhs, threshold, Verdict.FAIL, f"{lhs} is not {tree.op} {threshold}")

    @staticmethod
    def _interval(ctx: CriterionContext, name: str) -> tuple[float, float] | None:
        try:
            return ctx.interval(name)
        except KeyError:
            return None

    def _value(self, node: _Node, ctx: CriterionContext) -> Quantity:
        if isinstance(node, _Num):
            return Quantity(node.value, node.unit)
        if isinstance(node, _Metric):
            try:
                return _canonical(ctx.metric(node.name), f"metric '{node.name}'")
            except KeyError:
                raise _EvalError(f"trial has no metric '{node.name}'") from None
        if isinstance(node, _Call):
            func = _FUNCTIONS[node.name]
            shown = f"{node.name}({', '.join(a for a in node.args if a is not None)})"
            try:
                return _canonical(func.call(ctx, node.args), shown)
            except KeyError as exc:
                raise _EvalError(f"{shown}: unknown {exc}") from None
        return _arith(node.op, self._value(node.left, ctx), self._value(node.right, ctx))

    def _result(self, observed: Quantity | None, threshold: Quantity | None, verdict: Verdict,
                detail: str) -> CriterionResult:
        return CriterionResult(self.expr, observed, threshold, verdict, self.source, detail)


def _canonical(q: Quantity, what: str) -> Quantity:
    try:
        return Quantity(float(q.value), units.parse_unit(q.unit))
    except UnitError as exc:
        raise _EvalError(f"{what}: {exc}") from None


def parse_criterion(expr: str, *, source: str | None = None) -> Criterion:
    """Parse and unit-check a criterion; CriterionSyntaxError (with .column) if it is wrong."""
    try:
        parser = _Parser(_tokenize(expr))
        tree = parser.comparison()
        left, right = _static(tree.left), _static(tree.right)
        if left and right and not units.same_dimension(left.unit, right.unit):
            raise _error(_mismatch(left, right), tree.col)
    except CriterionSyntaxError as exc:
        raise CriterionSyntaxError(exc.reason, column=exc.column or 1, expr=expr,
                                   file=exc.file, line=exc.line) from None
    return Criterion(expr, source, frozenset(parser.metrics), frozenset(parser.devices), tree)
