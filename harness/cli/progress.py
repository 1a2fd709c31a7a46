"""Progress on screen: event subscribers showing what the run is doing.

`LiveProgress` (a terminal) keeps a live panel: the trials running now with elapsed/planned
time and their live throughput, running verdict counts and the run's ETA (`progress_live`);
notices scroll above it. `Progress` prints lines (logs, pipes), never wrapped whatever the
width (a CI log is no terminal), with a live-throughput line every `every_s` seconds of a
trial. `make_progress` picks one, or JSON Lines for CI (`harness.cli.progress_json`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.base.events import (
    Event,
    Notice,
    RunFinished,
    RunStarted,
    SamplesRecorded,
    Subscriber,
    TrialFinished,
    TrialStarted,
)
from harness.base.verdict import Verdict
from harness.cli.progress_json import JsonProgress
from harness.cli.progress_live import EtaModel, LiveRate, TrialKey, duration_text, sample_rates

Clock = Callable[[], float]

_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "red", Verdict.ERROR: "magenta",
          Verdict.INCONCLUSIVE: "yellow", Verdict.SKIPPED: "dim"}
MODES = ("auto", "live", "lines", "json")


def _finished_line(event: TrialFinished) -> str:
    style = _STYLE[event.verdict]
    mean = event.result.get("metrics", {}).get("throughput.mean")
    figure = f"  mean {mean['value']:.1f} {mean['unit']}" if mean else ""
    attempts = event.result.get("attempts", 1)
    tries = f"  (attempt {attempts})" if attempts > 1 else ""
    error = f"  {event.result['error']}" if event.result.get("error") else ""
    return (f"      [{style}]{event.verdict.value}[/] {event.trial_id} "
            f"#{event.repetition}{figure}{tries}{error}")


def _notice_line(event: Notice) -> str:
    style = {"error": "red", "warning": "yellow"}.get(event.level, "dim")
    return f"[{style}]{event.text}[/]"


class Progress:
    """Prints a line when a trial starts (with the run's ETA), its live throughput every
    `every_s` seconds while it runs, and its verdict when it ends; lines are never wrapped."""

    def __init__(self, console: Console, *, every_s: float = 5.0,
                 clock: Clock = time.monotonic) -> None:
        self.console = console
        self.every_s = every_s
        self.clock = clock
        self.eta = EtaModel()
        self.said: dict[TrialKey, float] = {}  # when each running trial's rate was last said

    def _print(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def __call__(self, event: Event) -> None:
        now = self.clock()
        if isinstance(event, RunStarted):
            self.eta.start(now, event.planned_s)
            self._print(f"[bold]run {event.run_id}[/]: {event.scenario} on {event.lab}, "
                        f"{event.trials} trial(s)")
        elif isinstance(event, TrialStarted):
            key = (event.trial_id, event.repetition)
            self.eta.trial_started(key, event.duration_s, event.attempt, now)
            self.said[key] = now
            again = f" attempt {event.attempt}" if event.attempt > 1 else ""
            self._print(f"[{event.index}/{event.total}] {event.trial_id} #{event.repetition} "
                        f"({event.duration_s:g} s){again} ...  run ETA "
                        f"{duration_text(self.eta.eta_s(now))}")
        elif isinstance(event, SamplesRecorded):
            for key, rate in sample_rates(event.samples).items():
                self._live(key, rate, now)
        elif isinstance(event, TrialFinished):
            key = (event.trial_id, event.repetition)
            self.eta.trial_finished(key, now)
            self.said.pop(key, None)
            self._print(_finished_line(event))
        elif isinstance(event, Notice):
            self._print(_notice_line(event))
        elif isinstance(event, RunFinished):
            style = _STYLE[event.verdict]
            self._print(f"[bold {style}]run verdict: {event.verdict.value}[/]")

    def _live(self, key: TrialKey, rate: LiveRate, now: float) -> None:
        trial = self.eta.running.get(key)
        last = self.said.get(key)
        if trial is None or last is None or now - last < self.every_s:
            return
        self.said[key] = now
        self._print(f"      {key[0]} #{key[1]} {now - trial.attempt_started:.0f}/"
                    f"{trial.planned_s:g} s  {rate.text()}  run ETA "
                    f"{duration_text(self.eta.eta_s(now))}")


@dataclass
class _Running:
    label: str
    planned_s: float
    live: LiveRate | None = None


class LiveProgress:
    """A live panel: running trials with their live throughput, verdict counts, elapsed and
    the run's ETA."""

    def __init__(self, console: Console, *, clock: Clock = time.monotonic) -> None:
        self.console = console
        self.clock = clock
        self.live: Live | None = None
        self.title = ""
        self.total = 0
        self.started = clock()
        self.eta = EtaModel()
        self.running: dict[TrialKey, _Running] = {}
        self.counts: dict[Verdict, int] = {}

    def __call__(self, event: Event) -> None:
        now = self.clock()
        if isinstance(event, RunStarted):
            self.title = f"run {event.run_id}: {event.scenario} on {event.lab}"
            self.total = event.trials
            self.started = now
            self.eta.start(now, event.planned_s)
            self.console.print(f"[bold]{self.title}[/], {event.trials} trial(s)")
            self.live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self.live.start()
        elif isinstance(event, TrialStarted):
            key = (event.trial_id, event.repetition)
            self.eta.trial_started(key, event.duration_s, event.attempt, now)
            again = f" attempt {event.attempt}" if event.attempt > 1 else ""
            self.running[key] = _Running(  # a new attempt starts with no rate of its own
                f"[{event.index}/{event.total}] {event.trial_id} #{event.repetition}{again}",
                event.duration_s)
        elif isinstance(event, SamplesRecorded):
            for key, rate in sample_rates(event.samples).items():
                if key in self.running:
                    self.running[key].live = rate
        elif isinstance(event, TrialFinished):
            key = (event.trial_id, event.repetition)
            self.running.pop(key, None)
            self.eta.trial_finished(key, now)
            self.counts[event.verdict] = self.counts.get(event.verdict, 0) + 1
            self.console.print(_finished_line(event), highlight=False)
        elif isinstance(event, Notice):
            self.console.print(_notice_line(event), highlight=False)
        elif isinstance(event, RunFinished):
            if self.live is not None:
                self.live.stop()
                self.live = None
            style = _STYLE[event.verdict]
            self.console.print(f"[bold {style}]run verdict: {event.verdict.value}[/]")

    def eta_s(self, now: float | None = None) -> float:
        """Seconds left in the run (see `EtaModel`)."""
        return self.eta.eta_s(self.clock() if now is None else now)

    def __rich__(self) -> Group:
        now = self.clock()
        table = Table.grid(padding=(0, 2))
        for key, r in self.running.items():
            trial = self.eta.running.get(key)
            elapsed = now - trial.attempt_started if trial is not None else 0.0
            table.add_row(r.label, f"{elapsed:4.0f} / {r.planned_s:g} s",
                          r.live.text() if r.live is not None else "")
        counts = "  ".join(f"[{_STYLE[v]}]{v.value} {n}[/]" for v, n in self.counts.items())
        done = sum(self.counts.values())
        footer = Text.from_markup(
            f"{done}/{self.total} done  {counts}  elapsed {duration_text(now - self.started)}"
            f"  ETA {duration_text(self.eta_s(now))}")
        return Group(table, footer)


def make_progress(mode: str, console: Console | None = None) -> Subscriber:
    """The progress subscriber for `--progress MODE` (auto: live on a terminal, else lines)."""
    if mode == "json":
        return JsonProgress(sys.stderr)
    console = console or Console(stderr=True)
    if mode == "live" or (mode == "auto" and console.is_terminal):
        return LiveProgress(console)
    return Progress(console)
