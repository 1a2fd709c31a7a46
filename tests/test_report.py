"""The run report: plots, bilingual HTML, JUnit XML (harness.report)."""

from __future__ import annotations

import copy
import math
import re
import struct
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.base.sample import Sample
from harness.base.verdict import Verdict
from harness.report import ReportFiles, write_junit, write_report
from harness.report.html import format_quantity, format_time
from harness.report.i18n import TEXT, metric_text, parse_verdict, verdict_text
from harness.report.plots import decimate, slugify, throughput_thresholds

T0 = 1_795_964_462_123_000_000  # 2026-11-28T15:01:02.123Z in ns
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = '<script>alert("x")</script> & iperf3 said: connection refused'


def _criterion(expr: str, observed: float, threshold: float, verdict: str) -> dict[str, Any]:
    return {
        "expr": expr,
        "observed": {"value": observed, "unit": "Mbit/s"},
        "threshold": {"value": threshold, "unit": "Mbit/s"},
        "verdict": verdict,
        "source": "QCVN 126:2021/BTTTT" if "p5" in expr else None,
        "detail": f"{observed} Mbit/s vs {threshold} Mbit/s",
    }


def _trial(trial_id: str, verdict: str, criteria: list[dict[str, Any]],
           error: str | None = None, repetition: int = 1) -> dict[str, Any]:
    return {
        "id": trial_id,
        "repetition": repetition,
        "kind": "throughput",
        "verdict": verdict,
        "params": {"direction": "dl", "protocol": "tcp", "streams": 4, "duration_s": 3},
        "started": "2026-11-28T15:01:02.123Z",
        "finished": "2026-11-28T15:01:07.623Z",
        "metrics": {
            "throughput.mean": {"value": 1712.4, "unit": "Mbit/s"},
            "throughput.p5": {"value": 1650.25, "unit": "Mbit/s"},
            "throughput.samples": {"value": 3, "unit": ""},
        },
        "criteria": criteria,
        "error": error,
    }


def make_summary() -> dict[str, Any]:
    """A run with one PASS, one FAIL and one ERROR trial."""
    return {
        "format_version": 1,
        "harness_version": "0.1.0",
        "run_id": "20261128T150102Z-smoke-3f9a",
        "verdict": "FAIL",
        "scenario": {"name": "smoke", "sha256": "ab" * 32,
                     "title": {"vi": "Kiểm tra nhanh", "en": "Smoke test"}},
        "lab": {"name": "sim-lab", "sha256": "cd" * 32,
                "site": {"operator": "VNPT", "location": "Hoa Lac"}},
        "started": "2026-11-28T15:01:02.123Z",
        "finished": "2026-11-28T15:01:20.456Z",
        "devices": [{"name": "gnb1", "role": "gnodeb", "vendor": "ran-harness",
                     "model": "SimGNB-1", "serial": "SIM-0001", "firmware": "1.0.0"}],
        "trials": [
            _trial("throughput-dl-tcp", "PASS",
                   [_criterion("throughput.mean >= 0.6 * peak(gnb1)", 1712.4, 1041.8, "PASS"),
                    _criterion("throughput.p5 >= 100 Mbit/s", 1650.25, 100, "PASS")]),
            _trial("throughput-ul/udp", "FAIL",
                   [_criterion("throughput.mean >= 0.6 * peak(gnb1)", 512.5, 987.65, "FAIL")]),
            _trial("latency-loaded", "ERROR", [], error=EVIL),
        ],
    }


