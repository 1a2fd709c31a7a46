"""A kind whose measurement is not in this build: registered so that a scenario naming it gets
a clear validation error instead of "unknown kind"."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ConfigDict

from harness.base.errors import HarnessError
from harness.kinds import TrialKind
from harness.kinds.base import KindRun, TrialBase


class PendingSpec(TrialBase):
    """Accepts any fields: the kind is refused before its fields are looked at."""

    model_config = ConfigDict(extra="allow", frozen=True)


def _no_metrics(spec: TrialBase) -> Mapping[str, str]:
    return {}


def pending_kind(name: str, summary: str, missing: str) -> TrialKind:
    """A registered kind that validation refuses, saying which module is missing."""

    async def measure(run: KindRun) -> None:
        raise HarnessError(f"trial kind {name!r} is not available: {missing}")

    return TrialKind(name=name, spec=PendingSpec, measure=measure, metrics=_no_metrics,
                     summary=summary, unavailable=f"{missing}; this build cannot run it yet")
