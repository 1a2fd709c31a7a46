"""What the progress displays compute (pure, the clock passed in): the run's ETA and each
running trial's live throughput.

ETA. A run is more than its trials' planned durations: the lab starts, each trial prepares
its devices and judges, the devices are restored and the report written at the end, and a
trial that ends in ERROR may run again (`--retries`). `EtaModel` counts all of it from what it
has seen: the pace (wall seconds per planned second) of the trials finished so far, the
running trials' progress at that pace, a retried attempt's planned time added back, and a
teardown of twice the setup (the runner's restore and close mirror its open, and the sinks
write the report: on the simulated lab the teardown took 1.7-2.2 × the setup, 2.3-2.6 s).

Live throughput. iperf3 3.12 prints its JSON only when it ends, so a throughput trial's own
samples arrive after it; during it, the gNodeB's throughput KPIs polled every `kpi_interval`
(`DRB.UEThpDl/Ul`, or the rate of `DRB.PdcpSduVolumeDL/UL`) say what the cell carries now.
`LiveRates` keeps, per running trial, the newest of either, named by its source.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.base.errors import HarnessError
from harness.base.sample import Sample
from harness.base.units import Quantity, convert

TrialKey = tuple[str, int]  # (trial id, repetition)
_TEARDOWN_PER_SETUP = 2.0  # restore + close + report, measured against the setup (see above)

# gNodeB KPIs that say how much traffic a cell carries: name → (direction, field)
_RATE_KPIS = {"DRB.UEThpDl": ("DL", "value"), "DRB.UEThpUl": ("UL", "value"),
              "DRB.PdcpSduVolumeDL": ("DL", "rate"), "DRB.PdcpSduVolumeUL": ("UL", "rate")}


@dataclass
class _Trial:
    planned_s: float
    started: float
    attempt_started: float
    attempts: int = 1


class EtaModel:
    """Seconds left in a run, from the planned durations and the pace observed so far."""

    def __init__(self) -> None:
        self.run_started: float | None = None
        self.planned_s = 0.0
        self.setup_s: float | None = None  # run start → first trial start
        self.running: dict[TrialKey, _Trial] = {}
        self.done_planned_s = 0.0  # planned seconds of finished trials, every attempt
        self.done_wall_s = 0.0
        self.extra_s = 0.0  # planned seconds of attempts beyond the first (--retries)
        self.concurrency = 1

    def start(self, now: float, planned_s: float) -> None:
        """The run began with `planned_s` seconds of trials planned."""
        self.run_started, self.planned_s = now, planned_s

    def trial_started(self, key: TrialKey, planned_s: float, attempt: int, now: float) -> None:
        """A trial (or another attempt of it) began."""
        if self.setup_s is None and self.run_started is not None:
            self.setup_s = max(0.0, now - self.run_started)
        known = self.running.get(key)
        if known is not None and attempt > 1:  # run again: its planned time comes again
            known.attempts += 1
            known.attempt_started = now
            self.extra_s += known.planned_s
            return
        self.running[key] = _Trial(planned_s, now, now)
        self.concurrency = max(self.concurrency, len(self.running))

    def trial_finished(self, key: TrialKey, now: float) -> None:
        """A trial ended (all its attempts)."""
        done = self.running.pop(key, None)
        if done is None:
            return
        self.done_planned_s += done.planned_s * done.attempts
        self.done_wall_s += now - done.started

    @property
    def pace(self) -> float:
        """Wall seconds per planned second of the finished trials (1 before any finished)."""
        if self.done_planned_s <= 0 or self.done_wall_s <= 0:
            return 1.0
        return self.done_wall_s / self.done_planned_s

    def eta_s(self, now: float) -> float:
        """Seconds until the run ends: trials not started, the running ones' rest, teardown."""
        pace = self.pace
        running_planned = sum(t.planned_s * t.attempts for t in self.running.values())
        not_started = max(0.0, self.planned_s + self.extra_s - self.done_planned_s
                          - running_planned)
        rests = [max(0.0, t.planned_s * pace - (now - t.attempt_started))
                 for t in self.running.values()]
        in_flight = max(rests, default=0.0) if self.concurrency > 1 else sum(rests)
        teardown = _TEARDOWN_PER_SETUP * self.setup_s if self.setup_s is not None else 0.0
        return not_started * pace / self.concurrency + in_flight + teardown


@dataclass(frozen=True)
class LiveRate:
    """A throughput seen during a trial: where it comes from, and Mbit/s."""

    source: str
    mbps: float

    def text(self) -> str:
        """`gnb1 DL 850.2 Mbit/s` or `iperf3 850.2 Mbit/s`."""
        return f"{self.source} {self.mbps:,.1f} Mbit/s"


def _mbps(value: object, unit: str, per_second: bool) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        if per_second:  # a counter's rate: its unit is a volume, per second
            return convert(Quantity(float(value), unit), "Mbit").value
        return convert(Quantity(float(value), unit), "Mbit/s").value
    except HarnessError:  # a unit that is not a bit rate (or volume)
        return None


def sample_rates(samples: list[Sample]) -> dict[TrialKey, LiveRate]:
    """The throughput each trial's samples in one batch show: the traffic tool's own interval
    if there is one, else the gNodeB's throughput KPIs (cells summed; the busier direction)."""
    tool: dict[TrialKey, LiveRate] = {}
    kpis: dict[tuple[TrialKey, str, str], float] = {}
    for s in samples:
        key = _key(s)
        if key is None:
            continue
        if s.measurement == "throughput":
            mbps = _mbps(s.fields.get("bits_per_second"), "bit/s", per_second=False)
            if mbps is not None:
                tool[key] = LiveRate("traffic", mbps)
        elif s.measurement == "kpi" and s.tags.get("kpi") in _RATE_KPIS:
            direction, field = _RATE_KPIS[s.tags["kpi"]]
            mbps = _mbps(s.fields.get(field), s.tags.get("unit", ""), field == "rate")
            if mbps is not None:
                slot = (key, s.tags.get("device", "?"), f"{direction}:{s.tags['kpi']}")
                kpis[slot] = kpis.get(slot, 0.0) + mbps
    rates: dict[TrialKey, LiveRate] = {}
    for (key, device, name), mbps in kpis.items():
        direction = name.split(":", 1)[0]
        best = rates.get(key)
        if best is None or mbps > best.mbps:
            rates[key] = LiveRate(f"{device} {direction}", mbps)
    rates.update(tool)
    return rates


def _key(sample: Sample) -> TrialKey | None:
    trial, repetition = sample.tags.get("trial"), sample.tags.get("repetition")
    if trial is None or repetition is None:
        return None
    try:
        return trial, int(repetition)
    except ValueError:
        return None


def duration_text(seconds: float) -> str:
    """`45 s`, `3 min 05 s`, `2 h 04 min`: an ETA a person reads at a glance."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
