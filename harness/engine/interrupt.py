"""Ctrl-C during a run: the first stops it (the trial under way is cut, the devices are
restored, what was measured is kept), later ones only say that it is stopping.

asyncio's own handler cancels the run on the first Ctrl-C but raises KeyboardInterrupt out of
the event loop on the second, wherever the loop is — in the middle of restoring a cell, so an
impatient second Ctrl-C could leave a device changed and the run with no summary. And a
cancellation can be lost on its way: Python 3.11's `asyncio.wait_for` returns the result
instead of raising when it is cancelled just as the awaited call finishes, so a Ctrl-C that
lands as an iperf3 run ends would let the next trial start. `RunInterrupt` takes SIGINT while
the run is on (in the main thread) and `check()` re-raises a cancellation that some await
swallowed, before every trial.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

__all__ = ["RunInterrupt", "interruptible"]


class RunInterrupt:
    """The run's task and whether it has been asked to stop."""

    def __init__(self, task: asyncio.Task[object], say: Callable[[str], None]) -> None:
        self.task = task
        self.say = say
        self.presses = 0

    def on_sigint(self) -> None:
        """The first Ctrl-C cancels the run; later ones are said, never a hard stop."""
        self.presses += 1
        if self.presses == 1:
            self.say("interrupted (Ctrl-C): stopping the trial under way, then restoring the "
                     "devices and writing what was measured")
            self.task.cancel()
        else:
            self.say("already stopping: the devices are being restored and the results "
                     "written (Ctrl-\\ ends the process at once, leaving devices as they are)")

    @property
    def requested(self) -> bool:
        """True once the run was asked to stop (Ctrl-C, or its task cancelled)."""
        return self.presses > 0 or self.task.cancelling() > 0

    def check(self) -> None:
        """Raise CancelledError if the run was asked to stop, even when an await on the way
        swallowed the cancellation (called before every trial)."""
        if self.requested:
            raise asyncio.CancelledError


@contextlib.contextmanager
def interruptible(say: Callable[[str], None]) -> Iterator[RunInterrupt]:
    """Take SIGINT for the running task while the block runs (main thread only: elsewhere
    whoever runs the loop keeps its own handling, and `check()` still sees cancellations)."""
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("interruptible() needs a running task")
    interrupt = RunInterrupt(task, say)
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, interrupt.on_sigint)
    except (RuntimeError, ValueError):  # not the main thread, or no signals here
        yield interrupt
        return
    try:
        yield interrupt
    finally:
        loop.remove_signal_handler(signal.SIGINT)
