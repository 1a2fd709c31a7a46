"""The progress displays: live throughput of the running trial, an honest ETA, lines never
wrapped (issue 14 item 6)."""

from __future__ import annotations

import io
import json

from rich.console import Console

from harness.base.events import (
    Event,
    RunStarted,
    SamplesRecorded,
    TrialFinished,
    TrialStarted,
)
from harness.base.sample import Sample
from harness.base.verdict import Verdict
from harness.cli.progress import LiveProgress, Progress
from harness.cli.progress_json import JsonProgress
from harness.cli.progress_live import EtaModel, duration_text, sample_rates


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tags(trial: str, rep: int = 1) -> dict[str, str]:
    return {"run_id": "r", "trial": trial, "repetition": str(rep)}


def _traffic(trial: str, mbps: float) -> Sample:
    return Sample(1, "throughput", _tags(trial), {"bits_per_second": mbps * 1e6, "bytes": 1})


def _volume(trial: str, cell: int, mbit_per_s: float, kpi: str = "DRB.PdcpSduVolumeDL") -> Sample:
    return Sample(1, "kpi", {**_tags(trial), "device": "gnb1", "kpi": kpi, "cell": str(cell),
                             "unit": "Mbit"}, {"raw": 1, "value": 5.0, "rate": mbit_per_s})


def _finished(trial: str) -> TrialFinished:
    return TrialFinished(trial, 1, Verdict.PASS, {"metrics": {}, "error": None, "attempts": 1})


def _panel(live: LiveProgress) -> str:
    out = Console(file=io.StringIO(), width=160)
    out.print(live)
    return out.file.getvalue()  # type: ignore[attr-defined]


def test_live_rate_belongs_to_the_running_trial_not_the_previous_one() -> None:
    """Fails on the old code: its 'last' field kept trial a's 900 Mbit/s through trial b."""
    clock = Clock()
    live = LiveProgress(Console(file=io.StringIO(), force_terminal=True), clock=clock)
    for event in (RunStarted("r", "s", "lab", 2, 24.0), TrialStarted("a", 1, 1, 2, 12.0),
                  SamplesRecorded([_traffic("a", 900.0)]), _finished("a"),
                  TrialStarted("b", 1, 2, 2, 12.0)):
        live(event)
    assert "900" not in _panel(live)  # b has measured nothing yet
    # during b, the gNodeB's volume counters (two cells) say what it carries now
    live(SamplesRecorded([_volume("b", 1, 60.0), _volume("b", 2, 40.0),
                          _volume("b", 1, 0.5, "DRB.PdcpSduVolumeUL")]))
    assert "gnb1 DL 100.0 Mbit/s" in _panel(live)
    live(SamplesRecorded([_traffic("a", 5.0)]))  # a late sample of a finished trial: ignored
    assert "5.0 Mbit/s" not in _panel(live)
    live.live and live.live.stop()


def test_sample_rates_prefers_the_tool_and_converts_kpi_units() -> None:
    thp = Sample(1, "kpi", {**_tags("t"), "device": "gnb1", "kpi": "DRB.UEThpDl", "cell": "1",
                            "unit": "kbit/s"}, {"raw": 250_000, "value": 250_000.0})
    assert sample_rates([thp])[("t", 1)].text() == "gnb1 DL 250.0 Mbit/s"
    assert sample_rates([thp, _traffic("t", 240.0)])[("t", 1)].source == "traffic"
    untagged = Sample(1, "throughput", {}, {"bits_per_second": 1e6})
    odd_unit = Sample(1, "kpi", {**_tags("t"), "kpi": "DRB.UEThpDl", "unit": "PRB"},
                      {"value": 3.0})
    assert sample_rates([untagged, odd_unit]) == {}


