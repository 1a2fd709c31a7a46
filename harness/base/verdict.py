"""Trial and run verdicts, ordered by how bad they are."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Verdict(StrEnum):
    """The outcome of a criterion, a trial or a run."""

    PASS = "PASS"
    SKIPPED = "SKIPPED"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    FAIL = "FAIL"

    @property
    def severity(self) -> int:
        """Higher is worse; FAIL outranks ERROR so a run with both reads as FAIL."""
        return _SEVERITY[self]


_SEVERITY = {
    Verdict.PASS: 0,
    Verdict.SKIPPED: 1,
    Verdict.INCONCLUSIVE: 2,
    Verdict.ERROR: 3,
    Verdict.FAIL: 4,
}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst verdict of several; PASS when there are none."""
    result = Verdict.PASS
    for verdict in verdicts:
        if verdict.severity > result.severity:
            result = verdict
    return result


def exit_code(verdict: Verdict) -> int:
    """Process exit code for a run verdict (DESIGN.md: 0 pass, 1 fail, 3 error/inconclusive)."""
    if verdict is Verdict.FAIL:
        return 1
    if verdict in (Verdict.ERROR, Verdict.INCONCLUSIVE):
        return 3
    return 0
