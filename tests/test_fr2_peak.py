"""FR2 cells (n257/n258/n260/n261…, 120 kHz) are judged against their own TS 38.306 peak:
FR2 PRB table and overhead (0.18 DL / 0.10 UL), not FR1's (0.14 / 0.08)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.base.errors import ConfigError
from harness.base.loader import load_model
from harness.base.nr_peak import Carrier, frequency_range, tdd_share
from harness.config.lab import Lab
from harness.engine.bench import open_bench
from harness.engine.trial import cell_peak, peak_of_config
from tests.runner_helpers import FAST_LAB


@pytest.mark.parametrize(("band", "scs", "fr"), [
    ("n258", 120, 2), ("n257", 60, 2), ("n261", 120, 2), ("n260", 120, 2), ("n78", 30, 1),
    ("n41", 30, 1), (None, 120, 2), (None, 30, 1), ("N258", 120, 2)])
def test_frequency_range_from_band_or_scs(band: str | None, scs: int, fr: int) -> None:
    assert frequency_range(band, scs) == fr


def test_fr1_band_at_fr2_scs_is_an_error() -> None:
    with pytest.raises(ConfigError, match="n78 is FR1, but 120 kHz"):
        frequency_range("n78", 120)


FR2_CELL = {"bandwidth_mhz": 100, "scs_khz": 120, "band": "n258", "tdd": "DDDSU",
            "special": "10:2:2", "layers_dl": 2, "layers_ul": 1, "modulation_dl": "64qam",
            "modulation_ul": "64qam"}


def test_fr2_peak_uses_fr2_prbs_and_overhead() -> None:
    # 66 PRB at 100 MHz/120 kHz; 2 × 6 × 948/1024 × 66·12 / (1 ms / 112) × (1 − 0.18)
    dl = 2 * 6 * 948 / 1024 * 66 * 12 * 112_000 * 0.82 / 1e6
    ul = 1 * 6 * 948 / 1024 * 66 * 12 * 112_000 * 0.90 / 1e6
    assert peak_of_config(FR2_CELL, "dl").value == pytest.approx(
        dl * tdd_share("DDDSU", "10:2:2", "dl"), rel=1e-6)
    assert peak_of_config(FR2_CELL, "ul").value == pytest.approx(
        ul * tdd_share("DDDSU", "10:2:2", "ul"), rel=1e-6)
    # without a band, 120 kHz alone says FR2
    no_band = {k: v for k, v in FR2_CELL.items() if k != "band"}
    assert peak_of_config(no_band, "dl") == peak_of_config(FR2_CELL, "dl")
    assert Carrier(100, 120, 2, "64qam", fr=2).peak_mbps() == pytest.approx(dl)


FR2_LAB = FAST_LAB.replace(
    '{id: 1, bandwidth_mhz: 20, scs_khz: 30, tdd: DDDSU, special: "10:2:2",',
    '{id: 1, bandwidth_mhz: 100, scs_khz: 120, band: n258, tdd: DDDSU, special: "10:2:2",')


def _lab(tmp_path: Path, text: str) -> Lab:
    (tmp_path / "lab.yaml").write_text(text, encoding="utf-8")
    return load_model(tmp_path / "lab.yaml", Lab)


def test_simulated_fr2_cell_peak_read_off_the_device(tmp_path: Path) -> None:
    lab = _lab(tmp_path, FR2_LAB)
    assert lab.devices["gnb1"].simulated is not None

    async def go() -> tuple[float, float]:
        bench = await open_bench(lab, tmp_path)
        try:
            return ((await cell_peak(bench, "gnb1", 1, "dl")).value,
                    (await cell_peak(bench, "gnb1", 1, "ul")).value)
        finally:
            await bench.close()

    dl, ul = asyncio.run(go())
    assert dl == pytest.approx(peak_of_config(FR2_CELL, "dl").value, rel=1e-6)
    assert ul == pytest.approx(peak_of_config(FR2_CELL, "ul").value, rel=1e-6)


def test_lab_refuses_an_fr1_band_at_120_khz(tmp_path: Path) -> None:
    bad = FR2_LAB.replace("band: n258", "band: n78")
    with pytest.raises(ConfigError, match="FR2 only"):
        _lab(tmp_path, bad)
