"""`throughput`: iperf3 TCP or UDP, downlink, uplink or both at once (`--bidir`).

Metrics (prefixed `dl.`/`ul.` for a bidirectional trial): receiver goodput `throughput.mean`
and per-second `median/p5/p95/p99/min/max/std/samples`, `throughput.bytes`; TCP:
`throughput.retransmits` and the RFC 6349 figures `tcp.efficiency`, `tcp.buffer_delay`,
`tcp.rtt.mean`, `tcp.rtt.baseline`; UDP: `throughput.loss`, `throughput.jitter`,
`throughput.lost_packets`, `throughput.packets` (UDP loss counts against the sender's packets:
received = highest sequence seen − gaps; unreceived packets are lost unless sent within the last
`drivers.hosts.iperf3.LOSS_GRACE_S` of the test). A run that stops early (server killed,
timeout, Ctrl-C) keeps its finished seconds as samples and `partial.*` metrics, never judged
(`record_partial`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Annotated, Literal, cast

from pydantic import BeforeValidator, Field, model_validator

from drivers.hosts.iperf3 import Iperf3Options, Iperf3Result
from drivers.hosts.iperf3_bidir import parse_bidir
from drivers.hosts.iperf3_partial import Iperf3Partial, partial_of
from harness.base.errors import HarnessError, StorageError
from harness.base.sample import Sample
from harness.base.schema import FieldError, Identifier
from harness.base.stats import summarize
from harness.base.units import Quantity
from harness.kinds import TrialKind
from harness.kinds.base import Bitrate, ByteSize, KindRun, TrialBase
from harness.measure.rfc6349 import rfc6349_from_iperf3
from harness.store.files import write_text


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


Direction = Annotated[Literal["dl", "ul", "bidir"], BeforeValidator(_lower)]
Protocol = Annotated[Literal["tcp", "udp"], BeforeValidator(_lower)]


class ThroughputSpec(TrialBase):
    """An iperf3 trial between the UE-side and the data-network host."""

    kind: Literal["throughput"]
    ue: Identifier
    dn: Identifier
    direction: Direction = "dl"
    protocol: Protocol = "tcp"
    streams: Annotated[int, Field(ge=1, le=128)] = 1
    bitrate: Bitrate | None = None  # UDP target rate (all streams together); TCP: a cap
    window: ByteSize | None = None  # socket buffer / TCP window (iperf3 -w)
    length: ByteSize | None = None  # read/write length; for UDP the datagram payload (-l)

    @model_validator(mode="after")
    def _udp_rate(self) -> ThroughputSpec:
        if self.protocol == "udp" and self.bitrate is None:
            raise FieldError("a UDP trial needs a target rate: add e.g. bitrate: 500 Mbit/s "
                             "(iperf3 would send only 1 Mbit/s)", at=("protocol",))
        return self

    def shape_direction(self) -> str | None:
        """dl/ul for presets; a bidirectional trial has no single direction."""
        return None if self.direction == "bidir" else self.direction


_STATS = ("mean", "median", "p5", "p95", "p99", "min", "max", "std")


def _prefixes(spec: ThroughputSpec) -> tuple[str, ...]:
    return ("dl.", "ul.") if spec.direction == "bidir" else ("",)


def throughput_units(spec: TrialBase) -> Mapping[str, str]:
    """Every metric a throughput trial with this spec produces, with its unit."""
    s = cast(ThroughputSpec, spec)
    one: dict[str, str] = {f"throughput.{n}": "Mbit/s" for n in _STATS}
    one.update({"throughput.samples": "", "throughput.bytes": "B"})
    if s.protocol == "tcp":
        one.update({"throughput.retransmits": "", "tcp.efficiency": "%",
                    "tcp.buffer_delay": "%", "tcp.rtt.mean": "ms", "tcp.rtt.baseline": "ms"})
    else:
        one.update({"throughput.loss": "%", "throughput.jitter": "ms",
                    "throughput.lost_packets": "", "throughput.packets": ""})
    return {f"{p}{name}": unit for p in _prefixes(s) for name, unit in one.items()}


def throughput_metrics(result: Iperf3Result, prefix: str = "") -> dict[str, Quantity]:
    """Metrics of one direction of an iperf3 run: receiver goodput, per-second statistics,
    retransmits (TCP), loss and jitter (UDP)."""
    rates = [i.bits_per_second / 1e6 for i in result.measured_intervals]
    metrics = {
        "throughput.mean": Quantity(result.bits_per_second_received / 1e6, "Mbit/s"),
        "throughput.bytes": Quantity(float(result.bytes_received), "B"),
    }
    stats = summarize(rates)
    if stats is not None:
        for name, value in stats.as_dict().items():
            if name != "mean":
                metrics[f"throughput.{name}"] = Quantity(value, "" if name == "samples"
                                                         else "Mbit/s")
    if result.retransmits is not None:
        metrics["throughput.retransmits"] = Quantity(float(result.retransmits), "")
    if result.protocol == "udp":
        lost, packets = _udp_counts(result)
        metrics["throughput.lost_packets"] = Quantity(float(lost), "")
        metrics["throughput.packets"] = Quantity(float(packets), "")
        if packets:
            metrics["throughput.loss"] = Quantity(100.0 * lost / packets, "%")
        elif result.lost_percent is not None:
            metrics["throughput.loss"] = Quantity(result.lost_percent, "%")
        if result.jitter_ms is not None:
            metrics["throughput.jitter"] = Quantity(result.jitter_ms, "ms")
    return {f"{prefix}{name}": q for name, q in metrics.items()}


def _udp_counts(result: Iperf3Result) -> tuple[int, int]:
    """(lost, sent) UDP packets against the sender's count (a path that dies half-way loses
    the second half); the receiver's intervals only where iperf3 gave no sender count."""
    counted = result.udp_loss()
    if counted is not None:
        return counted
    intervals = result.measured_intervals
    return (sum(i.lost_packets or 0 for i in intervals), sum(i.packets or 0 for i in intervals))


