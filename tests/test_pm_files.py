"""TS 32.435 PM files: the parser (drivers/pm_files.py) and `harness pm show`; hostile and
malformed files are clear errors naming file:line, never a traceback and never a value."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from drivers.pm_files import NAMESPACE, PmFileError, parse_pm_bytes, parse_pm_file
from harness.cli.main import cli

GOOD = f"""<?xml version="1.0" encoding="UTF-8"?>
<measCollecFile xmlns="{NAMESPACE}">
  <fileHeader fileFormatVersion="32.435 V10.0" vendorName="Sim">
    <fileSender localDn="ManagedElement=gnb1" elementType="gNB"/>
    <measCollec beginTime="2026-12-07T10:00:00+07:00"/>
  </fileHeader>
  <measData>
    <managedElement localDn="ManagedElement=gnb1"/>
    <measInfo measInfoId="cell">
      <granPeriod duration="PT60S" endTime="2026-12-07T10:01:00+07:00"/>
      <measType p="1">DRB.PdcpSduVolumeDL</measType>
      <measType p="2">DRB.UEThpDl</measType>
      <measValue measObjLdn="ManagedElement=gnb1,GNBDUFunction=1,NRCellDU=1">
        <r p="1">1234</r>
        <r p="2">NIL</r>
        <suspect>true</suspect>
      </measValue>
      <measValue measObjLdn="ManagedElement=gnb1,GNBDUFunction=1,NRCellDU=2,PLMN=452-02">
        <r p="1">5</r>
        <r p="2">2.5</r>
      </measValue>
    </measInfo>
  </measData>
  <fileFooter><measCollec endTime="2026-12-07T10:01:00+07:00"/></fileFooter>
</measCollecFile>
"""
_BODY = GOOD.split("\n", 1)[1]
_LOL = "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))

HOSTILE = {
    "xxe": '<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
           + _BODY.replace("NIL", "&x;"),
    "billion-laughs": f'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">{_LOL}]>\n'
                      + _BODY.replace("NIL", "&j;"),
    "external-dtd": '<?xml version="1.0"?>\n<!DOCTYPE measCollecFile SYSTEM '
                    '"http://example.invalid/x.dtd">\n' + _BODY,
}


def test_counters_with_instance_cell_plmn_granularity_and_suspect() -> None:
    parsed = parse_pm_bytes(GOOD.encode(), "a.xml")
    assert parsed.sender == "ManagedElement=gnb1"
    assert parsed.end is not None and parsed.end.isoformat() == "2026-12-07T10:01:00+07:00"
    got = [(v.counter, v.cell, v.plmn, v.value, v.suspect, v.granularity_s, v.line)
           for v in parsed.values]
    assert got == [("DRB.PdcpSduVolumeDL", 1, None, 1234, True, 60.0, 14),
                   ("DRB.UEThpDl", 1, None, None, True, 60.0, 15),  # NIL is no value, not 0
                   ("DRB.PdcpSduVolumeDL", 2, "452-02", 5, False, 60.0, 19),
                   ("DRB.UEThpDl", 2, "452-02", 2.5, False, 60.0, 20)]


def test_gzip_file_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "A20261207.1000+0700-1001+0700_gnb1.xml.gz"
    path.write_bytes(gzip.compress(GOOD.encode()))
    assert parse_pm_file(path).values == parse_pm_bytes(GOOD.encode(), str(path)).values


def test_older_meastypes_measresults_lists() -> None:
    text = GOOD.replace('<measType p="1">DRB.PdcpSduVolumeDL</measType>\n      '
                        '<measType p="2">DRB.UEThpDl</measType>',
                        "<measTypes>DRB.PdcpSduVolumeDL DRB.UEThpDl</measTypes>")
    text = text.replace('<r p="1">5</r>\n        <r p="2">2.5</r>',
                        "<measResults>5 2.5</measResults>")
    values = parse_pm_bytes(text.encode(), "old.xml").values
    assert [(v.counter, v.value) for v in values[2:]] == [("DRB.PdcpSduVolumeDL", 5),
                                                          ("DRB.UEThpDl", 2.5)]


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_xml_is_refused_before_any_expansion(kind: str) -> None:
    with pytest.raises(PmFileError, match=r"^evil\.xml:2: has a DTD"):
        parse_pm_bytes(HOSTILE[kind].encode(), "evil.xml")


@pytest.mark.parametrize(("data", "expected"), [
    (GOOD.encode()[:900], r"^t\.xml:20: not well-formed XML"),
    (gzip.compress(GOOD.encode())[:200], r"^t\.xml: not a readable gzip file"),
    (GOOD.replace(">2.5<", ">2,5x<").encode(),
     r"^t\.xml:20: DRB\.UEThpDl of .*NRCellDU=2.*: result '2,5x' is not a number"),
    (GOOD.replace("32.435#measCollec", "32.999#x").encode(), r"^t\.xml:2: the root element"),
    (GOOD.replace('duration="PT60S"', 'duration="60"').encode(),
     r"^t\.xml:10: granPeriod duration '60' is not an ISO 8601"),
    (GOOD.replace('<r p="2">2.5</r>', '<r p="3">2.5</r>').encode(),
     r"^t\.xml:20: result p=3 has no measType p=3"),
    (b"", r"^t\.xml:1: not well-formed XML"),
])
def test_malformed_file_is_a_clear_error_with_file_and_line(data: bytes, expected: str) -> None:
    with pytest.raises(PmFileError, match=expected):
        parse_pm_bytes(data, "t.xml")


def test_pm_show_prints_counters_and_json(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    path.write_text(GOOD)
    text = CliRunner().invoke(cli, ["pm", "show", str(path)])
    assert text.exit_code == 0, text.output
    assert "DRB.PdcpSduVolumeDL" in text.output and "suspect" in text.output
    as_json = CliRunner().invoke(cli, ["pm", "show", str(path), "--json"])
    data = json.loads(as_json.output)
    assert [v["value"] for v in data["values"]] == [1234, None, 5, 2.5]
    assert data["values"][2]["plmn"] == "452-02"


@pytest.mark.parametrize("kind", ["xxe", "billion-laughs", "truncated"])
def test_pm_show_bad_file_exits_2_with_file_and_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(GOOD.encode()[:900] if kind == "truncated" else HOSTILE[kind].encode())
    result = CliRunner().invoke(cli, ["pm", "show", str(path)])
    assert result.exit_code == 2
    assert f"{path}:" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
