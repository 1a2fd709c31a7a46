"""The report's verdict-rules appendix in the report's language (vi, en or both), and the
Vietnamese rules kept in step with the English table docs/verdicts.md is generated from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.report import verdict_rules, verdict_rules_vi, write_report
from tests.test_report import _TextAndImages, make_summary
from tests.test_report_pdf import pdf_text

#: Letters only Vietnamese uses among the report's texts (English has none of them).
_VIETNAMESE = re.compile("[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợ"
                         "ùúủũụừứửữựỳýỷỹỵ]")


def _sentences(lang: str) -> list[str]:
    """Every rule sentence (common and per kind) in one language, whitespace-normalised."""
    rules = [verdict_rules_vi.common(lang)]
    texts: list[str] = []
    for name in verdict_rules.KINDS:
        found = verdict_rules_vi.kind(name, lang)
        assert found is not None
        rules.append(found.rules)
        texts += [found.title, found.judged_by, *found.standards]
    texts += [t for group in rules for ts in group.values() for t in ts]
    return [" ".join(t.replace("`", "").split()) for t in texts]


def _appendix(tmp_path: Path, lang: str) -> str:
    summary = make_summary()
    for kind, trial in zip(("throughput", "y1564", "firmware_upgrade"), summary["trials"],
                           strict=False):
        trial["kind"] = kind  # three kinds' rules in the appendix
    files = write_report(tmp_path / lang, summary, [], lang=lang)  # type: ignore[arg-type]
    parser = _TextAndImages()
    parser.feed(files.html.read_text(encoding="utf-8"))
    text = " ".join(" ".join(parser.text).split())
    marker = {"vi": "Quy tắc đánh giá kết quả", "en": "Verdict rules",
              "both": "Quy tắc đánh giá kết quả / Verdict rules"}[lang]
    return text[text.rindex(marker):]


def test_every_english_rule_has_a_vietnamese_text_in_the_same_place() -> None:
    pairs = [(verdict_rules.COMMON, verdict_rules_vi.COMMON_VI)]
    assert set(verdict_rules_vi.KINDS_VI) == set(verdict_rules.KINDS)
    pairs += [(verdict_rules.KINDS[k].rules, verdict_rules_vi.KINDS_VI[k].rules)
              for k in verdict_rules.KINDS]
    for en, vi in pairs:
        assert list(en) == list(vi)
        for verdict in en:
            assert len(en[verdict]) == len(vi[verdict]), verdict
            assert all(_VIETNAMESE.search(t) for t in vi[verdict]), vi[verdict]
    for name, kind in verdict_rules.KINDS.items():
        assert len(kind.standards) == len(verdict_rules_vi.KINDS_VI[name].standards), name


def test_a_vietnamese_appendix_has_no_english_rule_sentence(tmp_path: Path) -> None:
    appendix = _appendix(tmp_path, "vi")
    english = [s for s in _sentences("en") if len(s) > 25 and s in appendix]
    assert not english, english  # the old appendix showed every rule in English only
    assert "Judged by" not in appendix and "Đánh giá theo" in appendix
    assert "mọi chỉ tiêu của phép đo và mọi tiêu chí chấp nhận tích hợp" in appendix
    assert "một dịch vụ không đạt tiêu chí chấp nhận ở một bước bất kỳ" in appendix  # y1564
    assert "thiết bị không hoạt động trở lại" in appendix  # firmware_upgrade


def test_an_english_appendix_has_no_vietnamese(tmp_path: Path) -> None:
    appendix = _appendix(tmp_path, "en")
    assert not _VIETNAMESE.search(appendix), _VIETNAMESE.findall(appendix)[:10]
    assert "a criterion is FAIL: the observed value does not meet the threshold" in appendix


def test_a_bilingual_appendix_has_both_texts(tmp_path: Path) -> None:
    appendix = _appendix(tmp_path, "both")
    assert "một chỉ tiêu Không đạt: giá trị đo không đạt ngưỡng" in appendix
    assert "a criterion is FAIL: the observed value does not meet the threshold" in appendix
    assert "Judged by" in appendix and "its criteria only" in appendix


@pytest.mark.parametrize("lang", ["vi", "both"])
def test_pdf_text_has_a_vietnamese_rule_sentence(tmp_path: Path, lang: str) -> None:
    files = write_report(tmp_path / lang, make_summary(), [], lang=lang,  # type: ignore[arg-type]
                         pdf=True)
    assert files.pdf is not None
    text = " ".join(pdf_text(files.pdf).split())
    assert ("khoảng tin cậy 95 % của một chỉ tiêu chứa ngưỡng của nó; khoảng tin cậy được mang "
            "theo qua các phép tính của chỉ tiêu") in text
