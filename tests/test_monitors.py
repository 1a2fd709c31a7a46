"""Monitors' pure parts, and the progress displays (live panel, JSON Lines)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Mapping

from rich.console import Console

from drivers.capabilities import AlarmEvent
from harness.base.events import (
    Notice,
    RunFinished,
    RunStarted,
    SamplesRecorded,
    TrialFinished,
    TrialStarted,
)
from harness.base.sample import Sample
from harness.base.units import Quantity
from harness.base.verdict import Verdict
from harness.cli.progress import LiveProgress, Progress, make_progress
from harness.cli.progress_json import JsonProgress, event_json
from harness.config.monitors import MonitorSettings
from harness.monitors import MonitorGroup, MonitorReport, TrialScope
from harness.monitors.alarms import alarm_key, alarm_metrics
from harness.monitors.crosscheck import compare_volumes
from harness.monitors.health import health_kpis


def _alarm(severity: str, text: str) -> AlarmEvent:
    return AlarmEvent(device="gnb1", severity=severity, source="cell1", text=text, time=0.0)


def test_alarm_metrics_count_distinct_alarms_by_severity() -> None:
    seen = {alarm_key(a): a for a in [_alarm("critical", "x"), _alarm("critical", "y"),
                                      _alarm("minor", "z"), _alarm("cleared", "x")]}
    metrics = alarm_metrics(seen, raised=2)
    assert metrics["alarms.critical"].value == 2 and metrics["alarms.minor"].value == 1
    assert metrics["alarms.major"].value == 0 and metrics["alarms.total"].value == 3
    assert metrics["alarms.raised"].value == 2


def test_crosscheck_flags_beyond_tolerance_only() -> None:
    metrics, note = compare_volumes(Quantity(1_000_000, "B"), Quantity(8.2, "Mbit"), 5.0)
    assert round(metrics["crosscheck.deviation"].value, 3) == 2.5 and note is None
    assert metrics["crosscheck.mismatch"].value == 0
    metrics, note = compare_volumes(Quantity(1_000_000, "B"), Quantity(6.0, "Mbit"), 5.0)
    assert metrics["crosscheck.mismatch"].value == 1 and note is not None and "-25.0 %" in note
    assert compare_volumes(Quantity(0, "B"), Quantity(0, "Mbit"), 5)[1] is None


def test_health_kpis_found_by_name() -> None:
    assert health_kpis(["EQPT.CpuLoad", "EQPT.MemoryUsed", "EQPT.TemperatureBoard",
                        "DRB.UEThpDl"]) == {"EQPT.CpuLoad": "cpu", "EQPT.MemoryUsed": "memory",
                                            "EQPT.TemperatureBoard": "temperature"}


def test_monitor_settings_accept_percent() -> None:
    settings = MonitorSettings.model_validate({"crosscheck": {"tolerance": "7.5%"}})
    assert settings.crosscheck.tolerance == 7.5


class _Broken:
    name = "broken"

    async def start(self) -> None:
        raise RuntimeError("no way")

    async def stop(self, measured: Mapping[str, Quantity],
                   windows: object = None) -> MonitorReport:
        raise AssertionError("never started, never stopped")


class _Fine:
    name = "fine"

    async def start(self) -> None:
        return None

    async def stop(self, measured: Mapping[str, Quantity],
                   windows: object = None) -> MonitorReport:
        return MonitorReport(metrics={"x.seen": measured["throughput.mean"]})


def test_monitor_group_survives_a_broken_monitor() -> None:
    scope = TrialScope("t", 1, (), 1, "dl", None, {}, lambda s: None)
    group = MonitorGroup.build([lambda s: _Broken(), lambda s: None, lambda s: _Fine()], scope)
    assert len(group.monitors) == 2

    async def go() -> tuple[MonitorReport, MonitorReport]:
        started = await group.start()
        return started, await group.stop({"throughput.mean": Quantity(5, "Mbit/s")})

    started, stopped = asyncio.run(go())
    assert started.errors == ["broken monitor did not start: no way"]
    assert stopped.metrics == {"x.seen": Quantity(5, "Mbit/s")} and stopped.errors == []


def _events() -> list[object]:
    sample = Sample(1, "throughput", {}, {"bits_per_second": 12.5e6, "bytes": 1})
    result = {"metrics": {"throughput.mean": {"value": 12.5, "unit": "Mbit/s"}},
              "error": None, "attempts": 2}
    return [RunStarted("r1", "smoke", "lab", 2, 6.0), TrialStarted("t", 1, 1, 2, 3.0, 2),
            SamplesRecorded([sample]), SamplesRecorded([]), Notice("hello", "warning"),
            TrialFinished("t", 1, Verdict.PASS, result), RunFinished("r1", Verdict.PASS)]


def test_json_progress_one_versioned_object_per_event() -> None:
    out = io.StringIO()
    progress = JsonProgress(out)
    for event in _events():
        progress(event)  # type: ignore[arg-type]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [x["type"] for x in lines] == ["run_started", "trial_started", "samples", "notice",
                                          "trial_finished", "run_finished"]
    assert all(x["schema"] == "ran-harness/progress" and x["version"] == 1 and x["time"]
               for x in lines)
    assert lines[0]["planned_s"] == 6.0 and lines[1]["attempt"] == 2
    assert lines[2]["throughput_mbps"] == 12.5 and lines[2]["measurements"] == {"throughput": 1}
    assert lines[4]["verdict"] == "PASS" and lines[4]["attempts"] == 2
    assert event_json(SamplesRecorded([])) is None


def test_live_progress_shows_trial_eta_live_rate_and_counts() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    now = [0.0]
    live = LiveProgress(console, clock=lambda: now[0])
    events = _events()
    for event in events[:2]:
        live(event)  # type: ignore[arg-type]
    live(SamplesRecorded([Sample(1, "throughput", {"trial": "t", "repetition": "1"},
                                 {"bits_per_second": 12.5e6})]))
    assert live.eta_s() == 6.0
    panel = Console(file=io.StringIO(), width=120)
    panel.print(live)
    text = panel.file.getvalue()  # type: ignore[attr-defined]
    assert "[1/2] t #1 attempt 2" in text and "ETA" in text and "traffic 12.5 Mbit/s" in text
    now[0] = 3.0
    for event in events[3:]:
        live(event)  # type: ignore[arg-type]
    assert live.counts == {Verdict.PASS: 1} and live.live is None
    assert live.eta_s() == 3.0
    assert "run verdict: PASS" in console.file.getvalue()  # type: ignore[attr-defined]


def test_make_progress_modes() -> None:
    pipe = Console(file=io.StringIO())
    assert isinstance(make_progress("auto", pipe), Progress)
    assert isinstance(make_progress("live", pipe), LiveProgress)
    assert isinstance(make_progress("json", pipe), JsonProgress)