def test_eta_counts_setup_teardown_pace_and_retries() -> None:
    """Fails on the old code, whose ETA was the planned seconds left: 12 s here where the
    run still needs about 21 s (the quick latency scenario: 30 s planned, a 44 s run)."""
    eta = EtaModel()
    eta.start(0.0, 24.0)
    eta.trial_started(("a", 1), 12.0, 1, 2.0)  # the lab took 2 s to start
    teardown = 2 * 2.0  # restore, close and report: twice the setup
    assert eta.eta_s(2.0) == 24.0 + teardown
    eta.trial_finished(("a", 1), 19.0)  # 12 planned seconds took 17 (prepare, judge)
    assert abs(eta.eta_s(19.0) - (12.0 * 17 / 12 + teardown)) < 1e-9
    eta.trial_started(("b", 1), 12.0, 1, 19.0)
    assert abs(eta.eta_s(29.0) - (17.0 - 10.0 + teardown)) < 1e-9
    eta.trial_started(("b", 1), 12.0, 2, 36.0)  # ERROR, run again: its 12 s come again
    assert abs(eta.eta_s(36.0) - (17.0 + teardown)) < 1e-9
    eta.trial_finished(("b", 1), 53.0)
    assert eta.eta_s(53.0) == teardown and eta.pace == (17.0 + 34.0) / 36.0


def test_live_panel_eta_moves_with_the_clock() -> None:
    clock = Clock()
    live = LiveProgress(Console(file=io.StringIO(), force_terminal=True), clock=clock)
    live(RunStarted("r", "s", "lab", 1, 10.0))
    clock.now += 3
    live(TrialStarted("t", 1, 1, 1, 10.0))
    clock.now += 4
    assert live.eta_s() == 6.0 + 2 * 3.0
    assert "ETA 12 s" in _panel(live)
    live.live and live.live.stop()


def test_lines_are_never_wrapped_at_80_columns() -> None:
    """Fails on the old code: rich wrapped a long trial line at the 80 columns it assumes
    when stderr is no terminal (CI logs)."""
    out = io.StringIO()
    console = Console(file=out, width=80)
    assert not console.is_terminal
    clock = Clock()
    progress = Progress(console, clock=clock)
    long_id = "throughput-dl-tcp-" + "-".join(f"param{i}" for i in range(12))
    events: list[Event] = [RunStarted("20261207T031322Z-smoke-b858", "smoke", "lab", 1, 12.0),
                           TrialStarted(long_id, 1, 1, 1, 12.0),
                           TrialFinished(long_id, 1, Verdict.FAIL, {
                               "metrics": {"throughput.mean": {"value": 90.0,
                                                               "unit": "Mbit/s"}},
                               "error": "iperf3 said something long " * 4, "attempts": 1})]
    for event in events:
        progress(event)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and long_id in lines[1] and long_id in lines[2]
    assert len(lines[2]) > 80


def test_lines_mode_says_the_live_rate_every_few_seconds() -> None:
    out = io.StringIO()
    clock = Clock()
    progress = Progress(Console(file=out, width=80), every_s=5.0, clock=clock)
    progress(RunStarted("r", "s", "lab", 1, 12.0))
    progress(TrialStarted("t", 1, 1, 1, 12.0))
    for second in range(1, 12):
        clock.now += 1
        progress(SamplesRecorded([_volume("t", 1, 100.0 + second)]))
    live = [line for line in out.getvalue().splitlines() if "Mbit/s" in line]
    assert len(live) == 2  # at 5 s and 10 s
    assert "t #1 5/12 s  gnb1 DL 105.0 Mbit/s  run ETA" in live[0]


def test_json_progress_carries_each_trials_live_rate() -> None:
    out = io.StringIO()
    JsonProgress(out)(SamplesRecorded([_volume("t", 1, 42.0)]))
    line = json.loads(out.getvalue())
    assert line["live"] == [{"trial": "t", "repetition": 1, "source": "gnb1 DL", "mbps": 42.0}]


def test_duration_text() -> None:
    assert duration_text(44.4) == "44 s"
    assert duration_text(185) == "3 min 05 s"
    assert duration_text(7440) == "2 h 04 min"
