"""What makes a trial PASS, FAIL, INCONCLUSIVE or ERROR, per kind, with the standard each rule
comes from: one table that the report's appendix shows and `docs/verdicts.md` is generated from
(`python -m harness.report.verdict_rules > docs/verdicts.md`; a test keeps the two identical).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from harness.base.verdict import Verdict


@dataclass(frozen=True)
class KindRules:
    """The verdict rules of one trial kind: what it judges, and the standards behind them."""

    title: str
    judged_by: str
    rules: Mapping[Verdict, tuple[str, ...]]
    standards: tuple[str, ...]



def anchor(kind: str) -> str:
    """The HTML/Markdown anchor of a kind's section (and of the common rules for "")."""
    return f"rules-{kind.replace('_', '-')}" if kind else "rules-common"


def _rules(**by_verdict: tuple[str, ...]) -> Mapping[Verdict, tuple[str, ...]]:
    return MappingProxyType({Verdict(k.rstrip("_").upper()): v for k, v in by_verdict.items()})


COMMON = _rules(
    pass_=("every criterion of the trial and every built-in acceptance of its kind is PASS "
           "(a trial that nothing would judge is refused by `harness validate`: no criteria "
           "and a kind without built-in acceptance)",),
    fail=("a criterion is FAIL: the observed value does not meet the threshold and its 95 % "
          "confidence interval lies wholly on the failing side (the same whichever side of "
          "the comparison the metric is written on)",
          "a built-in acceptance of the kind is FAIL (listed under the kind)",
          "with a baseline (`--baseline`), a metric the criteria judge (or the scenario names "
          "under `regression:`) is worse than the baseline's by more than its noise floor and "
          "the threshold, with Welch's p < alpha over ≥ 2 repetitions on each side: the "
          "reason is `regression`, distinct from a failed criterion (docs/regressions.md)"),
    inconclusive=(
        "a criterion's 95 % confidence interval straddles its threshold; intervals are carried "
        "through the criterion's arithmetic",
        "a criterion reads a statistical estimate (a mean or percentile of a sampled series, a "
        "share of samples, a loss percentage) for which no interval can be computed, or a "
        "metric that rests on fewer than `min_samples` samples (default 10); exact "
        "observations (counts, byte totals, counter deltas, observed min/max, alarm counts) "
        "need no interval (harness/judge/estimates.py lists both)",
        "the UE-side volume and the gNodeB's PDCP SDU volume counter over the same window "
        "differ by more than the cross-check tolerance (default 5 %, settable in the scenario "
        "and in lab.yaml)",
        "(simulated lab) the simulator's UDP relay itself lost datagrams while the trial ran "
        "on its gNodeB — its delay line or its sockets' buffers were full, or the kernel "
        "refused its sends for want of buffer: this machine was short of CPU, so the trial's "
        "loss, throughput and capacity figures are the simulator's, not the simulated cell's "
        "(acceptance \"simulated lab headroom\", metric `simlab.relay_lost`; "
        "`simlab.relay_late` counts datagrams it sent more than 2 ms after their due time, "
        "reported, not judged: lateness only lengthens a measured delay). Such a trial is "
        "void: its criteria and the kind's own acceptance read INCONCLUSIVE whatever they "
        "found, a FAIL too, since a FAIL would blame the cell for the simulator's loss; its "
        "figures are kept, and its trial's aggregate judges only the repetitions that are not "
        "void (INCONCLUSIVE when every one is)",
        "a regression beyond the noise floor that one repetition cannot separate from noise",
    ),
    error=("the trial could not be measured: a device, a tool or the harness failed during it "
           "(the reason is stated, the traceback is in run.log, every sample taken is kept "
           "and the run goes on)",
           "the measurement conditions read from the gNodeB at the trial's start (band, "
           "bandwidth, SCS, TDD pattern, layers, modulation) disagree with the trial's "
           "parameters (both values are named)",
           "a criterion reads a metric the trial did not produce",
           "(the run, not a trial) a device was not put back as the run's snapshot found it "
           "after 3 tries, or was written but could not be read back to verify it "
           "(`unverified`): summary.json's `restore_errors`, the console and the report name "
           "the device, the cell parameter, the wanted and the last known value"),
)
"""Rules every kind shares; a kind's own rules come on top.

Across repetitions: each trial id is judged again on its aggregate (t-interval over the
repetitions, pooled shares and loss counts); the run's verdict is the worst of the aggregates
and of every repetition that FAILed or was ERROR (a repetition INCONCLUSIVE on its own is
decided by the pooled evidence)."""

_PASS_ALL = ("every criterion is PASS",)
_CRITERIA_ONLY = "its criteria only (no built-in acceptance: validation refuses it without any)"

