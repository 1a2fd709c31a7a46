"""Progress on screen: event subscribers showing what the run is doing.

`LiveProgress` (a terminal) keeps a live panel: the trials running now with elapsed/planned
time, the latest throughput sample, running verdict counts and the run's ETA from the planned
durations; notices scroll above it. `Progress` prints lines (logs, pipes). `make_progress`
picks one, or JSON Lines for CI (`harness.cli.progress_json`).
"""

from __future__ import annotations

import sys
import time
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
from harness.cli.progress_json import JsonProgress, latest_throughput_mbps

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
    """Prints one line when a trial starts and one with its verdict when it ends."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, event: Event) -> None:
        c = self.console
        if isinstance(event, RunStarted):
            c.print(f"[bold]run {event.run_id}[/]: {event.scenario} on {event.lab}, "
                    f"{event.trials} trial(s)")
        elif isinstance(event, TrialStarted):
            again = f" attempt {event.attempt}" if event.attempt > 1 else ""
            c.print(f"[{event.index}/{event.total}] {event.trial_id} #{event.repetition} "
                    f"({event.duration_s:g} s){again} ...")
        elif isinstance(event, TrialFinished):
            c.print(_finished_line(event), highlight=False)
        elif isinstance(event, Notice):
            c.print(_notice_line(event), highlight=False)
        elif isinstance(event, RunFinished):
            style = _STYLE[event.verdict]
            c.print(f"[bold {style}]run verdict: {event.verdict.value}[/]")


@dataclass
class _Running:
    label: str
    started: float
    planned_s: float


class LiveProgress:
    """A live panel: running trials, last sample, verdict counts, elapsed and ETA."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self.title = ""
        self.total = 0
        self.planned_s = 0.0
        self.done_planned_s = 0.0
        self.started = time.monotonic()
        self.running: dict[tuple[str, int], _Running] = {}
        self.counts: dict[Verdict, int] = {}
        self.last_sample = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.title = f"run {event.run_id}: {event.scenario} on {event.lab}"
            self.total, self.planned_s = event.trials, event.planned_s
            self.started = time.monotonic()
            self.console.print(f"[bold]{self.title}[/], {event.trials} trial(s)")
            self.live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self.live.start()
        elif isinstance(event, TrialStarted):
            again = f" attempt {event.attempt}" if event.attempt > 1 else ""
            self.running[(event.trial_id, event.repetition)] = _Running(
                f"[{event.index}/{event.total}] {event.trial_id} #{event.repetition}{again}",
                time.monotonic(), event.duration_s)
        elif isinstance(event, SamplesRecorded):
            rate = latest_throughput_mbps(event)
            if rate is not None:
                self.last_sample = f"{rate:,.1f} Mbit/s"
        elif isinstance(event, TrialFinished):
            done = self.running.pop((event.trial_id, event.repetition), None)
            self.done_planned_s += done.planned_s if done else 0.0
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
        """Planned seconds left: trials not finished, less what the running ones have done."""
        now = time.monotonic() if now is None else now
        in_flight = sum(min(now - r.started, r.planned_s) for r in self.running.values())
        return max(0.0, self.planned_s - self.done_planned_s - in_flight)

    def __rich__(self) -> Group:
        now = time.monotonic()
        table = Table.grid(padding=(0, 2))
        for r in self.running.values():
            table.add_row(r.label, f"{now - r.started:4.0f} / {r.planned_s:g} s")
        counts = "  ".join(f"[{_STYLE[v]}]{v.value} {n}[/]" for v, n in self.counts.items())
        done = sum(self.counts.values())
        footer = Text.from_markup(
            f"{done}/{self.total} done  {counts}  elapsed {now - self.started:.0f} s  "
            f"ETA {self.eta_s(now):.0f} s" + (f"  last {self.last_sample}"
                                               if self.last_sample else ""))
        return Group(table, footer)


def make_progress(mode: str, console: Console | None = None) -> Subscriber:
    """The progress subscriber for `--progress MODE` (auto: live on a terminal, else lines)."""
    if mode == "json":
        return JsonProgress(sys.stderr)
    console = console or Console(stderr=True)
    if mode == "live" or (mode == "auto" and console.is_terminal):
        return LiveProgress(console)
    return Progress(console)