def record(run: KindRun, result: Iperf3Result, raw: str, direction: str, prefix: str,
           ran: tuple[int, int] = (0, 0)) -> None:
    """Store one direction's metrics, series, counts, measured window (`ran`: wall clock
    around the tool's run) and per-second samples in `run`."""
    run.metrics.update(throughput_metrics(result, prefix))
    window = result.window(*ran)
    if window is not None:
        run.windows[prefix] = window
    run.series[f"{prefix}throughput.mean"] = [i.bits_per_second / 1e6
                                              for i in result.measured_intervals]
    run.counts[f"{prefix}throughput."] = len(result.measured_intervals)
    if result.protocol == "udp":
        lost, packets = _udp_counts(result)
        if packets:
            run.proportions[f"{prefix}throughput.loss"] = (lost, packets)
            run.counts[f"{prefix}throughput.loss"] = packets  # N of the loss: packets sent
    figures = rfc6349_from_iperf3(raw, direction) if result.protocol == "tcp" else None
    if figures is not None:
        run.metrics[f"{prefix}tcp.efficiency"] = Quantity(figures.efficiency_percent, "%")
        if figures.mean_rtt_ms is not None:
            run.metrics[f"{prefix}tcp.rtt.mean"] = Quantity(figures.mean_rtt_ms, "ms")
        if figures.baseline_rtt_ms is not None:
            run.metrics[f"{prefix}tcp.rtt.baseline"] = Quantity(figures.baseline_rtt_ms, "ms")
        delay = figures.buffer_delay_percent
        if delay is not None:
            run.metrics[f"{prefix}tcp.buffer_delay"] = Quantity(delay, "%")
    run.emit(_samples(run, result, direction))


def _samples(run: KindRun, result: Iperf3Result, direction: str) -> list[Sample]:
    tags = {**run.tags, "direction": direction}
    samples = []
    for interval in result.intervals:
        fields: dict[str, float | int | bool] = {
            "bits_per_second": interval.bits_per_second, "bytes": interval.bytes,
            "omitted": interval.omitted}
        for name in ("retransmits", "lost_packets", "packets", "jitter_ms"):
            value = getattr(interval, name)
            if value is not None:
                fields[name] = value
        time_ns = int((result.start_unix_s + interval.end_s) * 1e9)
        samples.append(Sample(time_ns, "throughput", dict(tags), fields))
    return samples


def iperf3_options(spec: ThroughputSpec, host: str, port: int, duration_s: float,
                   omit_s: float) -> Iperf3Options:
    """The iperf3 client options of a throughput spec (a bidir run is described as 'ul')."""
    bidir = spec.direction == "bidir"
    return Iperf3Options(
        host=host, port=port, direction="ul" if bidir else spec.direction,
        protocol=spec.protocol, streams=spec.streams, duration_s=duration_s, omit_s=omit_s,
        bitrate_bps=spec.bitrate, window_bytes=spec.window, length_bytes=spec.length,
        bidir=bidir)


