"""What the runner says happened; stores, progress display and report subscribe."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.base.sample import Sample
from harness.base.verdict import Verdict

_log = logging.getLogger("harness.base.events")


@dataclass(frozen=True)
class RunStarted:
    """A run began: its id, scenario and how many trials are planned."""

    run_id: str
    scenario: str
    lab: str
    trials: int
    planned_s: float = 0.0  # the trials' planned durations, summed (for an ETA)


@dataclass(frozen=True)
class TrialStarted:
    """A trial began."""

    trial_id: str
    repetition: int
    index: int
    total: int
    duration_s: float
    attempt: int = 1  # > 1 when an ERROR trial is run again (--retries)


@dataclass(frozen=True)
class SamplesRecorded:
    """Samples were measured (traffic intervals, KPI polls)."""

    samples: list[Sample]


@dataclass(frozen=True)
class TrialFinished:
    """A trial ended with a verdict; `result` is its summary.json entry."""

    trial_id: str
    repetition: int
    verdict: Verdict
    result: dict[str, Any]


@dataclass(frozen=True)
class RunFinished:
    """The run ended."""

    run_id: str
    verdict: Verdict


@dataclass(frozen=True)
class Notice:
    """Something a user should see (a setup step, a restore, a warning)."""

    text: str
    level: str = "info"


Event = RunStarted | TrialStarted | SamplesRecorded | TrialFinished | RunFinished | Notice
Subscriber = Callable[[Event], None]


class EventBus:
    """Delivers every event to every subscriber, in subscription order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a subscriber; it sees events emitted from now on."""
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        """Hand `event` to every subscriber; one that fails is logged, the others still run."""
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                _log.exception("event subscriber %r failed on %s", subscriber,
                               type(event).__name__)
