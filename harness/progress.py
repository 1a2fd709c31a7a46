"""Progress on screen: an event subscriber that prints what the run is doing."""

from __future__ import annotations

from rich.console import Console

from harness.events import Event, Notice, RunFinished, RunStarted, TrialFinished, TrialStarted
from harness.verdict import Verdict

_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "red", Verdict.ERROR: "magenta",
          Verdict.INCONCLUSIVE: "yellow", Verdict.SKIPPED: "dim"}


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
            c.print(f"[{event.index}/{event.total}] {event.trial_id} #{event.repetition} "
                    f"({event.duration_s:g} s) ...")
        elif isinstance(event, TrialFinished):
            style = _STYLE[event.verdict]
            mean = event.result.get("metrics", {}).get("throughput.mean")
            figure = f"  mean {mean['value']:.1f} {mean['unit']}" if mean else ""
            error = f"  {event.result['error']}" if event.result.get("error") else ""
            c.print(f"      [{style}]{event.verdict.value}[/] {event.trial_id} "
                    f"#{event.repetition}{figure}{error}", highlight=False)
        elif isinstance(event, Notice):
            style = {"error": "red", "warning": "yellow"}.get(event.level, "dim")
            c.print(f"[{style}]{event.text}[/]", highlight=False)
        elif isinstance(event, RunFinished):
            style = _STYLE[event.verdict]
            c.print(f"[bold {style}]run verdict: {event.verdict.value}[/]")
