"""junit.xml as CI servers read it: valid against junit-10.xsd (tests/junit-10.xsd), one
testcase per trial × criterion and per built-in acceptance, observed vs threshold in every
failure message, and never green for a red run (nor red for a green one)."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.report import write_junit
from tests.test_report import _criterion, _trial, make_summary

lxml_etree = pytest.importorskip("lxml.etree")
XSD = Path(__file__).with_name("junit-10.xsd")


def _valid(path: Path) -> ET.Element:
    schema = lxml_etree.XMLSchema(lxml_etree.parse(str(XSD)))
    document = lxml_etree.parse(str(path))
    assert schema.validate(document), schema.error_log
    return ET.parse(path).getroot()


def _junit(tmp_path: Path, summary: dict[str, Any]) -> ET.Element:
    return _valid(write_junit(tmp_path / "junit.xml", summary))


def _counts(root: ET.Element) -> tuple[int, int, int]:
    suite = root.find("testsuite")
    assert suite is not None
    return int(suite.get("tests", "0")), int(suite.get("failures", "0")), \
        int(suite.get("errors", "0"))


def _aggregate(tid: str, verdict: str, criteria: list[dict[str, Any]],
               repetitions: int = 3) -> dict[str, Any]:
    return {"id": tid, "kind": "throughput", "repetitions": repetitions, "errors": 0,
            "metrics": {}, "criteria": criteria, "verdict": verdict}


def test_the_schema_is_real_and_strict(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites skipped="0"><testsuite tests="1"><testcase name="a"/>'
                   "</testsuite></testsuites>", encoding="utf-8")
    schema = lxml_etree.XMLSchema(lxml_etree.parse(str(XSD)))
    assert not schema.validate(lxml_etree.parse(str(bad)))
    bad.write_text('<testsuites><testsuite><testcase name="a"/></testsuite></testsuites>',
                   encoding="utf-8")
    assert not schema.validate(lxml_etree.parse(str(bad)))  # testsuite needs tests=


def test_a_run_report_validates(tmp_path: Path) -> None:
    # fails on the old code: <testsuites skipped="0"> is not in junit-10.xsd
    root = _junit(tmp_path, make_summary())
    assert _counts(root) == (4, 1, 1)


def test_setup_error_without_trials_is_an_errored_testcase(tmp_path: Path) -> None:
    # fails on the old code: tests="0", a CI dashboard showed nothing wrong
    summary = make_summary()
    summary.update(trials=[], verdict="ERROR", complete=False,
                   setup_error="setup failed: gnb1: set_cell refused\nCLI said: % Error")
    root = _junit(tmp_path, summary)
    assert _counts(root) == (1, 0, 1)
    case = root.find(".//testcase")
    assert case is not None and case.get("name") == "setup"
    error = case.find("error")
    assert error is not None and error.get("message") == "setup failed: gnb1: set_cell refused"


def test_devices_not_restored_show_red(tmp_path: Path) -> None:
    # fails on the old code: every trial PASSed, so failures=0 errors=0 for an ERROR run
    summary = make_summary()
    summary["trials"] = summary["trials"][:1]
    summary.update(verdict="ERROR", restore_errors=[
        {"device": "gnb1", "cell": 1, "parameter": "bandwidth_mhz", "wanted": 100,
         "reason": "failed", "message": "gnb1 cell 1 bandwidth_mhz: not put back to 100"}])
    root = _junit(tmp_path, summary)
    tests, failures, errors = _counts(root)
    assert tests == 3  # the trial's two criteria and the restore
    assert errors == 1 and failures == 0
    case = root.find(".//testcase[@name='devices restored']")
    assert case is not None and "bandwidth_mhz" in (case.find("error").get("message") or "")


def test_any_red_run_has_a_red_testcase(tmp_path: Path) -> None:
    # an incomplete run whose finished trials PASSed (nothing else recorded why)
    summary = make_summary()
    summary["trials"] = summary["trials"][:1]
    summary.update(verdict="ERROR", complete=False)
    root = _junit(tmp_path, summary)
    case = root.find(".//testcase[@name='run verdict']")
    assert case is not None and case.find("error") is not None
    assert "not every planned trial ran" in (case.find("error").get("message") or "")


def test_criteria_are_judged_on_the_aggregate_as_the_run_verdict_is(tmp_path: Path) -> None:
    # three repetitions each INCONCLUSIVE on their own (28 samples cannot show 95 %), PASS
    # pooled: the run PASSes (exit 0). Fails on the old code: three failures in junit.xml.
    share = "share(throughput >= 30 Mbit/s) >= 95 %"
    summary = make_summary()
    summary["verdict"] = "PASS"
    summary["trials"] = [_trial("dl", "INCONCLUSIVE",
                                [_criterion(share, 100, 95, "INCONCLUSIVE")], repetition=i)
                         for i in (1, 2, 3)]
    summary["aggregates"] = [_aggregate("dl", "PASS", [_criterion(share, 100, 95, "PASS")])]
    root = _junit(tmp_path, summary)
    assert _counts(root) == (1, 0, 0)
    case = root.find(".//testcase")
    assert case is not None and case.get("name") == f"dl: {share}"
    # the same pooled criterion FAILing names observed and threshold and the repetitions
    summary["verdict"] = "FAIL"
    summary["aggregates"] = [_aggregate("dl", "FAIL", [_criterion(share, 90, 95, "FAIL")])]
    root = _junit(tmp_path, summary)
    assert _counts(root) == (1, 1, 0)
    failure = root.find(".//failure")
    assert failure is not None
    message = failure.get("message") or ""
    assert "observed 90 Mbit/s" in message and "threshold 95 Mbit/s" in message
    assert "over 3 repetitions" in message


def test_a_failed_or_errored_repetition_counts_on_its_own(tmp_path: Path) -> None:
    summary = make_summary()
    crit = "throughput.mean >= 100 Mbit/s"
    summary["trials"] = [
        _trial("dl", "PASS", [_criterion(crit, 500, 100, "PASS")], repetition=1),
        _trial("dl", "FAIL", [_criterion(crit, 50, 100, "FAIL")], repetition=2),
        _trial("dl", "ERROR", [], error="iperf3: server vanished", repetition=3)]
    summary["aggregates"] = [_aggregate("dl", "PASS", [_criterion(crit, 275, 100, "PASS")])]
    summary["verdict"] = "FAIL"
    root = _junit(tmp_path, summary)
    names = [c.get("name") for c in root.iter("testcase")]
    assert names == [f"dl: {crit}", "dl #2", "dl #3"]
    assert _counts(root) == (3, 1, 1)
    failure = root.find(".//testcase[@name='dl #2']/failure")
    assert failure is not None and "observed 50 Mbit/s, threshold 100 Mbit/s" in (
        failure.get("message") or "")


def test_built_in_acceptance_is_a_testcase_per_repetition(tmp_path: Path) -> None:
    # fails on the old code: the Y.1564 service acceptance had no testcase of its own
    summary = make_summary()
    flr = _criterion("service.voice.flr <= 0.1 %", 0.4, 0.1, "FAIL")
    ok = _criterion("service.voice.ftd <= 10 ms", 4, 10, "PASS")
    trial = _trial("y1564", "FAIL", [], repetition=1)
    trial["acceptance"] = [ok, flr]
    summary.update(trials=[trial], verdict="FAIL")
    root = _junit(tmp_path, summary)
    names = [c.get("name") for c in root.iter("testcase")]
    assert names == ["y1564 #1: acceptance: service.voice.ftd <= 10 ms",
                     "y1564 #1: acceptance: service.voice.flr <= 0.1 %"]
    assert _counts(root) == (2, 1, 0)


@pytest.mark.parametrize("verdict", ["PASS", "FAIL", "ERROR", "INCONCLUSIVE"])
def test_junit_is_red_exactly_when_the_run_is(tmp_path: Path, verdict: str) -> None:
    summary = copy.deepcopy(make_summary())
    crit = "throughput.mean >= 100 Mbit/s"
    own = {"PASS": "PASS", "FAIL": "FAIL", "ERROR": "PASS", "INCONCLUSIVE": "INCONCLUSIVE"}
    summary["trials"] = [_trial("dl", own[verdict], [_criterion(crit, 500, 100, own[verdict])])]
    summary["verdict"] = verdict
    if verdict == "ERROR":
        summary["storage_error"] = "cannot write raw/x.json: No space left on device"
    root = _junit(tmp_path, summary)
    _, failures, errors = _counts(root)
    assert (failures + errors > 0) == (verdict != "PASS")
