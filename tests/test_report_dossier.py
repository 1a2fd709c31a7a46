"""The sign-off dossier's content (harness.report): cover, executive summary, per-criterion
table with sources and intervals, methodology, snapshots, events, evidence, approval block,
languages; and the catalog indexing the firmware a run ended on."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.base.sample import Sample
from harness.cli import cli
from harness.report import write_report
from harness.report.i18n import Translator, metric_text
from harness.report.sources import cite_clause, criterion_metric
from harness.store.catalog import Catalog
from tests.test_report import T0, _TextAndImages, make_summary
from tests.test_store import make_run

SCENARIO_SHA = "ab" * 32


def _text(html: str) -> str:
    parser = _TextAndImages()
    parser.feed(html)
    return " ".join(" ".join(parser.text).split())


def dossier_summary() -> dict[str, Any]:
    """make_summary() with what a real run adds: description, references, snapshots, an
    upgrade, a preset's gaps, intervals and counts."""
    summary = make_summary()
    summary["scenario"].update(
        description="Twelve seconds of TCP downlink through gnb1.",
        references=["QCVN 126:2021/BTTTT (average download speed)", "3GPP TS 38.306 §4.1.2"],
        file="scenarios/smoke.yaml")
    summary["snapshot"] = {
        "before": {"gnb1": {"role": "gnodeb", "facts": {"firmware": "1.0.0"},
                            "cells": {"1": {"bandwidth_mhz": 100}}, "alarms": []}},
        "after": {"gnb1": {"role": "gnodeb", "facts": {"firmware": "2.0.0"},
                           "cells": {"1": {"bandwidth_mhz": 100}}, "alarms": []}}}
    summary["aggregates"] = [{"id": "throughput-dl-tcp", "not_covered": [
        {"clause": "QCVN 126:2021/BTTTT, dropped-transfer rate",
         "reason": "not measured by the harness"}]}]
    first = summary["trials"][0]
    first["criteria"][1]["source"] = ("QCVN 126:2021/BTTTT, average download speed ≥ 100 "
                                      "Mbit/s; unit of sampling here: the whole session")
    first["ci"] = {"throughput.mean": [1700.5, 1724.25]}
    first["n"] = {"throughput.mean": 12}
    first["conditions"] = {"bandwidth_mhz": 100, "scs_khz": 30, "tdd": "DDDSU",
                           "special": "10:2:2", "layers_dl": 4, "layers_ul": 1,
                           "modulation_dl": "256qam", "modulation_ul": "64qam", "band": "n78",
                           "firmware": "1.0.0"}
    first["facts_before"] = {"gnb1": {"firmware": "1.0.0"}}
    first["facts_after"] = {"gnb1": {"firmware": "2.0.0"}}
    return summary


def _render(tmp_path: Path, lang: str = "both", summary: dict[str, Any] | None = None,
            samples: list[Sample] | None = None) -> tuple[Path, str]:
    run = tmp_path / f"run-{lang}"
    files = write_report(run, summary or dossier_summary(), samples or [], lang=lang)  # type: ignore[arg-type]
    return run, _text(files.html.read_text(encoding="utf-8"))


def test_criterion_without_source_cites_the_scenario_author_and_its_hash(
        tmp_path: Path) -> None:
    _, text = _render(tmp_path)
    section = text.split("Kết quả theo từng chỉ tiêu / Results per criterion")[1]
    section = section.split("Phương pháp đo và điều kiện đo")[0]
    # the first criterion of make_summary has no source: never a dash, the author and the hash
    assert f"tác giả kịch bản / scenario author (kịch bản SHA-256 / scenario SHA-256 " \
           f"{SCENARIO_SHA})" in section
    # QCVN with its clause
    assert "QCVN 126:2021/BTTTT §2.1.5.2, average download speed" in section
    # interval and N of the metric the criterion reads
    assert "[1700.5, 1724.25] Mbit/s" in section and " 12 " in section


def test_no_criterion_row_has_a_dash_source(tmp_path: Path) -> None:
    run, _ = _render(tmp_path)
    html = (run / "report.html").read_text(encoding="utf-8")
    assert '<td class="source">—</td>' not in html
    assert html.count('<td class="source">') >= 5


