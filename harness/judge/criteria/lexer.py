"""Tokens of the criteria language, read on demand so an error points where reading stopped."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from harness.base import units
from harness.base.errors import ConfigError
from harness.base.units import UnitError

COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")
FLIPPED = {"<=": ">=", ">=": "<=", "<": ">", ">": "<", "==": "==", "!=": "!="}
"""The operator that keeps a comparison's meaning when its two sides are swapped."""

MAX_TOKENS = 256
"""Longest criterion accepted; evaluation recurses per operator, so the length is bounded."""

FUNCTION_NAMES = frozenset({"peak", "share", "rate"})
"""Names that may follow a number only with '*' in between (a unit never looks like them)."""

HELP = ("criteria allow numbers with units, lowercase metric names, peak(device[, dl|ul]), "
        "share(series CMP value), rate(events, attempts), + - * / ( ) and one comparison")


class CriterionSyntaxError(ConfigError):
    """A criterion does not parse; the message says what was expected, `.column` is 1-based."""

    def __init__(self, message: str, *, column: int, expr: str | None = None,
                 file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        shown = expr if expr is None or len(expr) <= 120 else f"{expr[:100]}…"
        text = message if shown is None else f"{message} (column {column} of {shown!r})"
        super().__init__(text, file=file, line=line, column=column, field=field)
        self.expr = expr


@dataclass(frozen=True)
class Token:
    """One token: kind is num, name, op, cmp, (, ), ',' or end; col is 1-based."""

    kind: str
    text: str
    col: int
    value: float = 0.0
    unit: str = ""


_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_THOUSANDS = re.compile(r"[0-9]+(?:,[0-9]{3})+(?![0-9])")
# the first segment is lowercase; later ones may carry TS 28.552 KPI names (gnb1.RM.RegInitReq)
_NAME = re.compile(r"[a-z_][a-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_UNIT = re.compile(r"%|[A-Za-zµμ]+(?:/[A-Za-z]+)?")
_SPACE = " \t\r\n"


def error(message: str, column: int) -> CriterionSyntaxError:
    """A syntax error at a 1-based column (the expression is added by parse_criterion)."""
    return CriterionSyntaxError(message, column=column)


def tokenize(expr: str) -> Iterator[Token]:
    """Tokens on demand, left to right; more than MAX_TOKENS is an error at the first extra."""
    for count, token in enumerate(_tokens(expr), start=1):
        if count > MAX_TOKENS:
            raise error(f"criterion is too long (more than {MAX_TOKENS} tokens): split it into "
                        "several criteria", token.col)
        yield token


def _tokens(expr: str) -> Iterator[Token]:
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
                raise error("expected a name segment after '.'", i + 2)
            yield Token("name", match.group(), col)
            continue
        two = expr[i:i + 2]
        if two in COMPARISONS[:4]:
            yield Token("cmp", two, col)
            i += 2
        elif ch in "<>":
            yield Token("cmp", ch, col)
            i += 1
        elif ch in "+-*/":
            yield Token("op", ch, col)
            i += 1
        elif ch in "(),":
            yield Token(ch, ch, col)
            i += 1
        elif ch == ".":
            raise error("unexpected '.': attributes and methods are not allowed "
                        "(metric names are written like throughput.mean)", col)
        elif ch == "=":
            raise error("unexpected '=': write '==' to test equality", col)
        elif ch.isascii() and ch.isalpha():
            raise error(f"unexpected '{ch}': names are lowercase letters, digits and '_', "
                        "and a unit must directly follow a number (e.g. 100 Mbit/s)", col)
        else:
            raise error(f"unexpected character {ch!r}; {HELP}", col)
    yield Token("end", "", n + 1)


def _lex_number(expr: str, i: int) -> tuple[Token, int]:
    """A number token with its optional unit, and the index after it."""
    col = i + 1
    sep = _THOUSANDS.match(expr, i)
    if sep:
        digits = sep.group().replace(",", "")
        raise error(f"thousands separators are not allowed: write {digits}", col)
    match = _NUMBER.match(expr, i)
    text = match.group() if match else ""
    value = float(text)
    if not math.isfinite(value):
        raise error(f"number {text} is too large", col)
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
            if expr[unit_match.end():unit_match.end() + 1] in ("(", ".") or \
                    word in FUNCTION_NAMES:
                message = f"'{word}' cannot follow a number: write '*' to multiply"
            raise error(message, j + 1) from None
        i = unit_match.end()
    return Token("num", text, col, value, unit), i