def make_samples(n: int = 40) -> list[Sample]:
    """Throughput and KPI samples for the first two trials; none for the ERROR one."""
    samples = []
    for trial, direction, mbits in (("throughput-dl-tcp", "dl", 1700.0),
                                    ("throughput-ul/udp", "ul", 500.0)):
        start = T0 + 10_000_000_000 * (trial == "throughput-ul/udp")
        for i in range(n):
            t = start + i * 100_000_000
            tags = {"trial": trial, "repetition": "1", "direction": direction, "protocol": "tcp"}
            samples.append(Sample(t, "throughput", tags,
                                  {"bits_per_second": (mbits + 20 * math.sin(i)) * 1e6,
                                   "bytes": 1000 * i, "retransmits": i % 3}))
            if i % 10 == 0:
                for device, kpi, unit, value in (("gnb1", "DRB.UEThpDl", "Mbit/s", mbits),
                                                 ("gnb1", "RRU.PrbUsedDl", "%", 80.0 + i),
                                                 ("core1", "GTP.InDataPktN3UPF", "", 1e5 * i)):
                    kpi_tags = {"trial": trial, "repetition": "1", "device": device,
                                "kpi": kpi, "unit": unit}
                    samples.append(Sample(t + 1, "kpi", kpi_tags, {"value": value}))
    return samples


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class _TextAndImages(HTMLParser):
    """Collects visible text and <img src> while checking that there is no <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.images: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture
def report(tmp_path: Path) -> tuple[ReportFiles, str, _TextAndImages]:
    files = write_report(tmp_path / "run", make_summary(), make_samples())
    html = files.html.read_text(encoding="utf-8")
    parser = _TextAndImages()
    parser.feed(html)
    return files, html, parser


def test_report_files_are_written_in_the_run_directory(
    report: tuple[ReportFiles, str, _TextAndImages], tmp_path: Path
) -> None:
    files, _, _ = report
    run = tmp_path / "run"
    assert files.html == run / "report.html"
    assert files.junit == run / "junit.xml"
    assert all(p.parent == run / "plots" for p in files.plots)
    # two trials with samples, each with a throughput figure and a KPI figure, and the run's
    # observed-vs-threshold chart (drawn from the criteria, not from samples)
    assert len(files.plots) == 5
    assert [p.name for p in files.plots if p.name.startswith("summary-")] == [
        "summary-observed-vs-threshold.png"]


def test_plots_are_valid_nontrivial_pngs(report: tuple[ReportFiles, str, _TextAndImages]) -> None:
    files, _, _ = report
    for path in files.plots:
        assert path.exists()
        assert path.stat().st_size > 10_000
        width, height = png_size(path)
        assert width >= 1000  # 8 in at 150 dpi
        assert height >= 300
        assert re.fullmatch(r"[A-Za-z0-9_.-]+\.png", path.name), path.name


def test_plot_names_are_slugified(report: tuple[ReportFiles, str, _TextAndImages]) -> None:
    files, _, _ = report
    names = sorted(p.name for p in files.plots if not p.name.startswith("summary-"))
    assert names == ["throughput-dl-tcp-r1-kpi.png", "throughput-dl-tcp-r1-throughput.png",
                     "throughput-ul-udp-r1-kpi.png", "throughput-ul-udp-r1-throughput.png"]


def test_html_is_bilingual_and_shows_verdicts(
    report: tuple[ReportFiles, str, _TextAndImages],
) -> None:
    _, html, parser = report
    text = " ".join(parser.text)
    for phrase in ("Báo cáo kết quả đo kiểm / Test report", "Kết luận / Conclusion",
                   "Đạt / PASS", "Không đạt / FAIL", "Lỗi (không đo được) / ERROR",
                   "Thiết bị được đo kiểm / Equipment under test", "Kiểm tra nhanh", "Smoke test",
                   "Số sê-ri / Serial number", "Ngưỡng / Threshold", "Giá trị đo / Measured value",
                   "20261128T150102Z-smoke-3f9a", "sim-lab", "VNPT", "Hoa Lac", "SIM-0001",
                   "Trạm gốc 5G (gNodeB)", "2026-11-28 15:01:02.123 UTC",
                   "Thông lượng, phân vị thứ 5 (p5) / Throughput, 5th percentile",
                   "QCVN 126:2021/BTTTT"):
        assert phrase in text, phrase
    verdicts = text.split("Quy tắc đánh giá kết quả / Verdict rules")[0]  # before the appendix
    assert "Chưa đủ cơ sở kết luận" not in verdicts  # no INCONCLUSIVE trial in this run
    assert 'lang="vi"' in html


def test_each_verdict_links_to_its_kind_rules(
    report: tuple[ReportFiles, str, _TextAndImages],
) -> None:
    _, html, parser = report
    text = " ".join(parser.text)
    assert 'id="rules-common"' in html and 'id="rules-throughput"' in html
    assert html.count('href="#rules-throughput"') >= 4  # two trials: summary row and section
    flat = " ".join(text.split())
    assert "Judged by: chỉ các chỉ tiêu của nó" in flat and "its criteria only" in flat


def test_builtin_acceptance_rows_are_shown(tmp_path: Path) -> None:
    summary = make_summary()
    summary["trials"][0]["acceptance"] = [
        {"expr": "y1564 service voice: configuration test", "observed": None, "threshold": None,
         "verdict": "FAIL", "source": "ITU-T Y.1564 §8.2", "detail": "FLR 3.2 % > 0.1 %"}]
    files = write_report(tmp_path / "run", summary, [])
    parser = _TextAndImages()
    parser.feed(files.html.read_text(encoding="utf-8"))
    text = " ".join(parser.text)
    assert "y1564 service voice: configuration test" in text
    assert "FLR 3.2 % > 0.1 %" in text and "ITU-T Y.1564 §8.2" in text


def test_docs_verdicts_md_is_generated_from_the_rules() -> None:
    from harness.kinds import default_registry
    from harness.report import verdict_rules

    docs = Path(__file__).resolve().parents[1] / "docs" / "verdicts.md"
    assert docs.read_text(encoding="utf-8") == verdict_rules.markdown(), (
        "docs/verdicts.md is stale: python -m harness.report.verdict_rules > docs/verdicts.md")
    assert set(default_registry().names()) <= set(verdict_rules.KINDS)


def test_html_shows_criteria_with_observed_and_threshold(
    report: tuple[ReportFiles, str, _TextAndImages],
) -> None:
    _, _, parser = report
    text = " ".join(parser.text)
    for value in ("1041.8 Mbit/s", "987.65 Mbit/s", "512.5 Mbit/s", "1712.4 Mbit/s", "100 Mbit/s"):
        assert value in text, value
    assert "throughput.mean >= 0.6 * peak(gnb1)" in text
    assert "512.5 Mbit/s vs 987.65 Mbit/s" in text  # criterion detail


def test_html_escapes_error_text(report: tuple[ReportFiles, str, _TextAndImages]) -> None:
    _, html, parser = report
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "script" not in parser.tags
    assert EVIL in "".join(parser.text)  # shown to the reader, as text


def test_html_links_plots_relatively(report: tuple[ReportFiles, str, _TextAndImages]) -> None:
    files, html, parser = report
    assert sorted(parser.images) == sorted(f"plots/{p.name}" for p in files.plots)
    for src in parser.images:
        assert (files.html.parent / src).exists()
    assert "<link" not in html and "http" not in html  # self-contained apart from the PNGs


def test_html_is_printable_a4(report: tuple[ReportFiles, str, _TextAndImages]) -> None:
    _, html, _ = report
    assert "size: A4" in html
    assert "<style>" in html


def test_junit_counts_and_outcomes(report: tuple[ReportFiles, str, _TextAndImages]) -> None:
    files, _, _ = report
    root = ET.parse(files.junit).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "smoke"
    # one testcase per trial x criterion (a repetition without criteria: one for itself)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("4", "1", "1", "0")
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    assert root.get("skipped") is None  # junit-10.xsd has no `skipped` on <testsuites>
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "throughput-dl-tcp #1: throughput.mean >= 0.6 * peak(gnb1)",
        "throughput-dl-tcp #1: throughput.p5 >= 100 Mbit/s",
        "throughput-ul/udp #1: throughput.mean >= 0.6 * peak(gnb1)", "latency-loaded #1"]
    assert [c.get("classname") for c in cases] == [
        "smoke.throughput-dl-tcp", "smoke.throughput-dl-tcp", "smoke.throughput-ul/udp",
        "smoke.latency-loaded"]
    assert cases[0].get("time") == "5.500"
    assert list(cases[0]) == []
    failure = cases[2].find("failure")
    assert failure is not None
    message = failure.get("message") or ""
    assert "throughput.mean >= 0.6 * peak(gnb1)" in message
    assert "512.5 Mbit/s" in message and "987.65 Mbit/s" in message
    error = cases[3].find("error")
    assert error is not None and error.get("message") == EVIL


def test_junit_inconclusive_skipped_and_control_characters(tmp_path: Path) -> None:
    summary = make_summary()
    summary["trials"] = [
        _trial("a", "INCONCLUSIVE",
               [_criterion("throughput.mean >= 1000 Mbit/s", 990, 1000, "INCONCLUSIVE")]),
        _trial("b", "SKIPPED", []),
        _trial("c", "ERROR", [], error="iperf3: \x1b[31mboom\x00\n  at line 2"),
        _trial("d", "PASS", []),
    ]
    summary["verdict"] = "ERROR"
    path = write_junit(tmp_path / "out" / "junit.xml", summary)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("4", "1", "1", "1")
    a, b, c, _ = suite.findall("testcase")
    failure = a.find("failure")
    assert failure is not None and failure.get("type") == "inconclusive"
    assert b.find("skipped") is not None
    error = c.find("error")
    assert error is not None
    assert error.get("message") == "iperf3: \ufffd[31mboom\ufffd"
    assert "at line 2" in (error.text or "")


def test_zero_samples_renders_without_plots(tmp_path: Path) -> None:
    files = write_report(tmp_path / "run", make_summary(), [])
    # no sample, no trial figure: only the run's observed-vs-threshold chart, from the criteria
    assert [p.name for p in files.plots] == ["summary-observed-vs-threshold.png"]
    html = files.html.read_text(encoding="utf-8")
    assert html.count("<img") == 1 and "summary-observed-vs-threshold" in html
    assert "Không đạt / FAIL" in html
    assert ET.parse(files.junit).getroot().get("tests") == "4"


def test_minimal_summary_renders(tmp_path: Path) -> None:
    summary = {"format_version": 1, "run_id": "r1", "verdict": "PASS", "trials": []}
    junit = tmp_path / "ci" / "junit.xml"
    files = write_report(tmp_path / "run", summary, [], junit_path=junit)
    assert files.junit == junit and junit.exists()
    assert "Đạt / PASS" in files.html.read_text(encoding="utf-8")


def test_unknown_verdict_is_refused(tmp_path: Path) -> None:
    summary = make_summary()
    summary["trials"][0]["verdict"] = "MAYBE"
    with pytest.raises(ValueError, match="MAYBE"):
        write_report(tmp_path / "run", summary, [])


def test_long_series_is_decimated_and_keeps_extremes(tmp_path: Path) -> None:
    times = np.arange(100_000, dtype=np.float64)
    values = np.ones(100_000, dtype=np.float64)
    values[54_321] = -5.0
    values[77_777] = 9.0
    t, v = decimate(times, values)
    assert len(t) <= 5000
    assert v.min() == -5.0 and v.max() == 9.0
    assert np.all(np.diff(t) > 0)
    short_t, _ = decimate(times[:10], values[:10])
    assert len(short_t) == 10
    # a long run still gives a plot
    samples = [Sample(T0 + i * 1_000_000, "throughput", {"trial": "x", "repetition": "1"},
                      {"bits_per_second": 1e9}) for i in range(20_000)]
    summary = make_summary()
    summary["trials"] = [_trial("x", "PASS", [])]
    files = write_report(tmp_path / "run", summary, samples)
    assert [p.name for p in files.plots] == ["x-r1-throughput.png"]


def test_slugify() -> None:
    assert slugify("throughput-dl/tcp #1") == "throughput-dl-tcp-1"
    assert slugify("Đo thông lượng") == "Do-thong-luong"
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("///") == "trial"


def test_colliding_slugs_get_distinct_files(tmp_path: Path) -> None:
    summary = make_summary()
    summary["trials"] = [_trial("a b", "PASS", []), _trial("a/b", "PASS", [])]
    samples = [Sample(T0 + i, "throughput", {"trial": trial, "repetition": "1"},
                      {"bits_per_second": 1e8}) for trial in ("a b", "a/b") for i in range(3)]
    files = write_report(tmp_path / "run", summary, samples)
    assert sorted(p.name for p in files.plots) == ["a-b-r1-2-throughput.png",
                                                    "a-b-r1-throughput.png"]


def test_threshold_lines_only_for_throughput_rates() -> None:
    criteria: list[dict[str, Any]] = [
        {"expr": "throughput.mean >= 1 Gbit/s", "threshold": {"value": 1, "unit": "Gbit/s"}},
        {"expr": "throughput.p5 >= 500 kbit/s", "threshold": {"value": 500, "unit": "kbit/s"}},
        {"expr": "throughput.samples >= 3", "threshold": {"value": 3, "unit": ""}},
        {"expr": "rtt.p95 <= 10 ms", "threshold": {"value": 10, "unit": "ms"}},
        {"expr": "throughput.mean >= x", "threshold": None},
    ]
    assert throughput_thresholds(criteria) == [
        ("throughput.mean >= 1 Gbit/s", 1000.0), ("throughput.p5 >= 500 kbit/s", 0.5)]


def test_i18n_helpers() -> None:
    assert verdict_text(Verdict.INCONCLUSIVE) == "Chưa đủ cơ sở kết luận / INCONCLUSIVE"
    assert verdict_text(Verdict.SKIPPED) == "Bỏ qua / SKIPPED"
    assert parse_verdict("fail") is Verdict.FAIL
    assert metric_text("rtt.p95") == ("Thời gian trễ khứ hồi (RTT), phân vị thứ 95 (p95) / "
                                      "Round-trip time, 95th percentile")
    assert metric_text("DRB.UEThpDl") == ""
    assert all(vi and en for vi, en in TEXT.values())
    assert format_quantity({"value": 1041.8000000000001, "unit": "Mbit/s"}) == "1041.8 Mbit/s"
    assert format_quantity(None) == "—"
    assert format_time("not a time") == "not a time"


def test_summary_is_not_modified(tmp_path: Path) -> None:
    summary = make_summary()
    before = copy.deepcopy(summary)
    write_report(tmp_path / "run", summary, make_samples())
    assert summary == before


def test_rule_code_spans_are_code_and_everything_else_is_escaped() -> None:
    from harness.report.html import code_spans

    assert str(code_spans("refused by `harness validate` <b>")) == (
        "refused by <code>harness validate</code> &lt;b&gt;")
    assert str(code_spans("`<script>`")) == "<code>&lt;script&gt;</code>"
    assert str(code_spans("odd ` tick")) == "odd ` tick"
