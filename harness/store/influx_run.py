"""InfluxDB as a run sink: the points go through the spooling writer (`store/sink.py`), so an
unreachable server loses nothing; what waits in the spool is said at the end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.base.errors import HarnessError
from harness.base.events import Event
from harness.base.sample import Sample
from harness.base.sinks import RunContext, Sink
from harness.store.influx import InfluxTarget
from harness.store.sink import InfluxSink

__all__ = ["InfluxRunSink"]


class InfluxRunSink(Sink):
    """The run's points to one InfluxDB bucket (v2 write API), spooled on disk meanwhile."""

    name = "influxdb"

    def __init__(self, target: InfluxTarget, flush_timeout_s: float = 15.0) -> None:
        self.target = target
        self.flush_timeout_s = flush_timeout_s
        self._sink: InfluxSink | None = None

    def start(self, run: RunContext) -> None:
        """Start the writer; when it cannot start, the run goes on (samples are in SQLite)."""
        super().start(run)
        try:
            self._sink = InfluxSink(self.target, run.run_dir, replay_from=run.run_dir.parent)
        except (HarnessError, OSError) as exc:
            run.notice(f"InfluxDB sink not started: {exc}; `harness push {run.run_dir.name}` "
                       "can send the samples later", "error")

    def samples(self, samples: Sequence[Sample]) -> None:
        """Queue the points (the writer spools what the server does not take)."""
        if self._sink is not None:
            self._sink.write(samples)
            self._relay()

    def event(self, event: Event) -> None:
        """Pass on what the writer has to say (server away, back, refusing…)."""
        self._relay()

    def finish(self, summary: dict[str, Any]) -> None:
        """Flush (briefly after Ctrl-C) and record the writer's status in `results.influxdb`."""
        if self._sink is None:
            return
        timeout = 5.0 if summary.get("interrupted") else self.flush_timeout_s
        status = self._sink.close(timeout)
        self._relay()
        summary.setdefault("results", {})["influxdb"] = status.as_json()
        if status.pending:
            self.run.notice(f"{status.pending} point(s) wait in the run's InfluxDB spool: "
                            f"`harness push {self.run.run_dir.name}` sends them", "warning")

    def close(self) -> None:
        """Stop the writer if the run ended before `finish`."""
        if self._sink is not None and not self._sink.closed:
            self._sink.close(self.flush_timeout_s)

    def _relay(self) -> None:
        if self._sink is None:
            return
        for level, text in self._sink.messages():
            self.run.notice(text, level)
