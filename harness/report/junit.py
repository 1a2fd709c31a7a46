"""junit.xml for CI: one testsuite per run; a testcase per trial × criterion (judged over the
trial's repetitions, as the run's verdict is), per repetition × built-in acceptance, per
repetition that FAILed, could not be measured or was skipped, per trial compared with a
baseline, and per run-level cause (setup, restore, storage, interruption). The file never
shows green for a red run: when the testcases do not already carry the run's verdict, a
`run verdict` testcase does. Valid against the Jenkins xUnit plugin's junit-10.xsd (the
dialect GitLab and GitHub readers accept); xml.etree does the escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.base.verdict import Verdict, worst
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


def _criterion_line(criterion: Mapping[str, Any]) -> str:
    """`expr: observed X, threshold Y [source] (detail)`."""
    line = (f"{criterion.get('expr', '')}: observed {_quantity(criterion.get('observed'))}, "
            f"threshold {_quantity(criterion.get('threshold'))}")
    if criterion.get("source"):
        line += f" [{criterion['source']}]"
    if criterion.get("detail"):
        line += f" ({criterion['detail']})"
    return line


@dataclass(frozen=True)
class _Case:
    """One testcase: its name, class, verdict, the message and body of a non-PASS."""

    classname: str
    name: str
    verdict: Verdict
    message: str = ""
    body: str = ""
    time: float = 0.0
    kind: str = ""


_LABEL = {Verdict.FAIL: "failed", Verdict.INCONCLUSIVE: "inconclusive",
          Verdict.ERROR: "error", Verdict.SKIPPED: "skipped"}


def _criterion_case(classname: str, name: str, criterion: Mapping[str, Any],
                    time: float = 0.0) -> _Case:
    verdict = parse_verdict(criterion.get("verdict"))
    line = _criterion_line(criterion)
    return _Case(classname, name, verdict, f"{_LABEL.get(verdict, '')}: {line}", line, time)


def _entry_case(classname: str, entry: Mapping[str, Any], verdict: Verdict,
                time: float) -> _Case:
    """A repetition as a whole: its error, or its failing criteria and acceptance."""
    lines = [_criterion_line(c) for c in [*(entry.get("criteria") or ()),
                                           *(entry.get("acceptance") or ())]
             if c.get("verdict") is not None and parse_verdict(c.get("verdict")) is verdict]
    if entry.get("error"):
        lines.append(str(entry["error"]))
    default = {Verdict.ERROR: "trial could not be measured", Verdict.SKIPPED: "skipped",
               Verdict.FAIL: "trial verdict FAIL",
               Verdict.INCONCLUSIVE: "too few samples or interval straddles the threshold"}
    body = "\n".join(lines) or default.get(verdict, "")
    first = (body.strip().splitlines() or [""])[0] if verdict is Verdict.ERROR \
        else "; ".join(lines) or body
    label = _LABEL.get(verdict, "")
    message = first if verdict in (Verdict.ERROR, Verdict.SKIPPED) else f"{label}: {first}"
    name = f"{entry.get('id', '')} #{entry.get('repetition', '')}"
    return _Case(classname, name, verdict, message, body, time)


def _trial_cases(suite: str, summary: Mapping[str, Any]) -> list[_Case]:
    """Criteria on each trial's aggregate; acceptance and non-PASS repetitions per
    repetition; trials without an aggregate (older summaries) criterion by repetition."""
    cases: list[_Case] = []
    aggregates = {str(a.get("id")): a for a in summary.get("aggregates") or ()
                  if isinstance(a, Mapping) and a.get("verdict") is not None}  # judged ones
    entries = [t for t in summary.get("trials") or () if isinstance(t, Mapping)]
    done: set[str] = set()
    for entry in entries:
        tid = str(entry.get("id", ""))
        classname = f"{suite}.{tid}"
        time = _seconds(entry.get("started"), entry.get("finished"))
        aggregate = aggregates.get(tid)
        if aggregate is not None and tid not in done:
            done.add(tid)
            cases += _aggregate_cases(classname, aggregate)
        verdict = parse_verdict(entry.get("verdict"))
        rep = f"{tid} #{entry.get('repetition', '')}"
        own: list[Verdict] = []
        if aggregate is None:
            for criterion in entry.get("criteria") or ():
                if criterion.get("verdict") is None:
                    continue  # not a judgement: the repetition's own testcase says it
                cases.append(_criterion_case(classname, f"{rep}: {criterion.get('expr')}",
                                             criterion, time))
                own.append(cases[-1].verdict)
        for item in entry.get("acceptance") or ():
            cases.append(_criterion_case(classname, f"{rep}: acceptance: {item.get('expr')}",
                                         item, time))
            own.append(cases[-1].verdict)
        pooled_away = aggregate is not None and verdict in (Verdict.PASS,
                                                            Verdict.INCONCLUSIVE)
        if not pooled_away and (not own or worst(own).severity < verdict.severity):
            cases.append(_entry_case(classname, entry, verdict, time))
    return cases


def _aggregate_cases(classname: str, aggregate: Mapping[str, Any]) -> list[_Case]:
    tid = str(aggregate.get("id", ""))
    reps = aggregate.get("repetitions")
    over = f" (over {reps} repetitions)" if isinstance(reps, int) and reps > 1 else ""
    cases = [_criterion_case(classname, f"{tid}: {c.get('expr')}", c)
             for c in aggregate.get("criteria") or ()]
    cases = [_Case(c.classname, c.name, c.verdict, c.message + over if c.message else "",
                   c.body + over, c.time) for c in cases]
    verdict = parse_verdict(aggregate.get("verdict"))
    if not cases and verdict is not Verdict.PASS:
        errors = aggregate.get("errors")
        text = (f"{errors} of {reps} repetition(s) could not be measured" if errors
                else "nothing judged")
        cases.append(_Case(classname, tid, verdict, text, text))
    return cases


def _run_cases(suite: str, summary: Mapping[str, Any]) -> list[_Case]:
    """What makes a run ERROR outside its trials: setup, restore, storage, interruption."""
    cases: list[_Case] = []
    classname = f"{suite}.run"
    if summary.get("setup_error"):
        text = str(summary["setup_error"])
        cases.append(_Case(classname, "setup", Verdict.ERROR, text.splitlines()[0], text))
    restore = [r for r in summary.get("restore_errors") or () if isinstance(r, Mapping)]
    if restore:
        lines = [str(r.get("message") or r) for r in restore]
        cases.append(_Case(classname, "devices restored", Verdict.ERROR,
                           f"{len(lines)} parameter(s) not restored: {lines[0]}",
                           "\n".join(lines)))
    if summary.get("storage_error"):
        text = str(summary["storage_error"])
        cases.append(_Case(classname, "run files written", Verdict.ERROR, text, "\n".join(
            str(e) for e in summary.get("storage_errors") or [text])))
    if summary.get("interrupted"):
        text = "interrupted (Ctrl-C): partial results"
        cases.append(_Case(classname, "run complete", Verdict.ERROR, text, text))
    return cases


def _regression_cases(suite: str, summary: Mapping[str, Any]) -> list[_Case]:
    """One testcase per trial compared with the baseline: a regression (or one the
    repetitions cannot resolve) is a failure of its own, apart from the trial's criteria."""
    baseline = summary.get("baseline")
    if not isinstance(baseline, Mapping) or not baseline.get("run_id"):
        return []
    against = str(baseline["run_id"])
    cases = []
    for entry in baseline.get("trials") or ():
        verdict = parse_verdict(entry.get("verdict"))
        detail = str(entry.get("detail") or f"regression against {against}")
        kind = "regression" if verdict is Verdict.FAIL else "inconclusive-regression"
        message = detail if verdict is not Verdict.INCONCLUSIVE else f"inconclusive: {detail}"
        cases.append(_Case(f"{suite}.regression", f"{entry.get('id', '')} vs {against}",
                           verdict, message, detail, kind=kind))
    return cases


