"""The InfluxDB sink of a run. The caller only queues samples; a sender thread turns them into
line protocol, makes the lines durable in the run's spool, and keeps one request in flight on
a worker thread, so that encoding the next batch overlaps with the server storing the last
one. While the server is down or refuses, the run goes on and the points wait in the spool.

At start the sink also picks up spools that earlier runs in the same reports directory left
unsent to the same destination, and sends them once its own points are through.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness.base.events import Event, SamplesRecorded
from harness.base.sample import Sample, SampleError
from harness.store.influx import (
    ACK_SAVE_S,
    DEFAULT_BATCH_BYTES,
    InfluxTarget,
    InfluxWriter,
    ServerUnavailable,
    WriteRefused,
    clock_warning,
    post_split,
)
from harness.store.lineprotocol import LineEncoder
from harness.store.spool import Spool, SpoolBusy, SpoolError, peek

MAX_FUTURE_S = 86_400.0
"""Points further ahead of this machine's clock are not sent (VictoriaMetrics drops points
more than ~2 days ahead without an error); they stay in samples.sqlite."""

_CLOSE = object()  # queued by close()
_WAKE = object()  # queued when a request finishes


@dataclass
class SinkStatus:
    """How a sink ended: what reached the server, what waits in the spool, and why."""

    destination: str
    sent: int = 0
    pending: int = 0
    refused: str | None = None
    unreachable: str | None = None
    future_dropped: int = 0
    invalid_dropped: int = 0
    replayed: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The summary.json entry."""
        return dict(self.__dict__)


@dataclass
class _Request:
    future: Future[None]
    spool: Spool
    end: int
    lines: int


