"""A minimal result sink, as docs/architecture.md shows one: every point it is given, one JSON
line each, in the run directory; its count into summary.json. A plugin publishes the same class
through the `ran_harness.sinks` entry-point group (`example = "tests.example_sink:make"`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from harness.base.sample import Sample
from harness.base.sinks import RunContext, Sink


class JsonLinesSink(Sink):
    """points.jsonl: time_ns, measurement, tags, fields of every point."""

    name = "jsonl"

    def start(self, run: RunContext) -> None:
        super().start(run)
        self.count = 0
        self._out: TextIO = open(run.run_dir / "points.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def samples(self, samples: Sequence[Sample]) -> None:
        for s in samples:
            self._out.write(json.dumps([s.time_ns, s.measurement, s.tags, s.fields]) + "\n")
        self.count += len(samples)

    def finish(self, summary: dict[str, Any]) -> None:
        summary.setdefault("results", {})["jsonl_points"] = self.count

    def close(self) -> None:
        self._out.close()


def make(options: object) -> JsonLinesSink:
    """The factory a plugin's entry point names."""
    return JsonLinesSink()