def _verdict_case(suite: str, summary: Mapping[str, Any], cases: Sequence[_Case]) -> list[_Case]:
    """A `run verdict` testcase when the others do not show the run's verdict (no false
    green): e.g. a setup error with no trial, or an incomplete run."""
    run = parse_verdict(summary.get("verdict"))
    shown = worst(c.verdict for c in cases)
    if cases and shown.severity >= run.severity:
        return []
    reasons = "; ".join(f"{r.get('reason')}: {r.get('verdict')}"
                        for r in summary.get("verdict_reasons") or ()
                        if isinstance(r, Mapping))
    text = f"run verdict {run.value}" + (f" ({reasons})" if reasons else "")
    if not summary.get("complete", True) and not summary.get("interrupted"):
        text += "; not every planned trial ran"
    return [_Case(f"{suite}.run", "run verdict", run, text, text)]


def _element(parent: ET.Element, case: _Case) -> ET.Element:
    element = ET.SubElement(parent, "testcase", classname=_clean(case.classname),
                            name=_clean(case.name), time=f"{case.time:.3f}")
    verdict = case.verdict
    if verdict is Verdict.PASS:
        return element
    message = _clean(case.message)[:_MESSAGE_MAX]
    if verdict is Verdict.SKIPPED:
        ET.SubElement(element, "skipped", message=message)
    elif verdict is Verdict.ERROR:
        child = ET.SubElement(element, "error", message=message, type="error")
        child.text = _clean(case.body)
    else:
        kind = case.kind or ("inconclusive" if verdict is Verdict.INCONCLUSIVE else "fail")
        child = ET.SubElement(element, "failure", message=message, type=kind)
        child.text = _clean(case.body)
    return element


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
        ("signer", (summary.get("signing") or {}).get("fingerprint")),
    ):
        if value is not None:
            ET.SubElement(properties, "property", name=name, value=_clean(value))
    cases = [*_run_cases(suite_name, summary), *_trial_cases(suite_name, summary),
             *_regression_cases(suite_name, summary)]
    cases += _verdict_case(suite_name, summary, cases)
    for case in cases:
        _element(suite, case)
    verdicts = [c.verdict for c in cases]
    counts = {"tests": len(cases),
              "failures": sum(v in (Verdict.FAIL, Verdict.INCONCLUSIVE) for v in verdicts),
              "errors": verdicts.count(Verdict.ERROR),
              "skipped": verdicts.count(Verdict.SKIPPED)}
    total_time = f"{_seconds(summary.get('started'), summary.get('finished')):.3f}"
    for key, value in counts.items():
        suite.set(key, str(value))
        if key != "skipped":  # junit-10.xsd: <testsuites> has no `skipped`
            suites.set(key, str(value))
    suites.set("time", total_time)
    suite.set("time", total_time)
    if summary.get("started"):
        suite.set("timestamp", _clean(summary["started"]))
    if not len(properties):
        suite.remove(properties)
    return suites


def write_junit(path: Path, summary: Mapping[str, Any]) -> Path:
    """Write the run's JUnit XML to `path` (UTF-8, with declaration) and return `path`."""
    tree = ET.ElementTree(build_junit(summary))
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