async def run_iperf3(run: KindRun, spec: ThroughputSpec, duration_s: float, omit_s: float,
                     prefix: str = "", suffix: str = "iperf3.json") -> None:
    """One iperf3 run of `spec` on the trial's hosts; results recorded under `prefix`."""
    t, bench = run.trial, run.bench
    if t.ue is None or t.dn is None:
        raise HarnessError(f"trial {t.id}: a throughput run needs ue and dn")
    dn, ue = bench.hosts[t.dn], bench.hosts[t.ue]
    host, port = bench.endpoint(t.dn, t.via, ue=t.ue)
    opts = iperf3_options(spec, host, port, duration_s, omit_s)
    async with await dn.start_iperf3_server(bench.traffic_ports[t.dn]):
        launched = time.time_ns()
        try:
            result, raw = await ue.run_iperf3_client(opts, timeout_s=t.timeout_s)
        except BaseException as exc:  # a killed server, a timeout, Ctrl-C: keep what it measured
            partial = partial_of(exc)
            if partial is not None:
                _keep_partial(run, partial, spec.direction, prefix, suffix,
                              planned_s=opts.whole_seconds, interrupted=not isinstance(
                                  exc, Exception))
            raise
        ran = (launched, time.time_ns())
    try:  # samples first: a disk that refuses the evidence file must not lose them
        if opts.bidir:
            downlink, uplink = parse_bidir(raw)
            record(run, downlink, raw, "dl", f"{prefix}dl.", ran)
            record(run, uplink, raw, "ul", f"{prefix}ul.", ran)
        else:
            record(run, result, raw, spec.direction, prefix, ran)
    except BaseException:
        with contextlib.suppress(StorageError):  # the evidence, if it can; the first error
            write_text(run.raw_path(suffix), raw, atomic=False)
        raise
    write_text(run.raw_path(suffix), raw, atomic=False)  # StorageError names the file


def record_partial(run: KindRun, partial: Iperf3Partial, direction: str, prefix: str,
                   planned_s: float) -> None:
    """Store what an iperf3 run that stopped early had measured: its per-second samples
    (field `partial`), and `partial.`-prefixed metrics that no criterion reads, with a note
    and the summary entry `partial` saying how much of the planned test they cover. The trial
    is ERROR (or interrupted) all the same: a partial figure is never judged."""
    result = partial.result
    side = "receiver" if partial.receiver else "sender"
    seconds = partial.measured_s
    run.metrics.update({
        f"partial.{prefix}throughput.mean": Quantity(result.bits_per_second_received / 1e6,
                                                     "Mbit/s"),
        f"partial.{prefix}throughput.bytes": Quantity(float(result.bytes_received), "B"),
        f"partial.{prefix}throughput.seconds": Quantity(seconds, "s"),
        f"partial.{prefix}throughput.samples": Quantity(float(len(result.measured_intervals)),
                                                        ""),
    })
    why = partial.error or "it was stopped"
    run.extra.setdefault("partial", {})[prefix or direction] = {
        "error": partial.error, "measured_s": round(seconds, 3), "planned_s": planned_s,
        "side": side, "samples": len(result.measured_intervals)}
    run.notes.append(
        f"partial: iperf3 stopped after {seconds:.1f} s of {planned_s:g} s ({why}); the "
        f"partial.* figures are the {side}'s over those seconds only and are not judged")
    samples = _samples(run, result, direction)
    run.emit([Sample(s.time_ns, s.measurement, s.tags,
                     {**s.fields, "partial": True, "receiver": partial.receiver})
              for s in samples])


def _keep_partial(run: KindRun, partial: Iperf3Partial, direction: str, prefix: str,
                  suffix: str, *, planned_s: float, interrupted: bool) -> None:
    """Samples first, then the raw output as evidence. While a cancellation propagates, a
    store that refuses them must not replace it (the run is ending anyway); otherwise a
    storage error surfaces in place of iperf3's, as any storage fault does."""
    try:
        record_partial(run, partial, direction, prefix, planned_s)
        write_text(run.raw_path(suffix), partial.raw, atomic=False)
    except HarnessError:
        if not interrupted:
            raise


async def measure(run: KindRun) -> None:
    """Run the trial's iperf3 client against a server started on the DN host."""
    spec = cast(ThroughputSpec, run.spec)
    await run_iperf3(run, spec, run.trial.duration_s, run.trial.omit_s)


KIND = TrialKind(
    name="throughput", spec=ThroughputSpec, measure=measure, metrics=throughput_units,
    summary="iperf3 TCP/UDP goodput, DL/UL/bidirectional, with RFC 6349 figures",
    peak_metrics=True,
    series=lambda spec: [f"{p}throughput" for p in _prefixes(cast(ThroughputSpec, spec))])