def test_qcvn_clauses_follow_the_regulation() -> None:
    assert cite_clause("QCVN 126:2021/BTTTT, unsuccessful access ≤ 5 %") == \
        "QCVN 126:2021/BTTTT §2.1.2, unsuccessful access ≤ 5 %"
    assert cite_clause("QCVN 126:2021/BTTTT, average access latency ≤ 50 ms").startswith(
        "QCVN 126:2021/BTTTT §2.1.3,")
    assert cite_clause("QCVN 126:2021/BTTTT, ≥ 95 % of download samples ≥ 30 Mbit/s") \
        .startswith("QCVN 126:2021/BTTTT §2.1.5.2,")
    assert cite_clause("QCVN 126:2021/BTTTT §2.1.4, x") == "QCVN 126:2021/BTTTT §2.1.4, x"
    assert cite_clause("ITU-T Y.1564 §8.2") == "ITU-T Y.1564 §8.2"
    assert criterion_metric("|crosscheck.deviation| <= 5 %") == "crosscheck.deviation"
    assert criterion_metric("share(throughput >= 30 Mbit/s) >= 95 %") == "throughput"
    assert criterion_metric("100 % - rate(a.b, c.d) <= 5 %") == "a.b"


def test_cover_summary_scenario_and_approval(tmp_path: Path) -> None:
    _, text = _render(tmp_path)
    for phrase in (
            "Doanh nghiệp viễn thông / nhà mạng / Operator VNPT",
            "Khóa ký số (dấu vân tay) / Signing key (fingerprint) Chưa ký số / unsigned",
            "scenarios/smoke.yaml " + SCENARIO_SHA,
            "Tóm tắt kết quả / Executive summary",
            "Twelve seconds of TCP downlink through gnb1.",
            "QCVN 126:2021/BTTTT (average download speed)", "3GPP TS 38.306 §4.1.2",
            "QCVN 126:2021/BTTTT §2.1.4, dropped-transfer rate",  # what was not covered
            "Người thực hiện đo kiểm / Tested by", "Người kiểm tra / Reviewed by",
            "Người phê duyệt / Approved by", "Chữ ký / Signature"):
        assert phrase in text, phrase
    # the deciding figure of the FAIL trial in the executive summary
    summary = text.split("Tóm tắt kết quả / Executive summary")[1].split("2. Kịch bản")[0]
    assert "throughput.mean >= 0.6 * peak(gnb1): 512.5 Mbit/s" in summary


def test_approval_block_has_blank_name_date_and_signature(tmp_path: Path) -> None:
    run, _ = _render(tmp_path)
    html = (run / "report.html").read_text(encoding="utf-8")
    block = html.split('<section class="approval"')[1].split("</section>")[0]
    assert block.count('<td class="blank"></td>') == 9  # 3 roles × name, date, signature


def test_firmware_before_and_after_the_run_and_each_trial(tmp_path: Path) -> None:
    _, text = _render(tmp_path, lang="en")
    assert "Before: 1.0.0 After: 2.0.0 (changed during the run)" in text
    assert "Before: 1.0.0; After: 2.0.0 (changed during the run)" in text  # the trial's
    snapshots = text.split("Device state before and after the run")[1]
    assert "facts.firmware 1.0.0 2.0.0 (differs)" in snapshots
    assert "cells.1.bandwidth_mhz 100 100 " in snapshots  # unchanged: no mark


def test_methodology_states_tool_conditions_and_sampling(tmp_path: Path) -> None:
    _, text = _render(tmp_path, lang="en")
    method = text.split("Measurement method and conditions")[1].split("Trial details")[0]
    for phrase in ("Band n78", "Channel bandwidth 100 MHz", "Subcarrier spacing (SCS) 30 kHz",
                   "TDD pattern DDDSU 10:2:2", "MIMO layers (DL/UL) 4 / 1",
                   "Modulation (DL/UL) 256qam / 64qam", "Durations 3.0 s",
                   "Unit of sampling one iperf3 reporting interval (1 s) of one session"):
        assert phrase in method, phrase


def test_events_timeline_lists_alarms_and_trials_in_time_order(tmp_path: Path) -> None:
    alarm = Sample(T0 + 2 * 10**9, "alarm", {"trial": "throughput-dl-tcp", "repetition": "1",
                                             "device": "gnb1", "severity": "major",
                                             "kind": "trap"},
                   {"text": "cell 1 degraded", "source": "cell-1"})
    _, text = _render(tmp_path, lang="vi", samples=[alarm])
    timeline = text.split("Cảnh báo và sự kiện theo thời gian")[1].split("Lỗi và cấu hình")[0]
    assert "gnb1 alarm/trap chính cell 1 degraded (cell-1) [throughput-dl-tcp #1]" in timeline
    started = timeline.index("Bắt đầu phép đo: throughput-dl-tcp #1")
    assert started < timeline.index("cell 1 degraded")