KINDS: Mapping[str, KindRules] = MappingProxyType({
    "throughput": KindRules(
        "throughput (iperf3 TCP/UDP)", _CRITERIA_ONLY,
        _rules(pass_=_PASS_ALL, fail=(), inconclusive=(),
               error=("iperf3 failed or the server could not be reached",)),
        ("IETF RFC 6349 (TCP throughput: efficiency, buffer delay)",
         "QCVN 126:2021/BTTTT (qcvn-126-2021 preset: a share of one-second samples, Wilson "
         "interval; its unit of sampling is stated)",
         "3GPP TS 38.306 §4.1.2 (peak() in criteria; FR1/FR2 from the cell's band or SCS)",
         "UDP loss counts against the sender's packets; a packet not received by the end of "
         "the test, apart from the last 100 ms of sending, is lost")),
    "latency": KindRules(
        "latency (irtt; ping only when asked)", _CRITERIA_ONLY,
        _rules(pass_=_PASS_ALL, fail=(), inconclusive=(),
               error=("irtt is not installed on the UE-side host (`tool: auto` means irtt and "
                      "never falls back to ping; `tool: ping` measures ICMP to the DN host, "
                      "bypassing the gNodeB's user plane, and the trial says so)",)),
        ("IETF RFC 3550 (interarrival jitter)", "IETF RFC 3393 (IPDV)",
         "ITU-R M.2410 (itu-m2410-embb preset: judged on a round trip, not the one-way RAN "
         "figure)")),
    "rfc2544": KindRules(
        "rfc2544 (zero-loss throughput search)",
        "the confirmation of the found rate (built in) and its criteria",
        _rules(pass_=("the highest rate with zero loss (or within `loss_tolerance`) was "
                      "confirmed by a confirmation run, and every criterion is PASS",),
               fail=(),
               inconclusive=("no rate could be confirmed within `max_iterations`: the "
                             "throughput is not published and the search's history (rates "
                             "tried, loss at each) is stated",),
               error=("a criterion reads the throughput of a frame size whose rate was not "
                      "confirmed (no value was published)",)),
        ("IETF RFC 2544 §26.1 (throughput), §26.2 (latency), §26.3 (frame loss rate)",)),
    "y1564": KindRules(
        "y1564 (service activation)",
        "service acceptance per service and step (built in) and its criteria",
        _rules(pass_=("every service meets its acceptance (information rate within tolerance "
                      "of the step's rate, FLR, FTD, FDV) at every CIR/EIR/policing step and "
                      "in the performance test, and every criterion is PASS",),
               fail=("a service misses its acceptance at any step (policing included) or in "
                     "the performance test",),
               inconclusive=("an FDV or FTD limit is set but the delays could not be measured "
                             "(no irtt alongside the step)",),
               error=()),
        ("ITU-T Y.1564 §8.2 (service configuration test), §8.3 (service performance test)",
         "FDV = P99 (nearest rank) of frame delay minus the step's minimum delay "
         "(ITU-T Y.1563, Y.1541), not RFC 3550 jitter")),
    "soak": KindRules(
        "soak (long-duration stability)", _CRITERIA_ONLY,
        _rules(pass_=_PASS_ALL, fail=(), inconclusive=(), error=()),
        ("availability as a share of probes (Wilson interval)",)),
    "sharing": KindRules(
        "sharing (MOCN per-PLMN shares)", _CRITERIA_ONLY,
        _rules(pass_=_PASS_ALL, fail=(), inconclusive=(), error=()),
        ("3GPP TS 23.251 (network sharing, MOCN)",)),
    "firmware_upgrade": KindRules(
        "firmware_upgrade (upgrade, come-back, regression)",
        "come-back and version check and the regression sub-scenario (built in) and its "
        "criteria",
        _rules(pass_=("with `expect: upgraded`: the device came back within the allowed time "
                      "reporting the new version; with `expect: refused`: it refused the image "
                      "and kept its version; and the regression sub-scenario's verdict is "
                      "PASS",),
               fail=("the device did not come back, reports another version than expected, "
                     "took an image it should have refused, or the regression sub-scenario "
                     "FAILed",),
               inconclusive=("the regression sub-scenario was INCONCLUSIVE",),
               error=("the regression sub-scenario was ERROR",)),
        ("the operator's acceptance procedure for software upgrades",)),
})


def markdown() -> str:
    """docs/verdicts.md: the common rules, then each kind's."""
    lines = ["# Verdicts: what makes a trial PASS, FAIL, INCONCLUSIVE or ERROR", "",
             "Generated from `harness/report/verdict_rules.py` "
             "(`python -m harness.report.verdict_rules > docs/verdicts.md`); the report's "
             "appendix shows the same rules and links each verdict to them.", "",
             "A trial's verdict is the worst of its criteria and of the acceptance its kind has "
             "built in, in this order: PASS < SKIPPED < INCONCLUSIVE < ERROR < FAIL. The run's "
             "verdict is the worst of its trials, their aggregates over repetitions, its "
             "restores and its regressions. Nothing that went unjudged is PASS.", "",
             f'<a id="{anchor("")}"></a>', "## Rules for every kind", ""]
    for verdict, texts in COMMON.items():
        lines += [f"- **{verdict.value}**: {t}." for t in texts]
    for name, kind in KINDS.items():
        lines += ["", f'<a id="{anchor(name)}"></a>', f"## `{name}` — {kind.title}", "",
                  f"Judged by {kind.judged_by}.", ""]
        for verdict, texts in kind.rules.items():
            lines += [f"- **{verdict.value}**: {t}." for t in texts]
        lines += ["", "Standards: " + "; ".join(kind.standards) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
