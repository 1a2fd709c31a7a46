"""report.pdf (WeasyPrint) in both languages, read back with poppler's pdftotext and pdffonts;
a run with every trial kind on the simulated MOCN lab, re-rendered by `harness report` in
English and then Vietnamese from the stored run alone."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.report import write_report
from tests.conftest import require_tool
from tests.every_kind import KINDS
from tests.test_e2e_smoke import load_run, run_harness
from tests.test_report_dossier import dossier_summary


def pdf_text(path: Path) -> str:
    """The PDF's text as poppler extracts it (layout dropped, whitespace collapsed)."""
    tool = require_tool("pdftotext")
    out = subprocess.run([tool, "-enc", "UTF-8", str(path), "-"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return " ".join(out.split())


def pdf_fonts(path: Path) -> list[tuple[str, str]]:
    """(font name, embedded yes/no) of every font pdffonts lists."""
    tool = require_tool("pdffonts")
    lines = subprocess.run([tool, str(path)], capture_output=True, text=True, check=True,
                           timeout=60).stdout.splitlines()[2:]
    fonts = []
    for line in lines:
        parts = line.split()
        # name type... encoding emb sub uni object ID: emb is the 5th field from the end
        fonts.append((parts[0], parts[-5]))
    return fonts


def _tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_pdf_in_both_languages_has_vietnamese_diacritics_and_embedded_fonts(
        tmp_path: Path) -> None:
    files = write_report(tmp_path / "run", dossier_summary(), [], pdf=True)
    assert files.pdf == tmp_path / "run" / "report.pdf" and files.pdf_error is None
    assert files.pdf.read_bytes()[:5] == b"%PDF-"
    text = pdf_text(files.pdf)
    for phrase in ("BÁO CÁO KẾT QUẢ ĐO KIỂM / TEST REPORT", "Kết luận / Conclusion",
                   "Đạt / PASS", "Không đạt / FAIL", "Kết quả đánh giá", "Khoảng tin cậy 95 %",
                   "Người phê duyệt / Approved by", "Kiểm tra nhanh",
                   "tác giả kịch bản / scenario author", "§2.1.5.2", "Số sê-ri / Serial"):
        assert phrase in text, phrase
    fonts = pdf_fonts(files.pdf)
    assert fonts and all(emb == "yes" for _, emb in fonts), fonts
    assert any("DejaVu" in name for name, _ in fonts), fonts


def test_pdf_in_one_language(tmp_path: Path) -> None:
    en = pdf_text(write_report(tmp_path / "en", dossier_summary(), [], lang="en",
                               pdf=True).pdf or Path("missing"))
    vi = pdf_text(write_report(tmp_path / "vi", dossier_summary(), [], lang="vi",
                               pdf=True).pdf or Path("missing"))
    assert "TEST REPORT" in en and "Approved by" in en and "Kết luận" not in en
    assert "BÁO CÁO KẾT QUẢ ĐO KIỂM" in vi and "Không đạt" in vi and "Đạt" in vi
    assert "TEST REPORT" not in vi and "Approved by" not in vi


@pytest.fixture
def all_kinds(every_kind_run: tuple[Path, dict[str, Any], Path]) -> tuple[Path, dict[str, Any],
                                                                          Path]:
    """(run directory, summary, reports directory) of the shared run with every trial kind."""
    return every_kind_run


@pytest.mark.e2e
def test_run_with_every_kind_writes_html_and_pdf(all_kinds: Any) -> None:
    run_dir, summary, _ = all_kinds
    assert sorted({t["kind"] for t in summary["trials"]}) == sorted(KINDS)
    assert summary["scenario"]["description"].startswith("One short trial of every kind")
    assert summary["scenario"]["references"][1] == "IETF RFC 2544 §26.1"
    upgrade = next(t for t in summary["trials"] if t["kind"] == "firmware_upgrade")
    assert upgrade["facts_before"]["gnb1"]["firmware"] == "1.0.0"
    assert upgrade["facts_after"]["gnb1"]["firmware"] == "2.0.0"
    text = pdf_text(run_dir / "report.pdf")
    for trial in summary["trials"]:
        assert trial["id"] in text, trial["id"]
    methodology = text.split("Phương pháp đo và điều kiện đo")[1].split("Chi tiết các phép đo")[0]
    for kind in KINDS:
        assert kind in methodology, kind
    assert "One short trial of every kind" in text and "IETF RFC 2544 §26.1" in text
    assert "Trước / Before: 1.0.0" in text and "Sau / After: 2.0.0" in text
    assert "Người thực hiện đo kiểm / Tested by" in text
    # every criterion row cites something: a standard, the built-in acceptance or the author
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert '<td class="source">—</td>' not in html
    assert f"scenario SHA-256 {summary['scenario']['sha256']}" in html
    # the appendix lists the raw tool output with its hash
    raw = sorted(p for p in (run_dir / "raw").iterdir() if p.name.endswith(".iperf3.json"))[0]
    assert hashlib.sha256(raw.read_bytes()).hexdigest() in html


@pytest.mark.e2e
def test_harness_report_rerenders_from_the_stored_run_alone(all_kinds: Any,
                                                            tmp_path: Path) -> None:
    run_dir, summary, _ = all_kinds
    before = _tree_hashes(run_dir)
    for lang in ("en", "vi"):
        out = tmp_path / lang
        proc = run_harness("report", str(run_dir), "--lang", lang, "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [str(out / "report.html"), str(out / "report.pdf")]
        assert _tree_hashes(run_dir) == before  # nothing of the run changed, samples included
    en, vi = pdf_text(tmp_path / "en" / "report.pdf"), pdf_text(tmp_path / "vi" / "report.pdf")
    assert "TEST REPORT" in en and "Results per criterion" in en and "Kết luận" not in en
    assert "BÁO CÁO KẾT QUẢ ĐO KIỂM" in vi and "Kết quả theo từng chỉ tiêu" in vi
    assert "TEST REPORT" not in vi and "Results per criterion" not in vi
    assert summary["run_id"] in en and summary["run_id"] in vi
    # the plots came from samples.sqlite: the same figures as the run drew
    assert sorted(p.name for p in (tmp_path / "en" / "plots").iterdir()) == sorted(
        p.name for p in (run_dir / "plots").iterdir())
    html = (tmp_path / "vi" / "report.html").read_text(encoding="utf-8")
    assert '<html lang="vi">' in html
    # the appendix lists the run's evidence (not the --out directory's)
    assert hashlib.sha256((run_dir / "summary.json").read_bytes()).hexdigest() in html


@pytest.mark.e2e
def test_harness_report_never_rewrites_a_signed_run(all_kinds: Any) -> None:
    run_dir, _, _ = all_kinds
    before = _tree_hashes(run_dir)
    proc = run_harness("report", str(run_dir), "--lang", "en", "--no-pdf")
    assert proc.returncode == 2, proc.stderr
    assert "is signed (manifest.json)" in proc.stderr and "--out" in proc.stderr
    assert _tree_hashes(run_dir) == before
    assert run_harness("verify", str(run_dir)).returncode == 0


@pytest.mark.e2e
def test_harness_report_in_place_keeps_samples_untouched(all_kinds: Any,
                                                          tmp_path: Path) -> None:
    signed, _, _ = all_kinds
    run_dir = tmp_path / signed.name  # an unsigned copy: only those are re-rendered in place
    shutil.copytree(signed, run_dir)
    for name in ("manifest.json", "manifest.sig", "manifest.pub"):
        (run_dir / name).unlink()
    samples = hashlib.sha256((run_dir / "samples.sqlite").read_bytes()).hexdigest()
    proc = run_harness("report", str(run_dir), "--lang", "en", "--no-pdf")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(run_dir / "report.html")]
    assert hashlib.sha256((run_dir / "samples.sqlite").read_bytes()).hexdigest() == samples
    assert not any(p.name.startswith("samples.sqlite-") for p in run_dir.iterdir())
    assert '<html lang="en">' in (run_dir / "report.html").read_text(encoding="utf-8")


@pytest.mark.e2e
def test_catalog_finds_the_upgrade_run_by_its_new_firmware(all_kinds: Any) -> None:
    _, summary, reports = all_kinds
    proc = run_harness("runs", "--out", str(reports), "--firmware", "2.0.0", "--json")
    assert proc.returncode == 0, proc.stderr
    (found,) = json.loads(proc.stdout)
    assert found["run_id"] == summary["run_id"]
    assert found["firmware"]["gnb1"] == "1.0.0" and found["firmware_after"]["gnb1"] == "2.0.0"


def test_harness_report_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    proc = run_harness("report", str(tmp_path))
    assert proc.returncode == 2 and "no summary.json there" in proc.stderr
    (tmp_path / "summary.json").write_text(json.dumps(
        {"format_version": 99, "run_id": "r", "trials": []}), encoding="utf-8")
    proc = run_harness("report", str(tmp_path))
    assert proc.returncode == 2 and "newer ran-harness" in proc.stderr
    assert "upgrade ran-harness" in proc.stderr


@pytest.mark.e2e
def test_harness_run_writes_the_report_in_the_language_asked(tmp_path: Path) -> None:
    require_tool("iperf3")
    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        "name: short\ntitle: {vi: Ngắn, en: Short}\ndefaults: {duration: 2s, repetitions: 1}\n"
        "trials:\n"
        "  - {id: t, kind: throughput, ue: ue1, dn: dn1, via: gnb1, direction: dl,\n"
        "     min_samples: 1, criteria: ['throughput.max >= 1 Mbit/s']}\n", encoding="utf-8")
    proc = run_harness("run", str(scenario), "--lab", "lab.yaml", "--out", str(tmp_path / "out"),
                       "--quiet", "--lang", "en", "--no-pdf")
    assert proc.stdout.strip(), proc.stderr
    run_dir, _ = load_run(proc.stdout)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "Results per criterion" in html
    assert "Kết quả theo từng chỉ tiêu" not in html
    assert not (run_dir / "report.pdf").exists()
