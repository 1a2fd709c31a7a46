"""Soak trials: hours of periodic short throughput/latency probes, resumable, with a summary.

Probe i is due `i × period_s` after the start (re-anchored at the first pending probe when a
run resumes), for `n = max(1, floor(duration_s / period_s))` probes. Each probe runs the
throughput probe, then the latency probe (not at once: idle latency, no self-inflicted queue).
Every finished probe is appended to a JSON-lines checkpoint and flushed before the next one
starts, so a resumed run (same checkpoint path) skips what is done. A probe that fails (device
down, tool error) is recorded as unavailable with its error: that is what a soak looks for.

Probes are injected, so the schedule, checkpointing and summary are testable in milliseconds;
`iperf3_probe` and `irtt_probe` (harness/kinds/soak_probes.py) build real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.base import jsonio
from harness.base.errors import ConfigError, HarnessError
from harness.base.stats import summarize, wilson_interval
from harness.base.units import Quantity

CHECKPOINT_FORMAT = "ran-harness-soak-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class ThroughputSample:
    """What one throughput probe measured (receiver goodput)."""

    mbps: float
    retransmits: int | None = None
    lost_percent: float | None = None


@dataclass(frozen=True)
class LatencySample:
    """What one latency probe measured: the RTTs of the packets that came back."""

    rtts_ms: tuple[float, ...]
    sent: int
    lost: int


ThroughputProbe = Callable[[], Awaitable[ThroughputSample]]
LatencyProbe = Callable[[], Awaitable[LatencySample]]


class SoakClock(Protocol):
    """Time as the soak sees it; tests inject one that does not really wait."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def time(self) -> float:
        """Unix seconds, for the record."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait."""
        ...


class RealClock:
    """The machine's clocks and asyncio.sleep."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Monitor(Protocol):
    """Something polled for the whole soak (a KpiPoller): `run` until `stop`."""

    async def run(self) -> None:
        """Poll until stopped."""
        ...

    def stop(self) -> None:
        """Ask `run` to return."""
        ...


@dataclass(frozen=True)
class SoakCriteria:
    """What makes one probe count as available: a throughput floor, an optional RTT ceiling."""

    throughput_floor_mbps: float = 0.0
    rtt_ceiling_ms: float | None = None  # on the probe's median RTT
    max_loss_percent: float | None = None  # latency probe's packet loss


@dataclass(frozen=True)
class ProbeRecord:
    """One finished probe, as the checkpoint stores it."""

    index: int
    started_unix_s: float
    elapsed_s: float
    throughput_mbps: float | None = None
    retransmits: int | None = None
    rtts_ms: tuple[float, ...] = ()
    sent: int = 0
    lost: int = 0
    error: str | None = None
    available: bool = False

    @property
    def rtt_median_ms(self) -> float | None:
        """Median RTT of this probe, when the latency probe ran."""
        stats = summarize(self.rtts_ms)
        return stats.median if stats is not None else None

    @property
    def loss_percent(self) -> float | None:
        """Latency probe's packet loss, when it ran."""
        return self.lost * 100.0 / self.sent if self.sent else None


@dataclass
class SoakResult:
    """Every probe (resumed ones included) and the soak's metrics."""

    probes: list[ProbeRecord]
    planned: int
    resumed: int  # probes taken from the checkpoint rather than run now
    metrics: dict[str, Quantity] = field(default_factory=dict)

    @property
    def errors(self) -> list[str]:
        """Errors of the failed probes, `probe N: why`."""
        return [f"probe {p.index}: {p.error}" for p in self.probes if p.error]


METRICS = ("soak.probes", "soak.available", "soak.availability", "soak.availability.ci_low",
           "soak.availability.ci_high", "soak.errors", "soak.throughput.min",
           "soak.throughput.mean", "soak.throughput.p5", "soak.throughput.median",
           "soak.throughput.max", "soak.rtt.min", "soak.rtt.mean", "soak.rtt.median",
           "soak.rtt.p95", "soak.rtt.p99", "soak.rtt.max", "soak.loss")
"""Metric names a soak trial can produce (those without data are left out)."""


