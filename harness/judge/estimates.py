"""Which metrics are statistical estimates (judged only with a 95 % confidence interval) and
which are exact observations (judged on their value), and the intervals of one repetition.

ESTIMATES — a criterion on one of these with no interval is INCONCLUSIVE, never PASS or FAIL:
- the mean of a sampled series (`throughput.mean`, `rtt.mean`, `soak.throughput.mean`,
  `rfc2544.latency.f1518`, …): batch means that follow the autocorrelation
  (harness/base/batch_means.py);
- a percentile of such a series (`X.p5`, `X.median`, `X.p95`, `X.p99` of the series `X.mean`):
  empirical (inverted-CDF) definition, order-statistic interval (harness/base/percentile_ci.py);
- a percentage of counted events (`throughput.loss`, `loss.percent`, `soak.availability`):
  Wilson score interval of (events, n);
- every other metric a kind does not declare exact (std, jitter, RFC 6349 figures, KPI gauge
  means, …): they have no interval yet, so a criterion on them is INCONCLUSIVE.

EXACT — observed, not estimated; their only uncertainty is the instrument's resolution:
- event and packet counts, byte totals, counter deltas, sample counts: names ending in
  `.samples .bytes .packets .lost_packets .retransmits .delta .steps_failed .services_failed
  .probes .errors`;
- extremes of the observed samples: `.min`, `.max`;
- the monitors' `alarms.*`, `health.*`, `crosscheck.*` (alarm counts, come-back checks, the
  UE/gNodeB volume comparison);
- what a kind declares in `KindRun.exact` (names or prefixes): the RFC 2544 search result (its
  uncertainty is the search's resolution), the firmware upgrade's checks and timings, Y.1564
  per-step figures (judged as measured by the standard's service acceptance criteria) and the
  sharing kind's whole-phase volume ratios.

Across repetitions (harness/judge/aggregate.py) every metric gets the t-interval of its repetitions'
values when there are ≥ 2, and pooled counted percentages one Wilson interval.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from harness.base.batch_means import MIN_BATCHES, batch_means_ci
from harness.base.percentile_ci import percentile_ci
from harness.base.stats import PERCENTILE_DEFINITION, PERCENTILES, wilson_interval

EXACT_SUFFIXES = (".min", ".max", ".samples", ".bytes", ".packets", ".lost_packets",
                  ".retransmits", ".delta", ".steps_failed", ".services_failed", ".probes",
                  ".errors")
EXACT_PREFIXES = ("alarms.", "health.", "crosscheck.")

MIN_SAMPLES_DEFAULT = 2 * MIN_BATCHES
"""Scenario default for `min_samples` (10): five batches of two samples, the least an interval
of a mean can rest on."""


def is_exact(name: str, declared: Collection[str] = ()) -> bool:
    """True when `name` is an exact observation (see the module text), by its name or by the
    kind's declared names/prefixes."""
    return (name.endswith(EXACT_SUFFIXES) or name.startswith(EXACT_PREFIXES)
            or any(name == d or name.startswith(d) for d in declared))


@dataclass
class SampleStatistics:
    """95 % intervals of one repetition's estimates and how each was obtained."""

    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)


def wilson_percent(events: int, n: int) -> tuple[float, float] | None:
    """Wilson 95 % interval of events/n in percent (exactly 0 or 100 at the ends)."""
    wilson = wilson_interval(events, n)
    if wilson is None:
        return None
    return (0.0 if events == 0 else wilson[0] * 100.0, 100.0 if events == n else wilson[1] * 100.0)


def sample_statistics(series: Mapping[str, Sequence[float]],
                      proportions: Mapping[str, tuple[int, int]]) -> SampleStatistics:
    """Intervals within one repetition: batch means of each series' mean, order statistics of
    the percentiles of each `X.mean` series, Wilson (in %) of each (events, n) percentage.
    A metric left out has no interval (and `methods` says why where it is a series')."""
    out = SampleStatistics()
    for name, values in series.items():
        values = list(values)
        ci = batch_means_ci(values)
        if ci is None:
            out.methods[name] = (f"no interval: {len(values)} sample(s) do not make "
                                 f"{MIN_BATCHES} uncorrelated batches")
        else:
            out.intervals[name] = ci.interval
            out.methods[name] = ci.describe()
        if not name.endswith(".mean"):
            continue
        base = name[: -len(".mean")]
        for stat, q in PERCENTILES.items():
            pci = percentile_ci(values, q) if values else None
            if pci is None:
                out.methods[f"{base}.{stat}"] = (f"{PERCENTILE_DEFINITION}; no interval: too few "
                                                 f"or too autocorrelated samples (n={len(values)})")
            else:
                out.intervals[f"{base}.{stat}"] = pci
                out.methods[f"{base}.{stat}"] = (f"{PERCENTILE_DEFINITION}; order-statistic "
                                                 f"interval (n={len(values)})")
    for name, (events, n) in proportions.items():
        wilson = wilson_percent(events, n)
        if wilson is not None:
            out.intervals[name] = wilson
            out.methods[name] = f"Wilson score interval of {events}/{n}"
    return out
