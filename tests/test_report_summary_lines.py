"""The executive summary: one line per trial pooled over its repetitions (the aggregate's
verdict and deciding figure with its 95 % interval); the repetitions stay in the details."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from harness.report import write_report
from tests.test_report import _criterion, _TextAndImages, _trial, make_summary

TID = "throughput-dl-tcp"
EXPR = "throughput.mean >= 0.6 * peak(gnb1)"


def _three_repetitions(verdicts: tuple[str, str, str], pooled: str) -> dict[str, Any]:
    """make_summary() whose first trial ran three times, with its aggregate."""
    summary = make_summary()
    first = summary["trials"][0]
    reps = []
    for rep, (verdict, observed) in enumerate(zip(verdicts, (1712.4, 1701.0, 1689.9),
                                                  strict=True), start=1):
        entry = copy.deepcopy(first) if rep == 1 else _trial(
            TID, verdict, [_criterion(EXPR, observed, 1041.8, verdict)], repetition=rep)
        entry["verdict"] = verdict
        reps.append(entry)
    summary["trials"] = [*reps, *summary["trials"][1:]]
    summary["aggregates"] = [{
        "id": TID, "kind": "throughput", "repetitions": 3, "errors": 0,
        "metrics": {"throughput.mean": {"value": 1701.1, "unit": "Mbit/s",
                                        "ci": [1673.25, 1728.95], "n": 3, "samples": 9}},
        "criteria": [{"expr": EXPR, "observed": {"value": 1701.1, "unit": "Mbit/s"},
                      "threshold": {"value": 1041.8, "unit": "Mbit/s"}, "verdict": pooled,
                      "source": None, "detail": "pooled"}],
        "verdict": pooled}]
    return summary


def _summary_and_details(tmp_path: Path, summary: dict[str, Any]) -> tuple[str, str, str]:
    html = write_report(tmp_path / "run", summary, [], lang="en").html.read_text(
        encoding="utf-8")
    section = html.split('id="summary">')[1].split("</section>")[0]
    parser = _TextAndImages()
    parser.feed(section)
    rest = _TextAndImages()
    rest.feed(html.split('id="summary">')[1].split("</section>", 1)[1])
    return section, " ".join(" ".join(parser.text).split()), " ".join(" ".join(rest.text).split())


def test_one_summary_line_per_trial_with_the_pooled_verdict_and_interval(
        tmp_path: Path) -> None:
    section, text, details = _summary_and_details(
        tmp_path, _three_repetitions(("PASS", "INCONCLUSIVE", "PASS"), "PASS"))
    # one row per trial id: the old summary had three rows for the three repetitions
    assert section.count(f"<code>{TID}</code>") == 1, section
    assert section.count("<tr>") == 1 + 3  # header, then three trials
    assert f"{TID} (3 repetitions)" in text
    assert ("throughput.mean >= 0.6 * peak(gnb1): 1701.1 Mbit/s, 95 % confidence interval "
            "[1673.25, 1728.95] Mbit/s (Threshold 1041.8 Mbit/s)") in text
    row = section.split(f"<code>{TID}</code>")[1].split("</tr>")[0]
    assert "v-pass" in row and "v-inconclusive" not in row  # decided by the pooled evidence
    for rep in ("#1", "#2", "#3"):  # the repetitions stay in the trial details
        assert f"{TID} {rep}" in details


def test_a_failed_repetition_is_not_hidden_by_a_passing_aggregate(tmp_path: Path) -> None:
    section, text, _ = _summary_and_details(
        tmp_path, _three_repetitions(("PASS", "FAIL", "PASS"), "PASS"))
    row = section.split(f"<code>{TID}</code>")[1].split("</tr>")[0]
    assert "v-fail" in row and "v-pass" not in row  # as the run's verdict counts it
    assert "Repetition #2: throughput.mean >= 0.6 * peak(gnb1): 1701 Mbit/s" in text


def test_a_trial_without_an_aggregate_keeps_its_own_line(tmp_path: Path) -> None:
    section, text, _ = _summary_and_details(tmp_path, make_summary())
    assert section.count("<tr>") == 1 + 3
    assert "throughput.mean >= 0.6 * peak(gnb1): 512.5 Mbit/s (Threshold 987.65 Mbit/s)" in text
