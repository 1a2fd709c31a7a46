"""junit.xml for CI: a testsuite per run, a testcase per trial run (and, against a baseline, one
per compared trial whose failure is the regression); xml.etree does the escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.base.verdict import Verdict
from harness.report.i18n import parse_verdict

#: Characters XML 1.0 cannot carry at all (tool output may hold NULs or terminal escapes).
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MESSAGE_MAX = 1000


def _clean(value: Any) -> str:
    """Text safe for an XML attribute or element: invalid characters become U+FFFD."""
    return _INVALID_XML.sub("\ufffd", "" if value is None else str(value))


def _seconds(started: Any, finished: Any) -> float:
    """Seconds between two ISO 8601 timestamps; 0 when either is missing or unreadable."""
    try:
        start = datetime.fromisoformat(str(started))
        end = datetime.fromisoformat(str(finished))
        return max(0.0, (end - start).total_seconds())
    except (TypeError, ValueError):
        return 0.0


def _quantity(value: Any) -> str:
    if isinstance(value, Mapping):
        unit = value.get("unit") or ""
        return f"{value.get('value')} {unit}".strip()
    return "-" if value is None else str(value)


def _criteria_lines(trial: Mapping[str, Any], verdict: Verdict) -> list[str]:
    """`expr: observed X, threshold Y (source)` for each criterion with the given verdict."""
    lines = []
    for criterion in trial.get("criteria") or ():
        if parse_verdict(criterion.get("verdict")) is not verdict:
            continue
        line = (
            f"{criterion.get('expr', '')}: observed {_quantity(criterion.get('observed'))}, "
            f"threshold {_quantity(criterion.get('threshold'))}"
        )
        if criterion.get("source"):
            line += f" [{criterion['source']}]"
        if criterion.get("detail"):
            line += f" ({criterion['detail']})"
        lines.append(line)
    return lines


def _outcome(case: ET.Element, trial: Mapping[str, Any], verdict: Verdict) -> None:
    """Add the failure/error/skipped child that JUnit readers expect for `verdict`."""
    if verdict is Verdict.PASS:
        return
    if verdict is Verdict.SKIPPED:
        ET.SubElement(case, "skipped", message=_clean(trial.get("error") or "skipped"))
        return
    if verdict is Verdict.ERROR:
        body = _clean(trial.get("error") or "trial could not be measured")
        first_line = (body.strip().splitlines() or ["error"])[0]
        element = ET.SubElement(case, "error", message=first_line[:_MESSAGE_MAX], type="error")
        element.text = body
        return
    lines = _criteria_lines(trial, verdict)
    if verdict is Verdict.INCONCLUSIVE:
        summary = "inconclusive: " + ("; ".join(lines) or "too few samples or interval straddles "
                                                          "the threshold")
        kind = "inconclusive"
    else:
        summary = "failed: " + ("; ".join(lines) or "trial verdict FAIL")
        kind = "fail"
    element = ET.SubElement(case, "failure", message=_clean(summary)[:_MESSAGE_MAX], type=kind)
    if trial.get("error"):
        lines.append(str(trial["error"]))
    element.text = _clean("\n".join(lines))


def build_junit(summary: Mapping[str, Any]) -> ET.Element:
    """The `<testsuites>` tree for a run summary; ValueError on an unknown verdict."""
    scenario = summary.get("scenario") or {}
    suite_name = _clean(scenario.get("name") or "scenario")
    suites = ET.Element("testsuites", name=_clean(f"ran-harness {summary.get('run_id', '')}"))
    suite = ET.SubElement(suites, "testsuite", name=suite_name)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", summary.get("run_id")),
        ("verdict", summary.get("verdict")),
        ("lab", (summary.get("lab") or {}).get("name")),
        ("harness_version", summary.get("harness_version")),
        ("format_version", summary.get("format_version")),
    ):
        if value is not None:
            ET.SubElement(properties, "property", name=name, value=_clean(value))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for trial in summary.get("trials") or ():
        verdict = parse_verdict(trial.get("verdict"))
        case = ET.SubElement(
            suite,
            "testcase",
            classname=suite_name,
            name=_clean(f"{trial.get('id', '')} #{trial.get('repetition', '')}"),
            time=f"{_seconds(trial.get('started'), trial.get('finished')):.3f}",
        )
        _outcome(case, trial, verdict)
        counts["tests"] += 1
        if verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
            counts["failures"] += 1
        elif verdict is Verdict.ERROR:
            counts["errors"] += 1
        elif verdict is Verdict.SKIPPED:
            counts["skipped"] += 1
    _regression_cases(suite, summary, counts)
    total_time = f"{_seconds(summary.get('started'), summary.get('finished')):.3f}"
    for element in (suites, suite):
        for key, value in counts.items():
            element.set(key, str(value))
        element.set("time", total_time)
    if summary.get("started"):
        suite.set("timestamp", _clean(summary["started"]))
    if not len(properties):
        suite.remove(properties)
    return suites


def _regression_cases(suite: ET.Element, summary: Mapping[str, Any],
                      counts: dict[str, int]) -> None:
    """One testcase per trial compared with the baseline: a regression (or one the
    repetitions cannot resolve) is a failure of its own, apart from the trial's criteria."""
    baseline = summary.get("baseline")
    if not isinstance(baseline, Mapping) or not baseline.get("run_id"):
        return
    against = _clean(baseline["run_id"])
    for entry in baseline.get("trials") or ():
        verdict = parse_verdict(entry.get("verdict"))
        case = ET.SubElement(suite, "testcase", classname=_clean(f"{suite.get('name')}"
                                                                 ".regression"),
                             name=_clean(f"{entry.get('id', '')} vs {against}"), time="0.000")
        counts["tests"] += 1
        if verdict is Verdict.PASS:
            continue
        counts["failures"] += 1
        detail = _clean(entry.get("detail") or f"regression against {against}")
        kind = "regression" if verdict is Verdict.FAIL else "inconclusive-regression"
        message = detail if verdict is Verdict.FAIL else f"inconclusive: {detail}"
        element = ET.SubElement(case, "failure", message=message[:_MESSAGE_MAX], type=kind)
        element.text = detail


def write_junit(path: Path, summary: Mapping[str, Any]) -> Path:
    """Write the run's JUnit XML to `path` (UTF-8, with declaration) and return `path`."""
    tree = ET.ElementTree(build_junit(summary))
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
