"""Recursive-descent parser of criteria (one token of look-ahead, never eval), with the
parse-time unit check; a comparison whose measured side is on the right is stored swapped."""

from __future__ import annotations

from collections.abc import Iterator

from harness.base import units
from harness.base.units import Quantity, UnitError
from harness.judge.criteria.evaluate import Criterion, mismatch
from harness.judge.criteria.lexer import FLIPPED, CriterionSyntaxError, Token, error, tokenize
from harness.judge.criteria.tree import (
    ARITH,
    FUNCTIONS,
    RATE_SIGNATURE,
    SHARE_SIGNATURE,
    SIGNATURES,
    BinOp,
    Call,
    Metric,
    Node,
    Num,
    Rate,
    Share,
    ShareSpec,
    measured,
)

MAX_DEPTH = 32
_VALUE = "a value (number with unit, metric name or function call)"
_CMP = "a comparison (<= >= < > == !=)"


class _Parser:
    def __init__(self, tokens: Iterator[Token]) -> None:
        self.tokens = tokens
        self.tok = next(tokens)
        self.depth = 0
        self.in_share = False
        self.metrics: set[str] = set()
        self.series: set[str] = set()
        self.devices: set[str] = set()

    def take(self) -> Token:
        tok = self.tok
        if tok.kind != "end":
            self.tok = next(self.tokens)
        return tok

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise self.unexpected(what)
        return self.take()

    def unexpected(self, what: str) -> CriterionSyntaxError:
        tok = self.tok
        found = "the expression ended" if tok.kind == "end" else f"found '{tok.text}'"
        return error(f"expected {what} but {found}", tok.col)

    def comparison(self) -> BinOp:
        left = self.sum()
        if self.tok.kind != "cmp":
            raise self.unexpected(f"{_CMP} or an operator (+ - * /)")
        op = self.take()
        right = self.sum()
        if self.tok.kind != "end":
            what = "the end (only one comparison is allowed)" if self.tok.kind == "cmp" else \
                "an operator (+ - * /) or the end"
            raise self.unexpected(what)
        if measured(right) and not measured(left):
            # `100 Mbit/s <= throughput.mean` is judged (and reported) exactly like
            # `throughput.mean >= 100 Mbit/s`: the measured side is the observed one.
            return BinOp(FLIPPED[op.text], right, left, op.col)
        return BinOp(op.text, left, right, op.col)

    def sum(self) -> Node:
        node = self.product()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.take()
            node = BinOp(op.text, node, self.product(), op.col)
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.take()
            node = BinOp(op.text, node, self.unary(), op.col)
        return node

    def unary(self) -> Node:
        if self.tok.kind == "op" and self.tok.text == "-":
            op = self.take()
            return BinOp("*", Num(-1.0, "", op.col), self.atom(), op.col)
        return self.atom()

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "num":
            self.take()
            return Num(tok.value, tok.unit, tok.col)
        if tok.kind == "name":
            self.take()
            if self.tok.kind == "(":
                if tok.text == "share":
                    return self.share(tok)
                return self.rate(tok) if tok.text == "rate" else self.call(tok)
            if not self.in_share:
                self.metrics.add(tok.text)
            return Metric(tok.text, tok.col)
        if tok.kind == "(":
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise error(f"parentheses nested deeper than {MAX_DEPTH}", tok.col)
            node = self.sum()
            self.expect(")", "')' or an operator (+ - * /)")
            self.depth -= 1
            return node
        raise self.unexpected(_VALUE)

    def call(self, name: Token) -> Call:
        func = FUNCTIONS.get(name.text)
        if func is None:
            raise error(f"unknown function '{name.text}'; allowed functions: {SIGNATURES}",
                        name.col)
        if self.in_share:
            raise error(f"share(): the threshold must be a constant like 30 Mbit/s, "
                        f"not {func.signature}", name.col)
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
                raise error(f"{name.text}(): {param.name} must be {choices}, "
                            f"got '{arg.text}'", arg.col)
            if param.is_device:
                self.devices.add(arg.text)
            args.append(arg.text)
        self.expect(")", f"')' closing {func.signature}")
        args.extend([None] * (len(func.params) - len(args)))
        return Call(name.text, tuple(args), name.col)

    def share(self, name: Token) -> Share:
        """share(series CMP constant), either way round inside."""
        if self.in_share:
            raise error("share() cannot be nested", name.col)
        self.take()  # "("
        self.in_share = True
        left = self.sum()
        if self.tok.kind != "cmp":
            raise self.unexpected(f"{_CMP} inside {SHARE_SIGNATURE}")
        op = self.take()
        right = self.sum()
        self.in_share = False
        self.expect(")", f"')' closing {SHARE_SIGNATURE}")
        if not isinstance(left, Metric) and isinstance(right, Metric):
            left, right, op_text = right, left, FLIPPED[op.text]
        else:
            op_text = op.text
        if not isinstance(left, Metric):
            raise error("share(): one side must be a series name alone, like "
                        "share(throughput >= 30 Mbit/s)", _col(left))
        threshold = _constant(right)
        self.series.add(left.name)
        return Share(ShareSpec(left.name, op_text, threshold), name.col)


    def rate(self, name: Token) -> Rate:
        """rate(events, attempts) of two count metrics."""
        if self.in_share:
            raise error("share(): the threshold must be a constant like 30 Mbit/s, "
                        f"not {RATE_SIGNATURE}", name.col)
        self.take()  # "("
        events = self.expect("name", f"events (a count metric) in {RATE_SIGNATURE}")
        self.expect(",", f"',' in {RATE_SIGNATURE}")
        attempts = self.expect("name", f"attempts (a count metric) in {RATE_SIGNATURE}")
        self.expect(")", f"')' closing {RATE_SIGNATURE}")
        self.metrics.update((events.text, attempts.text))
        return Rate(events.text, attempts.text, name.col)