class InfluxSink:
    """A SamplesRecorded subscriber writing to one InfluxDB destination through a spool."""

    def __init__(self, target: InfluxTarget, run_dir: Path, *, replay_from: Path | None = None,
                 batch_bytes: int = DEFAULT_BATCH_BYTES, max_future_s: float = MAX_FUTURE_S,
                 backoff_s: tuple[float, float] = (0.5, 30.0),
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.target = target
        self.run_id = run_dir.name
        self.spool = Spool(run_dir, target.dest)
        self.status = SinkStatus(str(target.dest))
        self.closed = False
        self._writer = InfluxWriter(target)
        self._poster = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-post")
        self._encoder = LineEncoder()
        self._batch = batch_bytes
        self._max_future_ns = int(max_future_s * 1e9)
        self._clock = clock
        self._backoff = backoff_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._messages: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._replay_from = replay_from
        self._replays: list[Path] = []
        self._inflight: _Request | None = None
        self._replay_spool: Spool | None = None
        self._delay = 0.0
        self._next_try = 0.0
        self._saved_at = 0.0
        self._clock_warned = False
        self._thread = threading.Thread(target=self._run, name=f"influx-sink-{self.run_id}",
                                        daemon=True)
        self._thread.start()

    # --- the caller's side -------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        if isinstance(event, SamplesRecorded):
            self.write(event.samples)

    def write(self, samples: Sequence[Sample]) -> None:
        """Queue samples for the server: never blocks, never waits for the network."""
        limit = self._clock() + self._max_future_ns
        ahead = [s for s in samples if s.time_ns > limit]
        if ahead:
            samples = [s for s in samples if s.time_ns <= limit]
            self.status.future_dropped += len(ahead)
            self._say("warning", f"{len(ahead)} sample(s) are timestamped more than "
                      f"{self._max_future_ns / 3.6e12:.0f} h ahead of this machine's clock "
                      f"({ahead[0].measurement} at {ahead[0].time_ns} ns): not sent to InfluxDB "
                      "(some servers drop them silently); they are in samples.sqlite. Check the "
                      "clocks of this machine and the devices.")
        if samples:
            self._queue.put(list(samples))

    def messages(self) -> list[tuple[str, str]]:
        """(level, text) notices from the sender since the last call, for the event bus."""
        with self._lock:
            found, self._messages = self._messages, []
        return found

    def close(self, timeout_s: float = 15.0) -> SinkStatus:
        """Flush what is queued, try a last send, and report; never waits past `timeout_s`."""
        if self.closed:
            return self.status
        self.closed = True
        self._queue.put(_CLOSE)
        self._thread.join(timeout_s)
        self.status.pending = self.spool.pending_lines(self.target.dest)
        if self._thread.is_alive():  # a request still under way: leave the spool to it
            self.status.unreachable = self.status.unreachable or "still sending when the run ended"
            self._say("warning", f"InfluxDB at {self.target.dest} is slow to answer; what is not "
                      f"acknowledged stays spooled: `harness push {self.run_id}` sends it")
            self._poster.shutdown(wait=False)
        else:
            self._poster.shutdown(wait=True)
            self.spool.close()
            self._writer.close()
        return self.status

    def _say(self, level: str, text: str) -> None:
        with self._lock:
            self._messages.append((level, text))

    # --- the sender thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._replays = self._find_replays()
            closing = False
            while True:
                closing = self._take(self._wait_s(closing)) or closing
                failed = self._collect(wait=closing)
                if closing and failed:
                    return  # no retries at the end of a run: `harness push` does that
                self._start(closing)
                if closing and self._inflight is None:
                    return
        except Exception as exc:  # a disk error, a bug: say so; the samples are in SQLite
            self.status.refused = f"the InfluxDB sink stopped: {type(exc).__name__}: {exc}"
            self._say("error", self.status.refused)
        finally:
            if self._inflight is None:
                self._save_and_release()

    def _save_and_release(self) -> None:
        """Save acknowledgement offsets still only in memory; release an earlier run's spool."""
        try:
            self.spool.save()
            if self._replay_spool is not None:
                self._replay_spool.save()
        except OSError as exc:
            self._say("warning", f"could not save the spool's offsets: {exc} (a few points "
                      "may be sent twice later, which the server stores once)")
        if self._replay_spool is not None:
            self._replay_spool.close()
            self._replay_spool = None

    def _wait_s(self, closing: bool) -> float | None:
        """How long to wait for queued work: forever unless something is due sooner."""
        if closing or self._inflight is not None or self.status.refused is not None:
            return None if not closing else 0.0  # a finishing request wakes us (_WAKE)
        if self.spool.pending_bytes(self.target.dest) == 0 and not self._replays:
            return None
        return max(0.0, self._next_try - time.monotonic())

    def _take(self, timeout: float | None) -> bool:
        """Encode and spool what is queued (up to about one batch); True when closing."""
        samples: list[Sample] = []
        closing = False
        try:
            item = self._queue.get(timeout=timeout) if timeout != 0 else self._queue.get_nowait()
            while True:
                if item is _CLOSE:
                    closing = True
                elif isinstance(item, list):
                    samples += item
                    if len(samples) >= 20_000 and not closing:
                        break  # let the worker start the next request in between
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        if samples:
            self.spool.append(self._encode(samples))
        return closing

    def _encode(self, samples: list[Sample]) -> bytes:
        try:
            return self._encoder.encode(samples)
        except SampleError:
            lines = []
            for sample in samples:
                try:
                    lines.append(self._encoder.line(sample) + "\n")
                except SampleError as exc:
                    self.status.invalid_dropped += 1
                    self._say("warning", f"not sent to InfluxDB: {exc}")
            return "".join(lines).encode("utf-8")

    def _collect(self, *, wait: bool) -> bool:
        """Book the answer to the request in flight, if it came (or wait for it); True when
        it failed."""
        request = self._inflight
        if request is None or not (wait or request.future.done()):
            return False
        self._inflight = None
        replay = request.spool is not self.spool
        try:
            request.future.result()
        except ServerUnavailable as exc:
            if self.status.unreachable is None:
                self._say("warning", f"InfluxDB unreachable: {exc}; points are kept in the "
                          "run's spool and sent when it answers again")
            self.status.unreachable = str(exc)
            self._delay = min(self._backoff[1], max(self._backoff[0], self._delay * 2))
            self._next_try = time.monotonic() + self._delay * random.uniform(0.8, 1.2)
            return True
        except WriteRefused as exc:
            self.status.refused = str(exc)
            self._say("error", f"InfluxDB refused the points: {exc}. They stay in the run's "
                      f"spool: `harness push {self.run_id}` sends them once this is fixed")
            return True
        now = time.monotonic()
        save = now - self._saved_at >= ACK_SAVE_S or self._queue.empty()
        request.spool.ack(self.target.dest, request.end, persist=save)
        if save:
            self._saved_at = now
        if replay:
            name = request.spool.run_dir.name
            self.status.replayed[name] = self.status.replayed.get(name, 0) + request.lines
        else:
            self.status.sent += request.lines
        if self.status.unreachable is not None:
            self._say("info", "InfluxDB answers again: spooled points are being sent")
            self.status.unreachable = None
        self._delay = 0.0
        warning = clock_warning(self._writer)
        if warning is not None and not self._clock_warned:
            self._clock_warned = True
            self._say("warning", warning)
        return False

    def _start(self, closing: bool) -> None:
        """Put the next batch (ours first, then an earlier run's) in flight."""
        if self._inflight is not None or self.status.refused is not None:
            return
        if not closing and time.monotonic() < self._next_try:
            return
        spool = self.spool
        batch = next(spool.batches(self.target.dest, self._batch), None)
        if batch is None and not closing:
            spool, batch = self._next_replay()
        if batch is None:
            return
        end, body = batch
        future = self._poster.submit(post_split, self._writer, body)
        future.add_done_callback(lambda _: self._queue.put(_WAKE))
        self._inflight = _Request(future, spool, end, body.count(b"\n"))

    def _next_replay(self) -> tuple[Spool, tuple[int, bytes] | None]:
        """The next batch of an earlier run's spool, opening and closing spools as needed."""
        while self._replays:
            current = self._replay_spool
            if current is None:
                try:
                    current = self._replay_spool = Spool(self._replays[0])
                except (SpoolBusy, SpoolError, OSError):
                    self._replays.pop(0)
                    continue
            batch = next(current.batches(self.target.dest, self._batch), None)
            if batch is not None:
                return current, batch
            current.save()
            count = self.status.replayed.get(self._replays[0].name, 0)
            if count:
                self._say("info", f"sent {count} point(s) left spooled by run "
                          f"{self._replays[0].name}")
            current.close()
            self._replay_spool = None
            self._replays.pop(0)
        return self.spool, None

    def _find_replays(self) -> list[Path]:
        """Sibling runs whose spool still holds points for our destination."""
        found: list[Path] = []
        if self._replay_from is None or not self._replay_from.is_dir():
            return found
        for run_dir in sorted(self._replay_from.iterdir()):
            if run_dir == self.spool.run_dir:
                continue
            try:
                info = peek(run_dir)
            except (SpoolError, OSError):
                continue
            if info is not None and info[1] > info[2].get(self.target.dest.key, 0):
                found.append(run_dir)
        return found