def probe_count(duration_s: float, period_s: float) -> int:
    """How many probes a soak of `duration_s` with one every `period_s` runs."""
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ConfigError(f"soak duration must be > 0 s, got {duration_s}", field="duration")
    if not (math.isfinite(period_s) and period_s > 0):
        raise ConfigError(f"soak period must be > 0 s, got {period_s}", field="period")
    if period_s > duration_s:
        raise ConfigError(f"soak period {period_s:g} s is longer than its duration "
                          f"{duration_s:g} s: shorten the period", field="period")
    return max(1, math.floor(duration_s / period_s + 1e-9))


async def run_soak(probe_throughput: ThroughputProbe | None,
                   probe_latency: LatencyProbe | None, *, duration_s: float, period_s: float,
                   checkpoint: Path, criteria: SoakCriteria | None = None,
                   monitors: Sequence[Monitor] = (), clock: SoakClock | None = None,
                   on_probe: Callable[[ProbeRecord], None] | None = None) -> SoakResult:
    """Run (or resume) a soak; `checkpoint` keeps finished probes across interruptions.

    `on_probe` is called after each probe is checkpointed (progress, samples). `monitors` run
    for the whole soak and are stopped at its end (also on error or cancellation).
    """
    if probe_throughput is None and probe_latency is None:
        raise ConfigError("a soak needs a throughput probe, a latency probe, or both")
    planned = probe_count(duration_s, period_s)
    judge = criteria or SoakCriteria()
    clk: SoakClock = clock or RealClock()
    plan = {"duration_s": duration_s, "period_s": period_s, "probes": planned}
    done = load_checkpoint(checkpoint, plan)
    resumed = len(done)
    tasks = [asyncio.create_task(m.run()) for m in monitors]
    try:
        with _open_checkpoint(checkpoint, plan) as out:
            pending = [i for i in range(planned) if i not in done]
            anchor = clk.monotonic()
            for k, index in enumerate(pending):
                wait = anchor + k * period_s - clk.monotonic()
                if wait > 0:
                    await clk.sleep(wait)
                record = await _probe(index, probe_throughput, probe_latency, judge, clk)
                out.write(jsonio.dumps(_record_json(record)) + "\n")
                out.flush()
                done[index] = record
                if on_probe is not None:
                    on_probe(record)
    finally:
        for monitor in monitors:
            monitor.stop()
        if tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    probes = [done[i] for i in sorted(done)]
    return SoakResult(probes=probes, planned=planned, resumed=resumed,
                      metrics=soak_metrics(probes))


async def _probe(index: int, probe_throughput: ThroughputProbe | None,
                 probe_latency: LatencyProbe | None, criteria: SoakCriteria,
                 clk: SoakClock) -> ProbeRecord:
    started, t0 = clk.time(), clk.monotonic()
    thr: ThroughputSample | None = None
    lat: LatencySample | None = None
    errors: list[str] = []
    if probe_throughput is not None:
        try:
            thr = await probe_throughput()
        except HarnessError as exc:
            errors.append(f"throughput: {exc}")
    if probe_latency is not None:
        try:
            lat = await probe_latency()
        except HarnessError as exc:
            errors.append(f"latency: {exc}")
    record = ProbeRecord(
        index=index, started_unix_s=started, elapsed_s=clk.monotonic() - t0,
        throughput_mbps=thr.mbps if thr is not None else None,
        retransmits=thr.retransmits if thr is not None else None,
        rtts_ms=lat.rtts_ms if lat is not None else (), sent=lat.sent if lat else 0,
        lost=lat.lost if lat else 0, error="; ".join(errors) or None)
    return _with_availability(record, criteria)


def _with_availability(record: ProbeRecord, criteria: SoakCriteria) -> ProbeRecord:
    ok = record.error is None
    if ok and record.throughput_mbps is not None:
        ok = record.throughput_mbps >= criteria.throughput_floor_mbps
    median = record.rtt_median_ms
    if ok and record.sent and criteria.rtt_ceiling_ms is not None:
        ok = median is not None and median <= criteria.rtt_ceiling_ms
    loss = record.loss_percent
    if ok and loss is not None and criteria.max_loss_percent is not None:
        ok = loss <= criteria.max_loss_percent
    return ProbeRecord(**{**asdict(record), "rtts_ms": record.rtts_ms, "available": ok})


