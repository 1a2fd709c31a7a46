"""summary.json's typed model (harness.base.summary): the contract of DESIGN.md, versioning.

Every writer goes through `summary_json` and every reader through `read_summary`: a newer
format is refused with "upgrade ran-harness", an older one upgraded, unknown keys kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.base.errors import ConfigError
from harness.base.summary import (
    SUMMARY_FORMAT_VERSION,
    Summary,
    SummaryError,
    WrittenSummary,
    parse_summary,
    read_summary,
    summary_json,
)
from harness.engine.resume import read_summary as resume_summary
from harness.store.catalog import Catalog


def _summary(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "format_version": SUMMARY_FORMAT_VERSION, "harness_version": "0.1.0",
        "run_id": "20261207T000000Z-t-abcd", "verdict": "PASS",
        "scenario": {"name": "t", "sha256": "a" * 64, "file": "t.yaml"},
        "lab": {"name": "lab", "sha256": "b" * 64, "site": {}, "file": "lab.yaml"},
        "started": "2026-12-07T00:00:00.000Z", "finished": "2026-12-07T00:00:05.000Z",
        "interrupted": False, "complete": True,
        "devices": [{"name": "gnb1", "role": "gnodeb", "vendor": "V", "model": "M",
                     "serial": "S", "firmware": "1.0", "profile": "sim-gnb"}],
        "trials": [{"id": "t1", "repetition": 1, "kind": "throughput", "verdict": "PASS",
                    "metrics": {"throughput.mean": {"value": 95.5, "unit": "Mbit/s"}},
                    "criteria": [{"expr": "throughput.mean >= 90 Mbit/s",
                                  "observed": {"value": 95.5, "unit": "Mbit/s"},
                                  "threshold": {"value": 90.0, "unit": "Mbit/s"},
                                  "verdict": "PASS", "source": None}],
                    "error": None, "future_key": [1, 2]}],
        "setup_error": None, "restore_errors": [], "snapshot": {}, "sessions": [],
        "a_key_of_a_newer_minor": {"kept": True},
    }
    base.update(changes)
    return base


def test_round_trip_keeps_every_key_as_written() -> None:
    data = _summary()
    assert json.loads(summary_json(data)) == data
    model = parse_summary(data)
    assert isinstance(model, Summary)
    assert model.trials[0].metrics["throughput.mean"].value == 95.5
    assert model.devices[0].firmware == "1.0"


def test_newer_format_is_refused_with_upgrade_advice(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps(_summary(format_version=99)))
    with pytest.raises(SummaryError, match=r"newer ran-harness \(summary format 99.*upgrade "
                       r"ran-harness"):
        read_summary(tmp_path)
    with pytest.raises(ConfigError, match="upgrade ran-harness"):
        resume_summary(tmp_path)
    catalog = Catalog(tmp_path.parent)
    assert catalog.register(tmp_path) is None  # not indexed as if it were understood


def test_older_format_is_upgraded() -> None:
    data = _summary()
    del data["format_version"]  # format 0: before the format was numbered
    model = parse_summary(data)
    assert model.format_version == SUMMARY_FORMAT_VERSION


@pytest.mark.parametrize(("change", "message"), [
    ({"verdict": "MAYBE"}, "verdict"),
    ({"trials": [{"id": "t", "repetition": "one", "verdict": "PASS"}]}, "trials.0.repetition"),
    ({"devices": [{"name": "g", "vendor": 7}]}, "devices.0.vendor"),
    # a void that is not a list of reasons: never read as truthy, nor iterated as characters
    ({"trials": [{"id": "t", "repetition": 1, "void": "yes"}]}, "trials.0.void"),
    ({"trials": [{"id": "t", "repetition": 1, "void": [3]}]}, r"trials.0.void.0"),
    ({"format_version": "1"}, "format_version '1' is not a format number"),
    ({"format_version": True}, "format_version True is not a format number"),
])
def test_a_summary_that_breaks_the_contract_is_refused(change: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises(SummaryError, match=message):
        parse_summary(_summary(**change))


@pytest.mark.parametrize(("change", "message"), [
    ({"devices": [{"name": "g", "role": "gnodeb"}]}, "devices.0.vendor"),
    ({"scenario": {"name": "t"}}, "scenario.sha256"),
    ({"trials": [{"id": "t", "repetition": 1, "metrics": {}, "criteria": [],
                  "error": None}]}, "trials.0.verdict"),
])
def test_the_writer_holds_the_full_contract_readers_take_partial_ones(
        change: dict[str, Any], message: str) -> None:
    data = _summary(**change)
    parse_summary(data)  # a reader takes what a trimmed summary has
    with pytest.raises(SummaryError, match=message):
        summary_json(data)
    with pytest.raises(SummaryError, match=message):
        parse_summary(data, model=WrittenSummary)


def test_unreadable_files_say_what(tmp_path: Path) -> None:
    with pytest.raises(SummaryError, match="no such file"):
        read_summary(tmp_path / "missing.json")
    bad = tmp_path / "summary.json"
    bad.write_text("{not json")
    with pytest.raises(SummaryError, match="unreadable"):
        read_summary(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(SummaryError, match="not a run summary"):
        read_summary(bad)


def test_an_unreadable_baseline_is_inconclusive_not_pass(tmp_path: Path) -> None:
    """--baseline asked for and the baseline cannot be read: the regression cannot be judged,
    so the run is INCONCLUSIVE (the old code raised out of the run's end)."""
    from harness.base.loader import load_model
    from harness.config.lab import Lab
    from harness.store.results import Baseline, ResultsOptions, RunResults

    base_dir = tmp_path / "base"
    base_dir.mkdir()
    (base_dir / "summary.json").write_text('{"run_id": "A", "trials": [', encoding="utf-8")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lab = load_model(Path(__file__).resolve().parent.parent / "lab.yaml", Lab)
    results = RunResults(run_dir, run_id="B", scenario="smoke", lab=lab,
                         options=ResultsOptions(baseline=Baseline(base_dir)), emit=lambda e: None)
    summary = _summary()
    results.finish(summary)
    results.close()
    assert summary["verdict"] == "INCONCLUSIVE"
    assert summary["baseline"]["verdict"] == "INCONCLUSIVE"
    assert "baseline unreadable" in summary["baseline"]["note"]
    assert summary["verdict_reasons"][1] == {"reason": "regression", "verdict": "INCONCLUSIVE",
                                             "against": None, "note": "baseline unreadable"}
