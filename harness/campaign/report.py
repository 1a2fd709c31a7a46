"""`harness campaign report`: one bilingual HTML (and PDF) report of a campaign, built from
the verified run directories of its archive (`collect.py`), plus `campaign.json` with the
same figures for machines.

What it shows: the campaign's verdict and why; per bench its site tags, runs and verdict
counts; per criterion its pass rate across runs with the 95 % Wilson interval (always the
interval and the count beside the rate: 3 of 3 passing reads `100 % (95 % CI 43.8-100 %,
3/3)`, never a bare 100 %); every counted run linked to its own signed report; the planned
runs with no verified directory; the directories excluded and why.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jinja2

from harness import __version__
from harness.base import jsonio
from harness.base.verdict import Verdict
from harness.campaign.collect import CampaignTally, CriterionRate
from harness.report.formatting import format_time
from harness.report.i18n import Lang, Translator

__all__ = ["TEXT", "CampaignFiles", "rate_text", "write_campaign_report"]

TEXT: Mapping[str, tuple[str, str]] = MappingProxyType({
    "title": ("Báo cáo chiến dịch đo kiểm", "Campaign report"),
    "conclusion": ("Kết luận", "Conclusion"),
    "campaign": ("Chiến dịch", "Campaign"),
    "archive": ("Kho lưu trữ", "Archive"),
    "generated": ("Lập lúc", "Generated"),
    "counted": ("Số lần chạy được tính", "Runs counted"),
    "planned": ("Số lần chạy theo kế hoạch", "Runs planned"),
    "section.sites": ("Theo phòng đo", "By bench"),
    "section.criteria": ("Tỷ lệ đạt theo chỉ tiêu", "Pass rate per criterion"),
    "section.runs": ("Các lần chạy được tính", "Runs counted"),
    "section.missing": ("Các lần chạy còn thiếu", "Runs missing"),
    "section.excluded": ("Thư mục bị loại", "Directories excluded"),
    "bench": ("Phòng đo", "Bench"),
    "site": ("Địa điểm", "Site tags"),
    "runs": ("Số lần chạy", "Runs"),
    "verdicts": ("Kết quả", "Verdicts"),
    "scenario": ("Kịch bản", "Scenario"),
    "trial": ("Phép đo", "Trial"),
    "criterion": ("Chỉ tiêu", "Criterion"),
    "rate": ("Tỷ lệ đạt (khoảng tin cậy 95 % Wilson)", "Pass rate (95 % Wilson interval)"),
    "passed": ("Đạt / số lần", "Passed / runs"),
    "run_id": ("Mã lần chạy", "Run ID"),
    "planned_id": ("Mã theo kế hoạch", "Planned ID"),
    "started": ("Bắt đầu", "Started"),
    "verdict": ("Kết quả", "Verdict"),
    "report": ("Báo cáo", "Report"),
    "signer": ("Khóa ký", "Signed by"),
    "target": ("Phòng đo hoặc thẻ", "Bench or tags"),
    "repetition": ("Lần lặp", "Repetition"),
    "directory": ("Thư mục", "Directory"),
    "reason": ("Lý do", "Reason"),
    "none": ("Không có", "None"),
    "extra": ("ngoài số lần lặp yêu cầu", "beyond the repetitions asked"),
    "rate.method": (
        "Mỗi lần chạy tính một lần, với kết quả xấu nhất của chỉ tiêu qua các lần lặp; "
        "INCONCLUSIVE và ERROR tính là không đạt.",
        "Each run counts once, with the criterion's worst verdict over its repetitions; "
        "INCONCLUSIVE and ERROR count as not passed."),
    "why.fail": ("Có lần chạy không đạt.", "A counted run failed."),
    "why.error": ("Có lần chạy lỗi.", "A counted run ended in ERROR."),
    "why.missing": ("Còn lần chạy theo kế hoạch chưa có thư mục đã xác thực.",
                    "Planned runs have no verified run directory."),
    "why.excluded": ("Có thư mục không xác thực được chữ ký.",
                     "A run directory failed signature verification."),
    "why.inconclusive": ("Có lần chạy chưa đủ cơ sở kết luận.", "A counted run is "
                         "inconclusive."),
    "why.empty": ("Không có lần chạy nào được tính.", "No run counted."),
    "why.pass": ("Mọi lần chạy theo kế hoạch đã xác thực và đạt.",
                 "Every planned run is verified and passed."),
})


@dataclass(frozen=True)
class CampaignFiles:
    """What was written: the HTML, campaign.json, and the PDF (None when not asked for or
    not possible: `pdf_error` says why)."""

    html: Path
    json: Path
    pdf: Path | None = None
    pdf_error: str | None = None


def _pct(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def rate_text(rate: CriterionRate) -> str:
    """`66.7 % (95 % CI 20.7-93.9 %, 2/3)`: the rate never without its interval (rounded
    outwards to 0.1 %) and count."""
    if rate.rate is None or rate.interval is None:
        return f"- (0/{rate.n})"
    low, high = rate.interval  # rounded outwards: the shown interval holds the computed one
    low, high = math.floor(low * 10 + 1e-9) / 10, math.ceil(high * 10 - 1e-9) / 10
    return (f"{_pct(rate.rate)} % (95 % CI {_pct(low)}-{_pct(high)} %, "
            f"{rate.passed}/{rate.n})")


def _reasons(tally: CampaignTally) -> list[str]:
    verdicts = {r.verdict for r in tally.included}
    out = []
    if Verdict.FAIL in verdicts:
        out.append("why.fail")
    if Verdict.ERROR in verdicts:
        out.append("why.error")
    if tally.missing:
        out.append("why.missing")
    if any(e.integrity for e in tally.excluded):
        out.append("why.excluded")
    if Verdict.INCONCLUSIVE in verdicts:
        out.append("why.inconclusive")
    if not tally.included:
        out.append("why.empty")
    return out or ["why.pass"]


def _link(target: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(target.absolute(), out_dir.absolute())).as_posix()


def campaign_data(tally: CampaignTally) -> dict[str, Any]:
    """campaign.json: the report's figures, for machines."""
    camp = tally.campaign
    return {
        "campaign": camp.spec.name, "verdict": tally.verdict.value,
        "harness_version": __version__,
        "planned": len(camp.planned()), "counted": len(tally.included),
        "sites": [{"bench": s.bench, "site": s.site, "runs": s.runs, "verdicts": s.verdicts}
                  for s in tally.sites],
        "criteria": [{"scenario": c.scenario, "trial": c.trial, "expr": c.expr,
                      "passed": c.passed, "n": c.n, "verdicts": c.verdicts,
                      "rate_percent": c.rate, "wilson95_percent": list(c.interval)
                      if c.interval else None} for c in tally.criteria],
        "runs": [{"run_id": r.summary.run_id, "planned_id": r.planned.run_id if r.planned
                  else None, "bench": r.bench, "verdict": r.verdict.value,
                  "run_dir": str(r.run_dir), "signer": r.signer} for r in tally.included],
        "missing": [{"planned_id": m.run_id, "entry": m.entry, "repetition": m.repetition}
                    for m in tally.missing],
        "excluded": [{"run_dir": str(e.run_dir), "reason": e.reason,
                      "integrity": e.integrity} for e in tally.excluded],
    }


