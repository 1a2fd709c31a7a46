"""`harness push RUN`: send what a run's spool still holds for a server, retrying an
unreachable server for a bounded time. A run that never had a sink gets a spool built from its
samples.sqlite first, so any run can be pushed later."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.base.sample import SampleError, check_sample
from harness.store.influx import (
    InfluxTarget,
    InfluxWriter,
    ServerUnavailable,
    WriteRefused,
    clock_warning,
    send_pending,
)
from harness.store.lineprotocol import LineEncoder
from harness.store.spool import Spool
from harness.store.sqlite import SqliteStore


@dataclass
class PushReport:
    """What a push did."""

    destination: str
    sent: int = 0
    pending: int = 0
    built_from_store: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Lines to print."""
        out = [*self.warnings]
        if self.built_from_store:
            out.append(f"spool built from samples.sqlite: {self.built_from_store} point(s)")
        out.append(f"sent {self.sent} point(s) to {self.destination}; {self.pending} pending")
        if self.error:
            out.append(f"error: {self.error}; the points stay spooled, push again once fixed")
        return out


def _fill_from_store(spool: Spool, run_dir: Path, report: PushReport) -> None:
    db = run_dir / "samples.sqlite"
    if not db.is_file():
        return
    store = SqliteStore(db, read_only=True)
    encoder = LineEncoder()
    batch: list[str] = []
    try:
        for sample in store.query():
            try:
                check_sample(sample)
                batch.append(encoder.line(sample))
            except SampleError as exc:
                report.warnings.append(f"not pushed: {exc}")
                continue
            if len(batch) >= 10_000:
                spool.append(("\n".join(batch) + "\n").encode("utf-8"))
                report.built_from_store += len(batch)
                batch = []
        if batch:
            spool.append(("\n".join(batch) + "\n").encode("utf-8"))
            report.built_from_store += len(batch)
    finally:
        store.close()


def push_run(run_dir: Path, target: InfluxTarget, *, resend: bool = False,
             timeout_s: float = 30.0) -> PushReport:
    """Send the run's unacknowledged points (all of them with `resend`) to `target`."""
    report = PushReport(str(target.dest))
    spool = Spool(run_dir)  # SpoolBusy when a run or another push is sending it
    writer = InfluxWriter(target)
    try:
        if spool.size == 0:
            _fill_from_store(spool, run_dir, report)
        if resend:
            spool.forget(target.dest)
        deadline = time.monotonic() + timeout_s
        delay = 0.5
        while True:
            try:
                report.sent += send_pending(spool, writer)
                report.error = None
                break
            except ServerUnavailable as exc:
                report.error = str(exc)
                if time.monotonic() + delay > deadline:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            except WriteRefused as exc:
                report.error = str(exc)
                break
        warning = clock_warning(writer)
        if warning:
            report.warnings.append(warning)
        report.pending = spool.pending_lines(target.dest)
    finally:
        writer.close()
        spool.close()
    return report
