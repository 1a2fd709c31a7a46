"""TS 38.306 §4.1.2 peak-rate arithmetic and TDD shares (numbers from DOMAIN.md)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.base.errors import ConfigError
from harness.base.nr_peak import Carrier, n_prb, tdd_share
from harness.cli import cli


def test_worked_example_100mhz_30khz_4layers_256qam_dl() -> None:
    carrier = Carrier(bandwidth_mhz=100, scs_khz=30, layers=4, modulation="256qam")
    assert n_prb(100, 30) == 273
    assert carrier.peak_mbps() == pytest.approx(2337, abs=1)


@pytest.mark.parametrize(("layers", "modulation", "expected"),
                         [(1, "64qam", 468.8), (2, "256qam", 1250.0)])
def test_uplink_same_carrier(layers: int, modulation: str, expected: float) -> None:
    carrier = Carrier(100, 30, layers, modulation, direction="ul")
    assert carrier.peak_mbps() == pytest.approx(expected, abs=1)


def test_dddsu_shares() -> None:
    assert tdd_share("DDDSU", "10:2:2", "dl") == pytest.approx(0.743, abs=0.0005)
    assert tdd_share("DDDSU", "10:2:2", "ul") == pytest.approx(0.229, abs=0.0005)
    assert tdd_share("DDDDDDDSUU", "6:4:4", "dl") == pytest.approx(0.743, abs=0.0005)
    assert tdd_share("FDD", None, "dl") == 1.0


def test_dddsu_peak_is_1736() -> None:
    rate = Carrier(100, 30, 4, "256qam").peak_mbps() * tdd_share("DDDSU", "10:2:2", "dl")
    assert rate == pytest.approx(1736, abs=1)


@pytest.mark.parametrize(("bandwidth", "prbs"), [(20, 51), (50, 133), (40, 106)])
def test_prb_table(bandwidth: int, prbs: int) -> None:
    assert n_prb(bandwidth, 30) == prbs


def test_peak_scales_with_prbs() -> None:
    full = Carrier(100, 30, 4, "256qam").peak_mbps()
    assert Carrier(20, 30, 4, "256qam").peak_mbps() == pytest.approx(full * 51 / 273)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bandwidth_mhz": 33, "scs_khz": 30}, "33 MHz is not a channel bandwidth"),
        ({"bandwidth_mhz": 100, "scs_khz": 15}, "100 MHz is not a channel bandwidth"),
        ({"bandwidth_mhz": 100, "scs_khz": 45}, "SCS 45 kHz"),
    ],
)
def test_bad_carrier(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Carrier(layers=2, modulation="64qam", **kwargs).peak_mbps()


def test_bad_special_slot() -> None:
    with pytest.raises(ConfigError, match="add up to 14"):
        tdd_share("DDDSU", "10:2:3", "dl")
    with pytest.raises(ConfigError, match="give its split"):
        tdd_share("DDDSU", None, "dl")


def test_cli_peak_json() -> None:
    result = CliRunner().invoke(cli, ["peak", "--bandwidth", "100", "--scs", "30", "--layers", "4",
                                      "--modulation", "256qam", "--tdd", "DDDSU", "--special",
                                      "10:2:2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["peak_mbps"] == pytest.approx(2337, abs=1)
    assert data["n_prb"] == 273
    assert data["tdd_share"] == pytest.approx(0.743, abs=0.0005)
    assert data["tdd_peak_mbps"] == pytest.approx(1736, abs=1)


def test_cli_peak_text_and_bad_bandwidth() -> None:
    ok = CliRunner().invoke(cli, ["peak", "--bandwidth", "20", "--scs", "30", "--layers", "1",
                                  "--modulation", "64qam", "--direction", "ul"])
    assert ok.exit_code == 0
    assert "Mbit/s" in ok.output and "51 PRB" in ok.output
    bad = CliRunner().invoke(cli, ["peak", "--bandwidth", "33", "--scs", "30", "--layers", "1",
                                   "--modulation", "64qam"])
    assert bad.exit_code == 2
    assert "33 MHz is not a channel bandwidth" in bad.output
    assert "Traceback" not in bad.output