def render_campaign(tally: CampaignTally, out_dir: Path, lang: Lang = "both") -> str:
    """The campaign report as one HTML document (inline CSS, no script)."""
    tr = Translator(lang)
    camp = tally.campaign
    title = camp.spec.title
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
            jinja2.FileSystemLoader(Path(__file__).parent.parent / "report" / "templates")]),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True)
    runs = [{"run": r, "link": _link(r.run_dir / "report.html", out_dir),
             "started": format_time(r.summary.started),
             "scenario": r.summary.scenario.name if r.summary.scenario else "?",
             "verdict": tr.verdict(r.verdict), "code": r.verdict.value.lower()}
            for r in tally.included]
    return env.get_template("campaign.html.j2").render(
        t=lambda key: tr.pair(*TEXT[key]), tr=tr, lang=lang, html_lang=tr.html_lang,
        title_vi=title.vi, title_en=title.en, name=camp.spec.name,
        verdict=tr.verdict(tally.verdict), code=tally.verdict.value.lower(),
        reasons=[tr.pair(*TEXT[k]) for k in _reasons(tally)],
        archive=str(camp.archive), planned=len(camp.planned()), counted=len(tally.included),
        generated=format_time(_now()), version=__version__, sites=tally.sites,
        verdict_label=lambda v: tr.verdict(Verdict(v)),
        criteria=[{"c": c, "text": rate_text(c)} for c in tally.criteria],
        runs=runs, missing=[{"m": m, "target": camp.target(m.entry),
                             "scenario": camp.spec.runs[m.entry].scenario}
                            for m in tally.missing],
        excluded=[{"dir": str(e.run_dir), "reason": e.reason} for e in tally.excluded])


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def write_campaign_report(tally: CampaignTally, out_dir: Path, *, lang: Lang = "both",
                          pdf: bool = False) -> CampaignFiles:
    """Write campaign.html, campaign.json and (when `pdf`) campaign.pdf into `out_dir`."""
    from harness.report.pdf import PdfUnavailable, write_pdf

    out_dir.mkdir(parents=True, exist_ok=True)
    html = render_campaign(tally, out_dir, lang)
    html_path = out_dir / "campaign.html"
    html_path.write_text(html, encoding="utf-8")
    json_path = out_dir / "campaign.json"
    json_path.write_text(jsonio.dumps(campaign_data(tally), what="campaign.json", indent=2,
                                      ensure_ascii=False) + "\n", encoding="utf-8")
    pdf_path: Path | None = None
    pdf_error: str | None = None
    if pdf:
        try:
            pdf_path = write_pdf(html, out_dir / "campaign.pdf", out_dir)
        except PdfUnavailable as exc:
            pdf_error = str(exc)
    return CampaignFiles(html_path, json_path, pdf_path, pdf_error)
