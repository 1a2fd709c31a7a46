"""report.html in headless Chromium at 1280 px: a screenshot that is not blank, and a verdict
table that fits the window (no cell whose content overflows it, no source column squeezed to a
word per line), measured in the browser itself."""

from __future__ import annotations

import html as html_lib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image as mpimg

from harness.report import write_report
from tests.conftest import require_tool
from tests.test_report_dossier import dossier_summary

WIDTH = 1280
# Measures the verdict table after layout and leaves the figures in the DOM for --dump-dom.
PROBE = """<script>
(function () {
  const table = document.querySelector("table.verdicts");
  const box = table.getBoundingClientRect();
  const overflowing = [];
  for (const cell of table.querySelectorAll("td, th")) {
    if (cell.scrollWidth > cell.clientWidth + 1) overflowing.push(cell.textContent.trim());
  }
  const heads = table.querySelectorAll("thead th");
  document.body.setAttribute("data-probe", JSON.stringify({
    window: window.innerWidth, tableRight: box.right, tableWidth: box.width,
    documentWidth: document.documentElement.scrollWidth, overflowing: overflowing,
    sourceWidth: heads[heads.length - 1].getBoundingClientRect().width}));
})();
</script>"""

LONG_EXPR = "throughput.mean>=0.6*peak(gnb1)*tdd_share_of_the_cell_as_configured_in_the_lab"


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("chromium")
    return subprocess.run([tool, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", f"--window-size={WIDTH},2000", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def _report(tmp_path: Path) -> Path:
    summary = dossier_summary()
    trial = summary["trials"][1]
    trial["criteria"].append({
        "expr": LONG_EXPR, "observed": {"value": 512.5, "unit": "Mbit/s"},
        "threshold": {"value": 1041.8, "unit": "Mbit/s"}, "verdict": "FAIL",
        "source": "QCVN 126:2021/BTTTT, average download speed ≥ 100 Mbit/s; unit of sampling "
                  "here: the whole iperf3 session's goodput (QCVN 126 averages ≥ 1,500 file "
                  "transfers to a test server)",
        "detail": "512.5 Mbit/s vs 1041.8 Mbit/s"})
    return write_report(tmp_path / "run", summary, []).html


def probe(report: Path) -> dict[str, Any]:
    """The verdict table's figures as Chromium laid it out at 1280 px."""
    page = report.with_name("probe.html")
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                    encoding="utf-8")
    proc = _chromium("--dump-dom", page.as_uri())
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(html_lib.unescape(found.group(1)))
    return result


def test_verdict_table_fits_1280_px(tmp_path: Path) -> None:
    figures = probe(_report(tmp_path))
    assert figures["window"] == WIDTH
    assert figures["tableRight"] <= figures["window"], figures
    assert figures["documentWidth"] <= figures["window"], figures  # no horizontal scroll
    assert figures["overflowing"] == [], figures
    # the standard-and-clause column has room for a phrase a line, not a word a line
    assert figures["sourceWidth"] >= 200, figures
    assert figures["tableWidth"] >= 1000, figures  # the table uses the width it is given


def test_screenshot_is_not_blank(tmp_path: Path) -> None:
    report = _report(tmp_path)
    shot = tmp_path / "shot.png"
    proc = _chromium(f"--screenshot={shot}", report.as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    pixels = np.asarray(mpimg.imread(shot))[..., :3]
    assert pixels.shape[:2] == (2000, WIDTH)
    ink = (pixels < 0.9).any(axis=-1).mean()  # share of pixels that are not (near) white
    colours = len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert ink > 0.03, ink
    assert colours > 50, colours  # text, badges and the verdict banner, not a flat page


@pytest.mark.parametrize("css", ["table td, table th, code { overflow-wrap: anywhere; }"])
def test_the_probe_catches_an_overflowing_cell(tmp_path: Path, css: str) -> None:
    """The fit check can fail: without the screen rule that breaks long words, the long
    expression overflows its cell and the probe names it."""
    report = _report(tmp_path)
    text = report.read_text(encoding="utf-8")
    assert css in text
    report.write_text(text.replace(css, ""), encoding="utf-8")
    figures = probe(report)
    assert any(LONG_EXPR in cell for cell in figures["overflowing"]), figures
