"""Cell band, NR-ARFCN and transmit power: set over the CLI, validated, served over SNMP."""

from __future__ import annotations

import pytest

from harness.simlab.cli import GnbCli
from harness.simlab.gnb import CellConfig, GnbIdentity, VirtualGnb
from harness.simlab.mib import SIM_CELL_ENTRY, snapshot


@pytest.fixture
def cli() -> GnbCli:
    return GnbCli(VirtualGnb(GnbIdentity("gnb1"), [CellConfig(1)]))


def _cell_column(cli: GnbCli, column: int) -> tuple[str, int | str]:
    return snapshot(cli.gnb)[(*SIM_CELL_ENTRY, column, 1)]


def test_defaults_are_served(cli: GnbCli) -> None:
    assert _cell_column(cli, 21) == ("OctetString", "n78")
    assert _cell_column(cli, 22) == ("Gauge32", 636666)
    assert _cell_column(cli, 23) == ("Integer", 430)  # 43.0 dBm in 0.1 dBm


def test_set_band_arfcn_power(cli: GnbCli) -> None:
    for line in ("set cell 1 band n41", "set cell 1 arfcn 504990", "set cell 1 tx-power 40.5"):
        assert cli(line)[1] == 0, line
    assert _cell_column(cli, 21) == ("OctetString", "n41")
    assert _cell_column(cli, 22) == ("Gauge32", 504990)
    assert _cell_column(cli, 23) == ("Integer", 405)
    shown, status = cli("show cell 1")
    assert status == 0 and "n41" in shown and "504990" in shown and "40.5" in shown


@pytest.mark.parametrize(("line", "message"), [
    ("set cell 1 band x7", "band must read like n78"),
    ("set cell 1 arfcn 99999999", "NR-ARFCN must be"),
    ("set cell 1 tx-power 99", "transmit power must be"),
    ("set cell 1 tx-power hot", "Invalid"),
])
def test_bad_values_refused_state_kept(cli: GnbCli, line: str, message: str) -> None:
    output, status = cli(line)
    assert status == 1 and output.startswith("% ") and message in output
    assert cli.gnb.cells[1].config.band == "n78"
    assert cli.gnb.cells[1].config.tx_power_dbm == 43.0
