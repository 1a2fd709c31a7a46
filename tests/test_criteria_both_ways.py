"""Differential test: every criterion of the scenario library (presets expanded), written the
other way round (sides swapped, operator flipped), judges every context alike — PASS, FAIL and
INCONCLUSIVE cases built around each criterion's own threshold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.base.units import Quantity
from harness.base.verdict import Verdict
from harness.engine.inputs import load_inputs
from harness.engine.plan import PlannedTrial
from harness.judge.aggregate import JudgeContext
from harness.judge.criteria import Criterion, parse_criterion, series_key
from harness.judge.criteria.lexer import FLIPPED, tokenize

ROOT = Path(__file__).resolve().parent.parent
MOCN = {"sharing-mocn.yaml"}


def _library() -> list[tuple[str, PlannedTrial, Criterion]]:
    found: dict[tuple[str, str], tuple[str, PlannedTrial, Criterion]] = {}
    for path in sorted((ROOT / "scenarios").rglob("*.yaml")):
        if "labs" in path.parts:
            continue
        lab = ROOT / ("scenarios/labs/mocn-lab.yaml" if path.name in MOCN else "lab.yaml")
        for trial in load_inputs(path, lab).trials:
            for criterion in trial.criteria:
                key = (trial.kind, criterion.expr)
                found.setdefault(key, (str(path.relative_to(ROOT)), trial, criterion))
    return list(found.values())


LIBRARY = _library()


def swapped(criterion: Criterion) -> Criterion:
    """The same criterion written the other way round: `b <= a` for `a >= b`."""
    expr, depth = criterion.expr, 0
    for tok in tokenize(expr):
        depth += (tok.kind == "(") - (tok.kind == ")")
        if tok.kind == "cmp" and depth == 0:
            left, right = expr[:tok.col - 1].strip(), expr[tok.col - 1 + len(tok.text):].strip()
            return parse_criterion(f"{right} {FLIPPED[tok.text]} {left}",
                                   source=criterion.source,
                                   expected_samples=criterion.expected_samples)
    raise AssertionError(f"no comparison in {expr!r}")


def _unit(trial: PlannedTrial, name: str) -> str:
    return trial.metric_units.get(name, "")


def _contexts(trial: PlannedTrial, criterion: Criterion) -> Iterator[JudgeContext]:
    """Contexts around the criterion's threshold: values below, at and above it, each exact,
    with a narrow CI and with a wide one; for share(), series meeting it 100 %…0 %."""
    peaks = {(d, r): Quantity(v, "Mbit/s") for d in criterion.device_refs
             for r, v in (("dl", 1736.0), ("ul", 107.0))}
    series: dict[str, list[float]] = {}
    base = {n: Quantity(1.0, _unit(trial, n)) for n in criterion.metric_names}
    for spec in criterion.shares:
        key = series_key(spec.series)
        base[key] = Quantity(1.0, _unit(trial, key))
        series[key] = [1.0]
    probe = criterion.evaluate(JudgeContext(metrics=dict(base), peaks=peaks, series=series))
    assert probe.threshold is not None, probe.detail
    threshold = probe.threshold.value
    share_sets = [(100, 100), (50, 50), (9, 10), (95, 100), (10, 100)] if criterion.shares else \
        [(0, 0)]
    for factor in (0.5, 0.99, 1.0, 1.01, 2.0):
        value = threshold * factor if threshold else factor * 2 - 2  # counts: -1 … 2
        for width in (None, 0.005, 0.6):
            for k, n in share_sets:
                metrics = {name: Quantity(value, q.unit) for name, q in base.items()}
                intervals = {} if width is None else {
                    name: (value - abs(value) * width - 0.5 * (value == 0),
                           value + abs(value) * width + 0.5 * (value == 0))
                    for name in criterion.metric_names}
                samples = {}
                for spec in criterion.shares:
                    unit = _unit(trial, series_key(spec.series))
                    limit = spec.threshold.to(unit).value
                    meet, miss = (limit * 2, limit / 2) if ">" in spec.op else (limit / 2,
                                                                                 limit * 2)
                    samples[series_key(spec.series)] = [meet] * k + [miss] * (n - k)
                yield JudgeContext(metrics=metrics, intervals=intervals, peaks=peaks,
                                   series=samples)


def test_the_library_has_criteria_of_every_shape() -> None:
    exprs = {c.expr for _, _, c in LIBRARY}
    assert len(exprs) >= 15
    assert any(c.shares for _, _, c in LIBRARY), "the QCVN preset's share() is in the library"
    assert any(c.device_refs for _, _, c in LIBRARY)


@pytest.mark.parametrize(("where", "trial", "criterion"), LIBRARY,
                         ids=[f"{t.kind}:{c.expr}" for _, t, c in LIBRARY])
def test_either_way_round_same_verdict(where: str, trial: PlannedTrial,
                                       criterion: Criterion) -> None:
    other = swapped(criterion)
    assert other.expr != criterion.expr
    seen: set[Verdict] = set()
    for ctx in _contexts(trial, criterion):
        a, b = criterion.evaluate(ctx), other.evaluate(ctx)
        assert (a.verdict, a.observed, a.threshold, a.detail) == \
            (b.verdict, b.observed, b.threshold, b.detail), (where, criterion.expr, other.expr)
        seen.add(a.verdict)
    assert {Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE} <= seen, (where, seen)
