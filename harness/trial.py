"""One throughput trial on the bench: traffic, KPI polling, metrics, criteria → a result entry."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drivers.capabilities import KpiSource
from harness.bench import Bench
from harness.criteria import CriterionResult
from harness.errors import HarnessError
from harness.measure.iperf3 import Iperf3Options, Iperf3Result
from harness.measure.kpi import KpiPoller
from harness.measure.peak import Carrier, tdd_share
from harness.measure.stats import summarize
from harness.plan import PlannedTrial
from harness.store.sample import Sample
from harness.units import Quantity
from harness.verdict import Verdict, worst


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds, as summary.json records times."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class TrialContext:
    """Metrics and device facts a trial's criteria read (implements CriterionContext)."""

    metrics: dict[str, Quantity]
    peaks: dict[tuple[str, str], Quantity] = field(default_factory=dict)
    direction: str = "dl"

    def metric(self, name: str) -> Quantity:
        return self.metrics[name]

    def interval(self, name: str) -> tuple[float, float] | None:
        return None  # a single repetition gives no confidence interval

    def peak(self, device: str, direction: str | None) -> Quantity:
        return self.peaks[(device, direction or self.direction)]


async def cell_peak(bench: Bench, device: str, cell: int, direction: str) -> Quantity:
    """TS 38.306 peak of a gNodeB cell × its TDD share, from parameters read off the device."""
    gnb = bench.gnbs.get(device)
    if gnb is None:
        raise HarnessError(f"peak({device}): {device} is not a gNodeB of this lab")
    cfg = await gnb.cell_config(cell)
    layers = int(cfg[f"layers_{direction}"])
    modulation = str(cfg[f"modulation_{direction}"])
    carrier = Carrier(int(cfg["bandwidth_mhz"]), int(cfg["scs_khz"]), layers, modulation,
                      direction)
    special = str(cfg.get("special") or "") or None
    share = tdd_share(str(cfg.get("tdd") or "FDD"), special, direction)
    return Quantity(carrier.peak_mbps() * share, "Mbit/s")


def throughput_metrics(result: Iperf3Result) -> dict[str, Quantity]:
    """Metrics of an iperf3 run: receiver goodput overall and per-second statistics."""
    rates = [i.bits_per_second / 1e6 for i in result.intervals if not i.omitted]
    metrics = {
        "throughput.mean": Quantity(result.bits_per_second_received / 1e6, "Mbit/s"),
        "throughput.bytes": Quantity(float(result.bytes_received), "B"),
    }
    stats = summarize(rates)
    if stats is not None:
        for name, value in stats.as_dict().items():
            if name != "mean":
                unit = "" if name == "samples" else "Mbit/s"
                metrics[f"throughput.{name}"] = Quantity(value, unit)
    if result.retransmits is not None:
        metrics["throughput.retransmits"] = Quantity(float(result.retransmits), "")
    return metrics


class TrialRun:
    """Runs one planned trial and turns what happened into its summary.json entry."""

    def __init__(self, trial: PlannedTrial, bench: Bench, *, run_tags: dict[str, str],
                 raw_dir: Path, emit: Callable[[list[Sample]], None]) -> None:
        self.trial = trial
        self.bench = bench
        self.tags = {**run_tags, "trial": trial.id, "repetition": str(trial.repetition),
                     "direction": trial.direction, "protocol": trial.protocol}
        self.raw_dir = raw_dir
        self.emit = emit

    async def run(self) -> dict[str, Any]:
        """Measure and judge; any device or tool failure makes the trial ERROR, samples kept."""
        t = self.trial
        entry: dict[str, Any] = {"id": t.id, "repetition": t.repetition, "kind": t.kind,
                                 "params": t.params, "started": utc_now(), "metrics": {},
                                 "criteria": [], "error": None}
        errors: list[str] = []
        ctx = TrialContext(metrics={}, direction=t.direction)
        try:
            for criterion in t.criteria:
                for device in sorted(criterion.device_refs):
                    for direction in ("dl", "ul"):
                        if (device, direction) not in ctx.peaks:
                            ctx.peaks[(device, direction)] = await cell_peak(
                                self.bench, device, t.cell, direction)
            pollers, result = await self._measure(errors)
            if result is not None:
                ctx.metrics.update(throughput_metrics(result))
            for poller in pollers:
                for series in poller.series.values():
                    base = f"{series.device}.{series.kpi}"
                    total = series.total()
                    if total is not None:
                        ctx.metrics[f"{base}.delta"] = Quantity(total, series.unit)
                    elif series.values:
                        stats = summarize([v for _, v in series.values])
                        if stats is not None:
                            ctx.metrics[f"{base}.mean"] = Quantity(stats.mean, series.unit)
                            ctx.metrics[f"{base}.max"] = Quantity(stats.max, series.unit)
        except HarnessError as exc:
            errors.append(str(exc))
        entry["metrics"] = {name: q.to_json() for name, q in sorted(ctx.metrics.items())}
        results: list[CriterionResult] = [c.evaluate(ctx) for c in t.criteria] if not errors else []
        entry["criteria"] = [r.to_json() for r in results]
        if errors:
            entry["verdict"] = Verdict.ERROR.value
            entry["error"] = "; ".join(errors)
        else:
            entry["verdict"] = worst(r.verdict for r in results).value
        entry["finished"] = utc_now()
        return entry

    async def _measure(self, errors: list[str]) -> tuple[list[KpiPoller], Iperf3Result | None]:
        t = self.trial
        dn, ue = self.bench.hosts[t.dn], self.bench.hosts[t.ue]
        host, port = self.bench.endpoint(t.dn, t.via, ue=t.ue)
        sources: dict[str, KpiSource] = {**self.bench.gnbs, **self.bench.cores}
        pollers = [
            KpiPoller(name, sources[name], kpis, [t.cell], t.kpi_interval_s, self.tags,
                      self.emit)
            for name, kpis in t.monitor.items() if name in sources
        ]
        tasks: list[asyncio.Task[None]] = []
        result: Iperf3Result | None = None
        async with await dn.start_iperf3_server(self.bench.traffic_ports[t.dn]):
            tasks = [asyncio.create_task(p.run()) for p in pollers]
            try:
                opts = Iperf3Options(host=host, port=port, direction=t.direction,
                                     protocol=t.protocol, streams=t.streams,
                                     duration_s=t.duration_s, omit_s=t.omit_s)
                result, raw = await ue.run_iperf3_client(opts, timeout_s=t.timeout_s)
                name = f"{t.id}-r{t.repetition}.iperf3.json"
                (self.raw_dir / name).write_text(raw, encoding="utf-8")
                self.emit(self._throughput_samples(result))
            except HarnessError as exc:
                errors.append(str(exc))
            finally:
                for p in pollers:
                    p.stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True),
                                           timeout=10)
        for p in pollers:
            if p.error is not None:
                errors.append(f"KPI polling of {p.device_name} stopped: {p.error}")
        return pollers, result

    def _throughput_samples(self, result: Iperf3Result) -> list[Sample]:
        samples = []
        for interval in result.intervals:
            fields: dict[str, float | int | bool] = {
                "bits_per_second": interval.bits_per_second, "bytes": interval.bytes,
                "omitted": interval.omitted}
            if interval.retransmits is not None:
                fields["retransmits"] = interval.retransmits
            time_ns = int((result.start_unix_s + interval.end_s) * 1e9)
            samples.append(Sample(time_ns, "throughput", dict(self.tags), fields))
        return samples


def dump_json(path: Path, data: Any) -> None:
    """Write JSON the way every run file is written (UTF-8, indented, stable key order)."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
