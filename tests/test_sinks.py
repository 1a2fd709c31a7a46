"""Result sinks (issue 11): every sink gets the same tagged points as samples.sqlite; a sink
that fails is said and makes the run ERROR with what it lost counted; plugin sinks load by name
and a broken one says which; a failing event subscriber is said, not only logged.

These fail on the old code: there was no sink protocol (a plain bus subscriber got untagged
samples) and EventBus.emit swallowed a subscriber's exception into a log line.
"""

from __future__ import annotations

import importlib.metadata
import json
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.base.errors import ConfigError
from harness.base.events import Event, EventBus, Notice, RunFinished
from harness.base.sample import Sample
from harness.base.sinks import ENTRY_POINT_GROUP
from harness.engine.sinks import SinkOptions, compose_sinks, plugin_sinks
from harness.store.sqlite import SqliteStore
from tests.conftest import require_tool
from tests.example_sink import JsonLinesSink, make
from tests.runner_helpers import inputs, run_in_process, short_throughput

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = short_throughput("sinks")


class FailingSink(JsonLinesSink):
    """Takes two batches of points, then breaks (a plugin's defect)."""

    name = "flaky"

    def samples(self, samples: Sequence[Sample]) -> None:
        if self.count >= 2:
            raise RuntimeError("the collector went away")
        self.count += 1


def _key(point: Sequence[Any]) -> str:
    return json.dumps(point, sort_keys=True)


def _run(tmp_path: Path, *extra: Any) -> tuple[Any, list[Event]]:
    require_tool("iperf3")
    plugins = {sink.name: (lambda o, s=sink: s) for sink in extra}
    sinks = compose_sinks(SinkOptions(plugins=tuple(plugins)), plugins)
    return run_in_process(inputs(tmp_path, SCENARIO), tmp_path / "out", sinks=sinks)


@pytest.mark.e2e
def test_a_sink_gets_exactly_the_points_sqlite_stores(tmp_path: Path) -> None:
    outcome, _ = _run(tmp_path, JsonLinesSink())
    assert "sink_errors" not in outcome.summary
    assert outcome.summary["verdict"] in ("PASS", "INCONCLUSIVE")  # 2 s: maybe too few samples
    lines = (outcome.run_dir / "points.jsonl").read_text(encoding="utf-8").splitlines()
    sent = sorted(_key(json.loads(line)) for line in lines)
    store = SqliteStore(outcome.run_dir / "samples.sqlite")
    try:
        stored = sorted(_key([s.time_ns, s.measurement, s.tags, s.fields])
                        for s in store.samples())
    finally:
        store.close()
    assert sent == stored and len(sent) > 10
    # tagged like the stores: the run's tags and the device's facts, on every point
    first = json.loads(lines[0])
    assert first[2]["run_id"] == outcome.summary["run_id"] and first[2]["lab"] == "test-lab"
    assert any(json.loads(p)[2].get("vendor") for p in lines)
    assert outcome.summary["results"]["jsonl_points"] == len(lines)
    assert outcome.summary["results"]["samples"] == len(lines)


@pytest.mark.e2e
def test_a_failing_sink_is_said_and_the_run_is_error(tmp_path: Path) -> None:
    outcome, events = _run(tmp_path, FailingSink())
    summary = outcome.summary
    assert summary["verdict"] == "ERROR"
    assert all(t["verdict"] != "ERROR" for t in summary["trials"])  # the measurement was fine
    (error,) = summary["sink_errors"]
    assert error["sink"] == "flaky" and "the collector went away" in error["error"]
    assert error["lost_samples"] > 0
    said = [e.text for e in events if isinstance(e, Notice) and e.level == "error"]
    assert any("result sink 'flaky' failed" in text for text in said), said
    written = json.loads((outcome.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert written["verdict"] == "ERROR" and written["sink_errors"] == summary["sink_errors"]
    db = sqlite3.connect(outcome.run_dir / "samples.sqlite")  # the other sinks lost nothing
    assert db.execute("SELECT count(*) FROM points").fetchone()[0] == \
        summary["results"]["samples"]
    db.close()
    assert isinstance(events[-1], RunFinished)


def test_unknown_and_broken_plugin_sinks_say_which() -> None:
    with pytest.raises(ConfigError, match=r"--sink nope: no such result sink \(plugin sinks: "
                       r"jsonl\)"):
        compose_sinks(SinkOptions(plugins=("nope",)), {"jsonl": make})
    broken = importlib.metadata.EntryPoint(name="broken", value="no_such_module_s:make",
                                           group=ENTRY_POINT_GROUP)
    with pytest.raises(ConfigError, match=r"cannot load result sink 'broken' from "
                       r"no_such_module_s:make: ModuleNotFoundError"):
        plugin_sinks([broken])
    taken = importlib.metadata.EntryPoint(name="report", value="tests.example_sink:make",
                                          group=ENTRY_POINT_GROUP)
    with pytest.raises(ConfigError, match="registered twice"):
        plugin_sinks([taken])
    ok = importlib.metadata.EntryPoint(name="jsonl", value="tests.example_sink:make",
                                       group=ENTRY_POINT_GROUP)
    assert plugin_sinks([ok]) == {"jsonl": make}


def test_the_cli_refuses_an_unknown_sink_before_touching_a_device(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "scenarios/smoke.yaml",
                           "--lab", "lab.yaml", "--sink", "nope", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "--sink nope: no such result sink" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())


def test_default_sinks_in_order() -> None:
    names = [s.name for s in compose_sinks(SinkOptions(junit=Path("j.xml")))]
    assert names == ["report", "junit", "manifest", "summary", "catalog"]


def test_a_failing_subscriber_is_said_to_the_others() -> None:
    bus = EventBus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise OSError(28, "No space left on device")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    bus.emit(Notice("hello"))
    bus.emit(Notice("again"))
    notices = [e.text for e in seen if isinstance(e, Notice)]
    assert [t for t in notices if t in ("hello", "again")] == ["hello", "again"]
    failed = [t for t in notices if "an event subscriber failed" in t]
    assert len(failed) == 1 and "No space left on device" in failed[0]  # once, not per event
    assert bus.failures and "broken" in bus.failures[0]
