"""Acceptance criteria: a restricted expression language with units, judged to a verdict.

`throughput.mean >= 0.7 * peak(gnb1, dl)` or `share(throughput >= 30 Mbit/s) >= 95 %` is
tokenised (lexer) and parsed by hand (parser, never eval): numbers with units, dotted metric
names, whitelisted functions, + - * / ( ) and exactly one comparison. Evaluation (evaluate)
carries each metric's confidence interval through the arithmetic (interval), so a verdict is
PASS or FAIL only when the whole interval agrees, whichever way round the criterion is written.
"""

from __future__ import annotations

from harness.judge.criteria.evaluate import Criterion, CriterionResult, wilson_percent
from harness.judge.criteria.lexer import MAX_TOKENS, CriterionSyntaxError
from harness.judge.criteria.parser import parse_criterion
from harness.judge.criteria.tree import CriterionContext, MetricWithheld, ShareSpec, series_key

__all__ = ["MAX_TOKENS", "Criterion", "CriterionContext", "CriterionResult",
           "CriterionSyntaxError", "MetricWithheld", "ShareSpec", "parse_criterion", "series_key",
           "wilson_percent"]
