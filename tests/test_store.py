"""The embedded store, the run catalog, comparisons and exports — on real SQLite files."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from harness.base.sample import Sample, SampleError
from harness.store.catalog import Catalog, RunNotFound
from harness.store.compare import compare, direction_by_name, parse_threshold
from harness.store.export import write_csv, write_json
from harness.store.sqlite import SqliteStore, StoreFormatError
from harness.store.stats import t_two_sided_p, welch

T0 = 1_795_000_000_000_000_000


def kpi(i: int, device: str = "gnb1", name: str = "DRB.UEThpDl", value: float = 1.5,
        trial: str = "t1") -> Sample:
    return Sample(T0 + i * 1_000_000_000, "kpi",
                  {"run_id": "r", "trial": trial, "repetition": "1", "device": device,
                   "kpi": name}, {"value": value, "raw": i, "ok": i % 2 == 0})


# --- the per-run store ---------------------------------------------------------------------
def test_round_trip_keeps_types_order_and_wide_field_sets(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    wide = Sample(T0 + 5, "health", {"device": "gnb1"},
                  {f"f{i}": (i if i % 3 == 0 else float(i) if i % 3 == 1 else f"x{i}")
                   for i in range(12)} | {"flag": True})
    samples = [kpi(2), kpi(1), wide, Sample(T0, "event", {"kind": "x"}, {"message": "é \"q\""})]
    assert store.write(samples) == 4
    got = list(store.query())
    assert [s.time_ns for s in got] == sorted(s.time_ns for s in samples)
    by_time = {s.time_ns: s for s in got}
    for original in samples:
        back = by_time[original.time_ns]
        assert back.measurement == original.measurement
        assert dict(back.tags) == dict(original.tags)
        assert dict(back.fields) == dict(original.fields)
        assert [type(v) for v in back.fields.values()] == \
            [type(v) for v in original.fields.values()]
    store.close()


def test_queries_by_tags_measurement_and_time_range(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    store.write([kpi(i, device=f"gnb{i % 2}", name=f"K{i % 3}", trial=f"t{i % 4}")
                 for i in range(24)])
    assert len(list(store.query(tags={"device": "gnb1"}))) == 12
    assert [s.tags["kpi"] for s in store.query(tags={"device": "gnb0", "kpi": "K0"})] == \
        ["K0"] * 4
    window = list(store.query(start_ns=T0 + 5 * 10**9, end_ns=T0 + 10 * 10**9))
    assert [(s.time_ns - T0) // 10**9 for s in window] == [5, 6, 7, 8, 9]
    assert list(store.query(measurement="throughput")) == []
    assert store.tag_values("device") == ["gnb0", "gnb1"]
    assert store.count() == 24


def test_same_series_and_time_is_one_point_as_in_influxdb(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    store.write([kpi(1, value=1.0)])
    store.write([kpi(1, value=2.0)])
    assert [s.fields["value"] for s in store.query()] == [2.0]


def test_bad_samples_are_refused_and_nothing_of_the_batch_is_written(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    store.write([kpi(1)])
    for bad in (kpi(3, value=math.nan), kpi(3, value=math.inf),
                Sample(T0, "m", {}, {"v": 2**64}), Sample(T0, "m", {}, {"s": "a\nb"})):
        with pytest.raises(SampleError):
            store.write([kpi(2), bad])
    assert store.count() == 1
    store.write([kpi(4)])  # still usable, with its series cache intact
    assert store.count() == 2


def test_samples_view_keeps_the_old_sql_shape(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    store.write([kpi(1), kpi(2)])
    store.close()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    rows = db.execute("SELECT time_ns, measurement, tags, fields FROM samples "
                      "ORDER BY time_ns").fetchall()
    assert rows[0][1] == "kpi" and json.loads(rows[0][2])["device"] == "gnb1"
    assert json.loads(rows[0][3]) == {"value": 1.5, "raw": 1, "ok": False}
    assert json.loads(rows[1][3])["ok"] is True


def test_format_1_file_is_upgraded_and_newer_format_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('format_version', '1');
        CREATE TABLE samples (time_ns INTEGER NOT NULL, measurement TEXT NOT NULL,
                              tags TEXT NOT NULL, fields TEXT NOT NULL);
    """)
    db.execute("INSERT INTO samples VALUES (?, 'kpi', ?, ?)",
               (T0, json.dumps({"device": "gnb1"}), json.dumps({"value": 2.5, "raw": 7})))
    db.commit()
    db.close()
    store = SqliteStore(path, create=False)
    assert [(s.tags, s.fields) for s in store.query()] == [({"device": "gnb1"},
                                                            {"value": 2.5, "raw": 7})]
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone() == ("2",)
    db.execute("UPDATE meta SET value='99' WHERE key='format_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreFormatError, match="newer than this harness"):
        SqliteStore(path)


# --- runs and the catalog ------------------------------------------------------------------
def make_run(reports: Path, run_id: str, *, verdict: str = "PASS", scenario: str = "smoke",
             firmware: str = "1.0.0", means: list[float] | None = None,
             started: str = "2026-11-28T10:00:00.000Z", trial: str = "throughput-dl") -> Path:
    """A run directory as `harness run` leaves it (summary.json + samples.sqlite)."""
    run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    trials = [{"id": trial, "repetition": i + 1, "verdict": verdict,
               "metrics": {"throughput.mean": {"value": m, "unit": "Mbit/s"},
                           "rtt.mean": {"value": 10.0 + i, "unit": "ms"}},
               "criteria": [{"expr": "throughput.mean >= 100 Mbit/s", "verdict": verdict,
                             "observed": {"value": m, "unit": "Mbit/s"},
                             "threshold": {"value": 100, "unit": "Mbit/s"}, "source": None}],
               "error": None, "finished": started}
              for i, m in enumerate(means or [500.0])]
    summary = {"format_version": 1, "harness_version": "0", "run_id": run_id,
               "verdict": verdict, "scenario": {"name": scenario, "sha256": "x"},
               "lab": {"name": "lab", "sha256": "y"}, "started": started, "finished": started,
               "interrupted": False, "trials": trials,
               "devices": [{"name": "gnb1", "role": "gnodeb", "vendor": "v", "model": "m",
                            "serial": "s", "firmware": firmware}]}
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    store = SqliteStore(run_dir / "samples.sqlite")
    store.write([Sample(T0 + i * 10**9, "kpi", {"run_id": run_id, "device": "gnb1", "kpi": "K",
                                                "trial": trial}, {"value": float(i)})
                 for i in range(3)])
    store.close()
    return run_dir


def test_catalog_lists_finds_and_picks_the_last_pass(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    make_run(reports, "20261128T100000Z-smoke-aaaa", started="2026-11-28T10:00:00.000Z")
    make_run(reports, "20261128T110000Z-smoke-bbbb", firmware="2.0.0",
             started="2026-11-28T11:00:00.000Z")
    make_run(reports, "20261128T120000Z-smoke-cccc", verdict="FAIL", firmware="2.0.0",
             started="2026-11-28T12:00:00.000Z")
    make_run(reports, "20261128T130000Z-other-dddd", scenario="other",
             started="2026-11-28T13:00:00.000Z")
    catalog = Catalog(reports)
    catalog.sync()
    assert [r.run_id[-4:] for r in catalog.runs()] == ["dddd", "cccc", "bbbb", "aaaa"]
    assert [r.run_id[-4:] for r in catalog.runs(verdict="fail")] == ["cccc"]
    assert [r.run_id[-4:] for r in catalog.runs(firmware="2.0.0")] == ["cccc", "bbbb"]
    last = catalog.last_pass("smoke")
    assert last is not None and last.run_id.endswith("bbbb")
    on_1 = catalog.last_pass("smoke", firmware="1.0.0")
    assert on_1 is not None and on_1.run_id.endswith("aaaa")
    assert catalog.find("20261128T1100").firmware == {"gnb1": "2.0.0"}
    with pytest.raises(RunNotFound, match="matches 4 runs"):
        catalog.find("20261128")
    with pytest.raises(RunNotFound, match="no run"):
        catalog.find("nope")
    every = list(catalog.samples(tags={"device": "gnb1", "kpi": "K"}))
    assert len(every) == 12 and {s.tags["run_id"][-4:] for s in every} == {
        "aaaa", "bbbb", "cccc", "dddd"}
    one = list(catalog.samples(runs=["20261128T1000"], start_ns=T0 + 1))
    assert [s.fields["value"] for s in one] == [1.0, 2.0]
    import shutil

    shutil.rmtree(reports / "20261128T130000Z-other-dddd")
    catalog.sync()
    assert len(catalog.runs()) == 3
    catalog.close()


def test_catalog_of_an_older_format_is_rebuilt_newer_refused(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    make_run(reports, "20261128T100000Z-smoke-aaaa")
    Catalog(reports).close()
    db = sqlite3.connect(reports / "catalog.sqlite")
    db.execute("UPDATE meta SET value='0' WHERE key='format_version'")
    db.commit()
    db.close()
    catalog = Catalog(reports)
    catalog.sync()
    assert len(catalog.runs()) == 1
    catalog.close()
    db = sqlite3.connect(reports / "catalog.sqlite")
    db.execute("UPDATE meta SET value='7' WHERE key='format_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreFormatError, match="newer"):
        Catalog(reports)


# --- statistics and comparison ---------------------------------------------------------------
def test_welch_matches_reference_values() -> None:
    # Student t quantiles: two-sided p = 0.05 at t = 2.228 (df 10), 0.10 at 1.812 (df 10)
    assert t_two_sided_p(2.228, 10) == pytest.approx(0.05, abs=2e-4)
    assert t_two_sided_p(1.812, 10) == pytest.approx(0.10, abs=2e-4)
    assert t_two_sided_p(12.706, 1) == pytest.approx(0.05, abs=2e-5)
    # R: t.test(c(1,2,3,4), c(2,3,4,5.5)) → t = -1.1399, df = 5.8775, p-value = 0.2986
    result = welch([1, 2, 3, 4], [2, 3, 4, 5.5])
    assert result is not None
    assert (result.t, result.df, result.p_value) == pytest.approx((1.1399, 5.8775, 0.2986),
                                                                  abs=1e-4)
    assert welch([1.0], [2.0, 3.0]) is None
    same = welch([5.0, 5.0], [5.0, 5.0])
    assert same is not None and same.p_value == 1.0


def summary_of(run_id: str, throughput: list[float], rtt: list[float]) -> dict[str, Any]:
    return {"run_id": run_id, "trials": [
        {"id": "dl", "repetition": i + 1,
         "metrics": {"throughput.mean": {"value": t, "unit": "Mbit/s"},
                     "rtt.p95": {"value": r, "unit": "ms"},
                     "gnb1.RRU.PrbUsedDl.mean": {"value": 100.0, "unit": "PRB"}},
         "criteria": [{"expr": "rtt.p95 <= 30 ms"}, {"expr": "throughput.mean >= 100 Mbit/s"}]}
        for i, (t, r) in enumerate(zip(throughput, rtt, strict=True))]}


def test_compare_marks_significant_regressions_beyond_the_threshold() -> None:
    base = summary_of("A", [500, 505, 495], [10.0, 10.2, 9.8])
    worse = summary_of("B", [400, 405, 395], [10.1, 10.0, 10.1])
    result = compare(base, worse, threshold=0.05)
    by_metric = {d.metric: d for d in result.diffs}
    assert by_metric["throughput.mean"].status == "regression"
    assert by_metric["throughput.mean"].change == pytest.approx(-0.2)
    assert by_metric["throughput.mean"].p_value is not None
    assert by_metric["throughput.mean"].p_value < 0.01
    assert by_metric["rtt.p95"].status == "same"
    assert by_metric["gnb1.RRU.PrbUsedDl.mean"].status == "info"
    assert [d.metric for d in result.regressions] == ["throughput.mean"]
    # noisy repetitions: a 10 % drop that the test cannot tell from chance
    noisy = compare(summary_of("A", [500, 300, 700], [10, 10, 10]),
                    summary_of("B", [450, 250, 650], [10, 10, 10]))
    assert {d.metric: d.status for d in noisy.diffs}["throughput.mean"] == "inconclusive"
    # latency up is a regression (direction from the criterion `rtt.p95 <= 30 ms`), beyond
    # its noise floor ±max(30 %, 2 ms)
    slower = compare(base, summary_of("C", [500, 505, 495], [16.0, 16.1, 15.9]))
    assert [d.metric for d in slower.regressions] == ["rtt.p95"]
    better = compare(worse, base)
    assert {d.metric: d.status for d in better.diffs}["throughput.mean"] == "improvement"


def test_compare_with_one_repetition_is_inconclusive_at_most() -> None:
    result = compare(summary_of("A", [500], [10]), summary_of("B", [470], [10]), threshold=0.05)
    assert result.regressions == [] and result.inconclusive[0].p_value is None
    assert compare(summary_of("A", [500], [10]), summary_of("B", [480], [10])).inconclusive == []


def test_threshold_parsing_and_directions() -> None:
    assert parse_threshold("5%") == pytest.approx(0.05)
    assert parse_threshold("0.1") == pytest.approx(0.1)
    for bad in ("-1%", "abc", "nan"):
        with pytest.raises(ValueError):
            parse_threshold(bad)
    assert direction_by_name("throughput.p5") == "higher"
    assert direction_by_name("throughput.retransmits") == "lower"
    assert direction_by_name("rtt.mean") == "lower"
    assert direction_by_name("throughput.samples") == ""


# --- export --------------------------------------------------------------------------------
def test_export_csv_and_json(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    store.write([kpi(1), Sample(T0 + 7, "verdict", {"trial": "t1", "level": "trial"},
                                {"verdict": "PASS", "code": 0, "passed": True,
                                 "throughput.mean": 512.25})])
    out = io.StringIO()
    assert write_csv(store, out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["time"] == "2026-11-18T11:06:40.000000007Z"
    assert rows[0]["measurement"] == "verdict" and rows[0]["verdict"] == "PASS"
    assert rows[0]["passed"] == "true" and rows[0]["throughput.mean"] == "512.25"
    assert rows[1]["device"] == "gnb1" and rows[1]["value"] == "1.5" and rows[1]["raw"] == "1"
    out = io.StringIO()
    assert write_json(store, {"run_id": "r1", "verdict": "PASS"}, out) == 2
    doc = json.loads(out.getvalue())
    assert doc["format_version"] == 1 and doc["summary"]["verdict"] == "PASS"
    assert doc["samples"][1]["fields"] == {"value": 1.5, "raw": 1, "ok": False}
    assert doc["samples"][0]["time_ns"] == T0 + 7