def soak_metrics(probes: Sequence[ProbeRecord]) -> dict[str, Quantity]:
    """Availability (share of probes meeting the criteria, Wilson 95 % interval), throughput
    over probes, and RTT percentiles over every probe's packets pooled."""
    n = len(probes)
    available = sum(1 for p in probes if p.available)
    metrics: dict[str, Quantity] = {
        "soak.probes": Quantity(float(n), ""),
        "soak.available": Quantity(float(available), ""),
        "soak.errors": Quantity(float(sum(1 for p in probes if p.error)), ""),
    }
    if n:
        metrics["soak.availability"] = Quantity(available * 100.0 / n, "%")
        interval = wilson_interval(available, n)
        if interval is not None:
            metrics["soak.availability.ci_low"] = Quantity(interval[0] * 100.0, "%")
            metrics["soak.availability.ci_high"] = Quantity(interval[1] * 100.0, "%")
    rates = [p.throughput_mbps for p in probes if p.throughput_mbps is not None]
    thr = summarize(rates)
    if thr is not None:
        for name, value in (("min", thr.min), ("mean", thr.mean), ("p5", thr.p5),
                            ("median", thr.median), ("max", thr.max)):
            metrics[f"soak.throughput.{name}"] = Quantity(value, "Mbit/s")
    rtt = summarize([r for p in probes for r in p.rtts_ms])
    if rtt is not None:
        for name, value in (("min", rtt.min), ("mean", rtt.mean), ("median", rtt.median),
                            ("p95", rtt.p95), ("p99", rtt.p99), ("max", rtt.max)):
            metrics[f"soak.rtt.{name}"] = Quantity(value, "ms")
    sent = sum(p.sent for p in probes)
    if sent:
        metrics["soak.loss"] = Quantity(sum(p.lost for p in probes) * 100.0 / sent, "%")
    return metrics


# ---- checkpoint ---------------------------------------------------------------------------------


def _record_json(record: ProbeRecord) -> dict[str, Any]:
    data = asdict(record)
    data["rtts_ms"] = [round(r, 4) for r in record.rtts_ms]
    return data


def load_checkpoint(path: Path, plan: dict[str, Any]) -> dict[int, ProbeRecord]:
    """Probes a checkpoint holds (empty when it does not exist); ConfigError when it belongs to
    a soak with another plan. A torn last line (killed mid-write) is ignored."""
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        return {}
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        raise ConfigError(f"{path} is not a soak checkpoint: remove it or use another run "
                          "directory") from None
    if not isinstance(header, dict) or header.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not a soak checkpoint: remove it or use another run "
                          "directory")
    if header.get("version") != CHECKPOINT_VERSION:
        raise ConfigError(f"{path}: soak checkpoint version {header.get('version')} is not "
                          f"{CHECKPOINT_VERSION}: resume it with the harness that wrote it")
    if header.get("plan") != plan:
        raise ConfigError(f"{path} is the checkpoint of another soak ({header.get('plan')}, "
                          f"this one is {plan}): resume with the same scenario or start anew")
    done: dict[int, ProbeRecord] = {}
    for number, line in enumerate(lines[1:], start=2):
        try:
            data = json.loads(line)
            record = ProbeRecord(**{**data, "rtts_ms": tuple(data.get("rtts_ms", ()))})
        except (json.JSONDecodeError, TypeError):
            if number == len(lines):
                break  # torn last line: that probe runs again
            raise ConfigError(f"{path}:{number}: damaged soak checkpoint line") from None
        if 0 <= record.index < plan["probes"]:
            done[record.index] = record
    return done


@contextlib.contextmanager
def _open_checkpoint(path: Path, plan: dict[str, Any]) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists() or path.stat().st_size == 0
    if not fresh:
        _drop_torn_tail(path)
    with path.open("a", encoding="utf-8") as out:
        if fresh:
            header = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "plan": plan}
            out.write(jsonio.dumps(header) + "\n")
            out.flush()
        yield out


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line that lacks its newline (the process died while writing it)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[:data.rfind(b"\n") + 1])


__all__ = [
    "CHECKPOINT_FORMAT",
    "METRICS",
    "LatencyProbe",
    "LatencySample",
    "Monitor",
    "ProbeRecord",
    "RealClock",
    "SoakClock",
    "SoakCriteria",
    "SoakResult",
    "ThroughputProbe",
    "ThroughputSample",
    "load_checkpoint",
    "probe_count",
    "run_soak",
    "soak_metrics",
]
