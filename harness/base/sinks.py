"""Where a run's results go: the `RunSink` protocol every destination implements.

A run hands each sink the same points — normalised, tagged with the run's lab, site and device
facts, checked — then, once the verdict is known, the summary. SQLite, InfluxDB, the report,
JUnit, summary.json and the reports catalog are sinks; the command line composes them and
`harness.store.results.RunResults` feeds them. A sink that raises is not silenced: a
`StorageError` is a storage fault of the run (no further trial starts), anything else a notice;
either way the run is ERROR where the sink lost data. See docs/architecture.md ("A new sink").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from harness.base.errors import StorageError
from harness.base.events import Event
from harness.base.sample import Sample

__all__ = ["ENTRY_POINT_GROUP", "RunContext", "RunSink", "Sink", "SummaryWriter"]

ENTRY_POINT_GROUP = "ran_harness.sinks"
"""Plugins publish sink factories here: `name = "package.module:factory"`, where
`factory(options: harness.engine.sinks.SinkOptions) -> RunSink`; `harness run --sink NAME`."""


@dataclass(frozen=True)
class RunContext:
    """What a sink learns of the run when it starts, and how it speaks to the user."""

    run_id: str
    run_dir: Path
    scenario: str
    lab: str
    notice: Callable[[str, str], None]  # (text, level "info"/"warning"/"error") on the console
    storage_fault: Callable[[StorageError], None]  # a run file that could not be written
    note_faults: Callable[[dict[str, Any]], None] = lambda summary: None  # faults → summary
    resumed: bool = False


class RunSink(Protocol):
    """A destination of one run's results."""

    @property
    def name(self) -> str:
        """Short name, used in notices ("sqlite", "influxdb", "report"…)."""
        ...

    def start(self, run: RunContext) -> None:
        """Open what the sink writes to; StorageError when it cannot (the run does not start
        if the embedded store cannot, any other sink is reported and left out)."""
        ...

    def samples(self, samples: Sequence[Sample]) -> None:
        """Points measured: the same tagged, checked points every sink gets."""
        ...

    def event(self, event: Event) -> None:
        """An event of the run (trial started/finished, notices), for sinks that want them."""
        ...

    def finish(self, summary: dict[str, Any]) -> None:
        """The run is over and judged: `summary` is summary.json's content (sinks that run
        earlier may add their keys, e.g. `results`); called in the composed order."""
        ...

    def close(self) -> None:
        """Release everything; called once, also after a failure."""
        ...


class Sink:
    """A base with nothing to do for each step: subclass and override what the sink needs."""

    name = "sink"

    def start(self, run: RunContext) -> None:
        """Remember the run (override to open files)."""
        self.run = run

    def samples(self, samples: Sequence[Sample]) -> None:
        """Ignore points."""

    def event(self, event: Event) -> None:
        """Ignore events."""

    def finish(self, summary: dict[str, Any]) -> None:
        """Nothing to write at the end."""

    def close(self) -> None:
        """Nothing to release."""


@runtime_checkable
class SummaryWriter(Protocol):
    """A sink that writes summary.json: where it went (None: nowhere could take it)."""

    @property
    def summary_path(self) -> Path | None: ...
