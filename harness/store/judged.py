"""Which metrics a regression is judged on, and which way is worse.

Only the metrics a trial's criteria read (`parse_criterion(expr).metric_names`) and those the
scenario names under `regression: {metrics: [...]}` are judged; every other metric is shown by
`harness compare`, never judged. The direction comes from the comparison and from the side
(and sign) the metric is on: in `throughput.mean >= 0.6 * peak(gnb1)` higher is better, in
`100 Mbit/s <= throughput.mean` too, in `rtt.p95 <= 30 ms` and `100 % - loss <= ...` lower is;
`==`/`!=` (and a metric on both sides) make any change beyond the tolerance count ("either").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from harness.criteria import parse_criterion
from harness.errors import ConfigError

HIGHER, LOWER, EITHER = "higher", "lower", "either"

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"(?:\s*(?:%|[A-Za-zµμ]+(?:/[A-Za-z]+)?))?)"
    r"|(?P<name>[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)"
    r"|(?P<cmp><=|>=|==|!=|<|>)|(?P<op>[-+*/])|(?P<punct>[(),]))")
_UP = {">": 1, ">=": 1, "<": -1, "<=": -1}


class _Signs:
    """A recursive walk over a validated criterion's tokens collecting, for each metric, the
    sign of its influence on the left side minus the right side (+1, -1; 0 = unknown)."""

    def __init__(self, expr: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(expr):
            match = _TOKEN.match(expr, pos)
            if match is None or match.end() == pos:
                if expr[pos:].strip():
                    raise ValueError(f"cannot read {expr[pos:]!r}")
                break
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.i = 0
        self.dry = 0  # > 0 while skipping a side to find its comparison operator
        self.found: dict[str, set[int]] = {}

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.i += 1
        return token

    def comparison(self, sign: int) -> None:
        """`sum cmp sum`: the left side counts with `sign` × the operator's direction."""
        start = self.i
        self.dry += 1
        self.sum(0)  # skip the left side once to reach the operator
        self.dry -= 1
        kind, op = self.peek()
        if kind != "cmp":
            return
        up = _UP.get(op, 0)
        self.i = start
        self.sum(sign * up)
        self.take()
        self.sum(-sign * up)

    def sum(self, sign: int) -> None:
        self.product(sign)
        while self.peek() in (("op", "+"), ("op", "-")):
            _, op = self.take()
            self.product(sign if op == "+" else -sign)

    def product(self, sign: int) -> None:
        self.unary(sign)
        while self.peek() in (("op", "*"), ("op", "/")):
            _, op = self.take()
            self.unary(sign if op == "*" else -sign)  # a metric in a divisor moves the other way

    def unary(self, sign: int) -> None:
        if self.peek() == ("op", "-"):
            self.take()
            self.unary(-sign)
            return
        self.atom(sign)

    def atom(self, sign: int) -> None:
        kind, text = self.take()
        if kind == "name" and self.peek() == ("punct", "("):
            self.take()
            while self.peek()[0] not in ("end",) and self.peek() != ("punct", ")"):
                if self.peek() == ("punct", ","):
                    self.take()
                    continue
                self.comparison(sign)  # share(throughput >= 30 Mbit/s): up with throughput
            self.take()
        elif kind == "name" and not self.dry:
            self.found.setdefault(text, set()).add(sign)
        elif (kind, text) == ("punct", "("):
            self.sum(sign)
            self.take()


def criterion_directions(expr: str) -> dict[str, str]:
    """metric → "higher"/"lower"/"either" for every metric a criterion reads.

    Raises ConfigError when the criterion does not parse."""
    criterion = parse_criterion(expr)
    walk = _Signs(expr)
    try:
        walk.comparison(1)
    except (ValueError, IndexError):
        walk.found = {}
    result: dict[str, str] = {}
    for name in criterion.metric_names:
        signs = walk.found.get(name, {0})
        if signs == {1}:
            result[name] = HIGHER
        elif signs == {-1}:
            result[name] = LOWER
        else:
            result[name] = EITHER
    return result


def _merge(old: str | None, new: str) -> str:
    return new if old in (None, new) else EITHER


def judged_metrics(trials: Iterable[Mapping[str, Any]],
                   rules: Mapping[str, Any] | None = None) -> dict[tuple[str, str], str]:
    """(trial id, metric) → direction for every judged metric of a summary's trials.

    `rules` is summary.json's `regression` entry: `{"trials": {id: {"metrics": [...]}}}`; a
    named metric that no criterion reads is judged by its name (`direction_by_name`), else
    either way."""
    found: dict[tuple[str, str], str] = {}
    for trial in trials:
        tid = str(trial.get("id", ""))
        for criterion in trial.get("criteria") or ():
            try:
                ways = criterion_directions(str(criterion.get("expr", "")))
            except (ConfigError, ValueError):
                continue
            for name, way in ways.items():
                found[(tid, name)] = _merge(found.get((tid, name)), way)
    for tid, rule in ((rules or {}).get("trials") or {}).items():
        for name in rule.get("metrics") or ():
            key = (str(tid), str(name))
            if key not in found:
                found[key] = direction_by_name(str(name)) or EITHER
    return found


_HIGHER = re.compile(r"(^|\.)(throughput|goodput|rate|efficiency|share)(\.|$)")
_LOWER = re.compile(r"(^|\.)(rtt|latency|jitter|ipdv|fdv|loss|lost|retransmits|delay|"
                    r"buffer_delay)(\.|$)")


def direction_by_name(metric: str) -> str:
    """"higher", "lower" or "" (unknown) from a metric's name alone."""
    if metric.endswith((".samples", ".std", ".count", ".packets")):
        return ""
    if _LOWER.search(metric):
        return LOWER
    if _HIGHER.search(metric):
        return HIGHER
    return ""