def test_evidence_appendix_hashes_every_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "raw").mkdir(parents=True)
    (run / "raw" / "t.iperf3.json").write_text('{"end": {}}', encoding="utf-8")
    files = write_report(run, dossier_summary(), [])
    text = _text(files.html.read_text(encoding="utf-8"))
    digest = hashlib.sha256(b'{"end": {}}').hexdigest()
    assert f"raw/t.iperf3.json 11 {digest}" in text
    assert "report.html" not in text.split("Phụ lục: danh sách tệp bằng chứng")[1].split(
        "Quy tắc đánh giá")[0]
    # a manifest, when there is one, is the authority
    (run / "manifest.json").write_text(json.dumps(
        {"files": [{"path": "raw/t.iperf3.json", "sha256": "f" * 64, "size": 11}]}))
    text = _text(write_report(run, dossier_summary(), []).html.read_text(encoding="utf-8"))
    assert "Giá trị băm lấy từ manifest.json" in text and "f" * 64 in text


def test_signer_fingerprint_from_the_summary(tmp_path: Path) -> None:
    summary = dossier_summary()
    summary["signing"] = {"fingerprint": "SHA256:deadbeef"}
    _, text = _render(tmp_path, summary=summary)
    assert "Signing key (fingerprint) SHA256:deadbeef" in text
    assert "Chưa ký số" not in text


@pytest.mark.parametrize(("lang", "present", "absent"), [
    ("en", ["Test report", "Conclusion", "FAIL", "Results per criterion", "Tested by",
            "Throughput, 5th percentile", "scenario author"],
     ["Báo cáo kết quả đo kiểm", "Kết luận", "Không đạt", "Người phê duyệt", "tác giả"]),
    ("vi", ["Báo cáo kết quả đo kiểm", "Kết luận", "Không đạt", "Người phê duyệt",
            "Thông lượng, phân vị thứ 5 (p5)", "tác giả kịch bản"],
     ["Test report", "Conclusion", "Results per criterion", "Tested by", "scenario author",
      "Throughput, 5th percentile"]),
])
def test_one_language_only(tmp_path: Path, lang: str, present: list[str],
                           absent: list[str]) -> None:
    run, text = _render(tmp_path, lang=lang)
    html = (run / "report.html").read_text(encoding="utf-8")
    assert f'<html lang="{lang}">' in html
    body = text.split("Quy tắc đánh giá kết quả")[0].split("Verdict rules")[0]
    for phrase in present:
        assert phrase in text, phrase
    for phrase in absent:
        assert phrase not in body, phrase


def test_every_label_is_translated_in_both_languages() -> None:
    from harness.report.i18n import TEXT

    for key, (vi, en) in TEXT.items():
        assert vi and en, key
    tr = Translator("vi")
    assert tr("approval.tested") == "Người thực hiện đo kiểm"
    assert metric_text("y1564.internet.perf.flr") == (
        "Dịch vụ internet, phép đo hiệu năng: tỷ lệ mất khung (FLR) / "
        "Service internet, performance test: frame loss ratio (FLR)")
    assert metric_text("dl.throughput.mean").endswith("Throughput, mean, downlink")
    assert metric_text("gnb1.RRC.ConnEstabSucc.delta").endswith(
        "gnb1: KPI RRC.ConnEstabSucc, increase during the trial")
    with pytest.raises(ValueError, match="fr"):
        Translator("fr")  # type: ignore[arg-type]


def test_catalog_finds_a_run_by_the_firmware_it_ended_on(tmp_path: Path) -> None:
    """Regression (fails on the old code): after an upgrade trial, `harness runs --firmware
    2.0.0` found nothing, the catalog indexed only the firmware the run started on."""
    reports = tmp_path / "reports"
    run = make_run(reports, "20261128T100000Z-upgrade-aaaa")
    make_run(reports, "20261128T110000Z-smoke-bbbb")
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    summary["snapshot"] = {"after": {"gnb1": {"facts": {"firmware": "2.0.0"}}}}
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    catalog = Catalog(reports)
    catalog.sync()
    assert [r.run_id for r in catalog.runs(firmware="2.0.0")] == [summary["run_id"]]
    assert len(catalog.runs(firmware="1.0.0")) == 2  # the one it started on still counts
    catalog.close()
    result = CliRunner().invoke(cli, ["runs", "--out", str(reports), "--firmware", "2.0.0"])
    assert result.exit_code == 0, result.output
    assert "upgrade-aaaa" in result.output and "gnb1=1.0.0→2.0.0" in result.output
    assert "smoke-bbbb" not in result.output


def test_catalog_reads_the_firmware_after_the_last_trial_without_a_snapshot(
        tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run = make_run(reports, "20261128T100000Z-upgrade-cccc")
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    summary["trials"][0]["facts_after"] = {"gnb1": {"firmware": "2.1.0"}}
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    catalog = Catalog(reports)
    catalog.sync()
    (info,) = catalog.runs(firmware="2.1.0")
    assert info.firmware == {"gnb1": "1.0.0"} and info.firmware_after == {"gnb1": "2.1.0"}
    catalog.close()
