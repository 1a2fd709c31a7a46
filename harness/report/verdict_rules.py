"""What makes a trial PASS, FAIL, INCONCLUSIVE or ERROR, per kind, with the standard each rule
comes from: one table that the report's appendix shows and `docs/verdicts.md` is generated from
(`python -m harness.report.verdict_rules > docs/verdicts.md`; a test keeps the two identical).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from harness.verdict import Verdict


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
    pass_=(),
    fail=("any criterion of the trial is FAIL: its observed value (point estimate) does not meet "
          "the threshold and its 95 % confidence interval lies wholly on the failing side",
          "any built-in acceptance of the kind (listed under the kind) is FAIL"),
    inconclusive=(
        "a criterion's 95 % confidence interval straddles the threshold (the same whichever side "
        "of the comparison the metric is written on; intervals are carried through arithmetic)",
        "a criterion reads a statistical estimate (a mean, a percentile, a share, a loss "
        "percentage) for which no interval can be computed, or which rests on fewer samples "
        "than `min_samples`",
        "the UE-side volume and the gNodeB's PDCP volume counter over the same window differ "
        "by more than the cross-check tolerance (default 5 %)",
        "a regression against the baseline run cannot be separated from noise (one repetition)",
    ),
    error=("the trial could not be measured: a device, a tool or the harness failed during it "
           "(the reason is stated, every sample taken is kept, the run goes on)",
           "the measurement conditions read from the device at the trial's start disagree with "
           "the trial's parameters (both values are named)"),
)
"""Rules every kind shares; a kind's own rules come on top."""

_PASS_ALL = ("every criterion and every built-in acceptance is PASS",)

KINDS: Mapping[str, KindRules] = MappingProxyType({
    "throughput": KindRules(
        "throughput (iperf3 TCP/UDP)",
        "its criteria only (validation refuses a throughput trial without criteria)",
        _rules(pass_=_PASS_ALL, fail=(), inconclusive=(), error=()),
        ("IETF RFC 6349 (TCP throughput methodology: efficiency, buffer delay)",
         "QCVN 126:2021/BTTTT (through the qcvn-126-2021 preset)",
         "3GPP TS 38.306 §4.1.2 (peak(), through criteria)")),
    "latency": KindRules(
        "latency (irtt; ping only when asked)",
        "its criteria only (validation refuses a latency trial without criteria)",
        _rules(pass_=_PASS_ALL, fail=(),
               inconclusive=(),
               error=("irtt is not installed on the UE-side host (no silent fallback to ping)",)),
        ("IETF RFC 3550 (interarrival jitter)", "IETF RFC 3393 (IPDV)",
         "ITU-R M.2410 (through the itu-m2410-embb preset: a round trip, not the one-way RAN "
         "figure)")),
    "rfc2544": KindRules(
        "rfc2544 (zero-loss throughput search)",
        "the confirmation of the found rate (built in) and its criteria",
        _rules(pass_=("the highest rate with zero loss (or loss within `loss_tolerance`) was "
                      "confirmed by a confirmation run, and every criterion is PASS",),
               fail=(),
               inconclusive=("no rate could be confirmed within `max_iterations`: the throughput "
                             "is not published and the search's history is stated",),
               error=()),
        ("IETF RFC 2544 §26.1 (throughput), §26.3 (frame loss rate), §26.2 (latency)",)),
    "y1564": KindRules(
        "y1564 (service activation)",
        "service acceptance per service and step (built in) and its criteria",
        _rules(pass_=("every service meets its acceptance (IR within tolerance of the step's "
                      "rate, FLR, FTD, FDV) at every CIR step and in the performance test",),
               fail=("a service misses its acceptance at any step, or in the performance test",),
               inconclusive=(), error=()),
        ("ITU-T Y.1564 §8.2 (service configuration test), §8.3 (service performance test)",
         "FDV as delay variation relative to the minimum delay (ITU-T Y.1563 / Y.1564)")),
    "soak": KindRules(
        "soak (long-duration stability)",
        "its criteria only (validation refuses a soak trial without criteria)",
        _rules(pass_=_PASS_ALL, fail=(), inconclusive=(), error=()),
        ("availability as a share of probes (Wilson interval)",)),
    "sharing": KindRules(
        "sharing (MOCN per-PLMN shares)",
        "the per-PLMN share and isolation acceptance (built in) and its criteria",
        _rules(pass_=("each PLMN receives its configured share within tolerance and one PLMN's "
                      "load does not starve another, and every criterion is PASS",),
               fail=("a PLMN's share or isolation is outside its tolerance",),
               inconclusive=(), error=()),
        ("3GPP TS 23.251 (network sharing, MOCN)",)),
    "firmware_upgrade": KindRules(
        "firmware_upgrade (upgrade, come-back, regression)",
        "come-back and version check and the regression sub-scenario (built in) and its "
        "criteria",
        _rules(pass_=("the device came back within the allowed time reporting the new version, "
                      "and the regression sub-scenario's verdict is PASS",),
               fail=("the device did not come back, reports another version, refused a good "
                     "image, or the regression sub-scenario FAILed",),
               inconclusive=("the regression sub-scenario was INCONCLUSIVE",), error=()),
        ("the operator's acceptance procedure for software upgrades",)),
})
"""Per-kind rules, keyed by kind name."""


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