def _col(node: Node) -> int:
    return node.col


def _constant(node: Node) -> Quantity:
    """The value of a constant expression (numbers with units only) or a positioned error."""
    if isinstance(node, Num):
        return Quantity(node.value, node.unit)
    if isinstance(node, BinOp):
        left, right = _constant(node.left), _constant(node.right)
        try:
            return ARITH[node.op](left, right)
        except ZeroDivisionError:
            raise error("division by zero", node.col) from None
        except UnitError as exc:
            raise error(str(exc), node.col) from None
    raise error("share(): the threshold must be a constant like 30 Mbit/s", _col(node))


def _static(node: Node) -> Quantity | None:
    """A probe quantity of the node's unit, or None when it depends on a metric's unit."""
    if isinstance(node, Num):
        return Quantity(1.0, node.unit)
    if isinstance(node, Call):
        return Quantity(1.0, FUNCTIONS[node.name].unit)
    if isinstance(node, Share | Rate):
        return Quantity(1.0, "%")
    if isinstance(node, Metric):
        return None
    left, right = _static(node.left), _static(node.right)
    if left is None or right is None:
        # a + b has the unit of whichever side is known; a * b is unknown until evaluation
        return (left or right) if node.op in "+-" else None
    try:
        return ARITH[node.op](left, right)
    except UnitError as exc:
        raise error(str(exc), node.col) from None


def parse_criterion(expr: str, *, source: str | None = None,
                    expected_samples: int | None = None) -> Criterion:
    """Parse and unit-check a criterion; CriterionSyntaxError (with .column) if it is wrong.

    `expected_samples`: how many samples the criterion's source asks for; a share() judged on
    fewer says so in its detail.
    """
    try:
        parser = _Parser(tokenize(expr))
        tree = parser.comparison()
        left, right = _static(tree.left), _static(tree.right)
        if left and right and not units.same_dimension(left.unit, right.unit):
            raise error(mismatch(left, right), tree.col)
    except CriterionSyntaxError as exc:
        raise CriterionSyntaxError(exc.reason, column=exc.column or 1, expr=expr,
                                   file=exc.file, line=exc.line) from None
    return Criterion(expr, source, frozenset(parser.metrics), frozenset(parser.devices),
                     tree, series_names=frozenset(parser.series),
                     expected_samples=expected_samples)
