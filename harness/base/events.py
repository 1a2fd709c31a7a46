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
    """Delivers every event to every subscriber, in subscription order.

    Result sinks are not subscribers (`harness.store.results.RunResults` is the one that
    feeds them and accounts for their failures); a subscriber that raises — a display, a
    hook — is logged, recorded in `failures` and said to the other subscribers as an error
    notice, once per subscriber: never a silent log line.
    """

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.failures: list[str] = []  # "subscriber: error", the first of each subscriber
        self._failed: set[int] = set()
        self._saying = False

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a subscriber; it sees events emitted from now on."""
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        """Hand `event` to every subscriber; one that fails is said, the others still run."""
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception as exc:
                _log.exception("event subscriber %r failed on %s", subscriber,
                               type(event).__name__)
                self._said(subscriber, exc)

    def _said(self, subscriber: Subscriber, exc: Exception) -> None:
        if id(subscriber) in self._failed or self._saying:
            return
        self._failed.add(id(subscriber))
        name = getattr(subscriber, "__qualname__", type(subscriber).__qualname__)
        text = f"{name}: {type(exc).__name__}: {exc}"
        self.failures.append(text)
        self._saying = True
        try:
            self.emit(Notice(f"an event subscriber failed ({text}); it may miss events",
                             "error"))
        finally:
            self._saying = False
