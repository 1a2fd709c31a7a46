"""The `.snmprec` and transcript formats: what we write reads back the same, and every
malformed line is a ConfigError naming file:line (exit 2 material)."""

from __future__ import annotations

import pytest

from harness.base.errors import ConfigError
from harness.base.snmprec import format_record, parse_snmprec
from harness.base.transcript import Transcript, format_transcript, parse_transcript


def test_records_round_trip_with_snmpsim_tags() -> None:
    lines = [
        format_record("1.3.6.1.2.1.1.1.0", 4, "SimGNB-1 gNodeB, software 1.0.0"),
        format_record("1.3.6.1.2.1.1.2.0", 6, "1.3.6.1.4.1.32473.1.1.1"),
        format_record("1.3.6.1.2.1.1.3.0", 67, 4242),
        format_record("1.3.6.1.2.1.2.2.1.6.2", 4, b"\x00\x1a\x2b\x3c\x4d\x5e"),  # a MAC
        format_record("1.3.6.1.2.1.2.2.1.10.2", 65, 2**32 - 1),
        format_record("1.3.6.1.2.1.2.2.1.5.2", 66, 10**9),
        format_record("1.3.6.1.2.1.4.20.1.1.10.0.0.1", 64, "10.0.0.1"),
        format_record("1.3.6.1.2.1.31.1.1.1.6.2", 70, 2**64 - 1),
        format_record("1.3.6.1.2.1.2.2.1.7.2", 2, -5),
        format_record("1.3.6.1.2.1.1.4.0", 4, " padded "),  # snmpsim strips lines: hex
        format_record("1.3.6.1.2.1.1.5.0", 4, "héllo"),  # non-ASCII: hex
    ]
    assert lines[3] == "1.3.6.1.2.1.2.2.1.6.2|4x|001a2b3c4d5e"
    assert lines[2] == "1.3.6.1.2.1.1.3.0|67|4242"
    assert lines[9].startswith("1.3.6.1.2.1.1.4.0|4x|")
    records = {r.oid: r for r in parse_snmprec("\n".join(reversed(lines)).encode(), "x")}
    by_text = {".".join(map(str, oid)): (r.tag, r.value) for oid, r in records.items()}
    assert by_text["1.3.6.1.2.1.2.2.1.6.2"] == (4, b"\x00\x1a\x2b\x3c\x4d\x5e")
    assert by_text["1.3.6.1.2.1.1.1.0"] == (4, b"SimGNB-1 gNodeB, software 1.0.0")
    assert by_text["1.3.6.1.2.1.1.4.0"] == (4, b" padded ")
    assert by_text["1.3.6.1.2.1.1.5.0"] == (4, "héllo".encode())
    assert by_text["1.3.6.1.2.1.31.1.1.1.6.2"] == (70, 2**64 - 1)
    assert by_text["1.3.6.1.2.1.2.2.1.7.2"] == (2, -5)
    assert by_text["1.3.6.1.2.1.4.20.1.1.10.0.0.1"] == (64, "10.0.0.1")
    assert list(records) == sorted(records)


def test_an_ip_address_as_its_four_octets_reads_as_snmpsim_reads_it() -> None:
    # snmpsim's own walks of real devices write some IpAddress values as the 4 raw octets
    # (linux-full-walk.snmprec: 'J}M}' is 74.125.77.125); fails on the old code ("not a.b.c.d")
    [record] = parse_snmprec(b"1.3.6.1.2.1.4.21.1.1.74.125.77.125|64|J}M}\n", "x")
    assert record.value == "74.125.77.125"


@pytest.mark.parametrize(("line", "message"), [
    ("1.3.6.1.2.1.1.1.0|4", "expected OID|TAG|VALUE"),
    ("1.3.6.x.1|4|a", "not a dotted numeric OID"),
    ("1.3.6.1.2.1.1.1.0|99|a", "unknown tag 99"),
    ("1.3.6.1.2.1.1.1.0|2:numeric|rate=1", "variation modules"),
    ("1.3.6.1.2.1.1.3.0|67|-1", "outside 0..4294967295"),
    ("1.3.6.1.2.1.1.3.0|65|ten", "not a whole number"),
    ("1.3.6.1.2.1.1.1.0|4x|abc", "not hex"),
    ("1.3.6.1.2.1.1.1.0|64|10.0.0.300", "not a.b.c.d"),
    ("1.3.6.1.2.1.1.2.0|6|iso.3.6", "not a dotted numeric OID"),
    ("1.3.6.1.2.1.1.3.0|67x|00", "only for OCTET STRING"),
    ("1.3.6.1.2.1.1.5.0|4|again", "recorded twice (first on line 2)"),
])
def test_malformed_snmprec_lines_name_file_and_line(line: str, message: str) -> None:
    text = "# a comment\n1.3.6.1.2.1.1.5.0|4|gnb1\n\n" + line + "\n"
    with pytest.raises(ConfigError) as err:
        parse_snmprec(text.encode(), "rec/gnb1.snmprec")
    assert str(err.value).startswith("rec/gnb1.snmprec:4: "), str(err.value)
    assert message in str(err.value)


def test_transcripts_round_trip_verbatim() -> None:
    t = Transcript("show version", "cli", 0, "Software version : 1.0.0\n---\n\nend\n")
    assert parse_transcript(format_transcript(t), "t.txt") == t


@pytest.mark.parametrize(("text", "line", "message"), [
    ("command: show version\nexit: 0\nSoftware 1.0\n", 3, "expected 'command:'"),
    ("command: show version\nmode: exec\n", 3, "no '---' line"),
    ("mode: exec\n---\nout\n", 1, "names no command"),
    ("command: a\nmode: shell\n---\n", 2, "mode 'shell'"),
    ("command: a\nexit: zero\n---\n", 2, "exit 'zero'"),
    ("command: a\ncommand: b\n---\n", 2, "given twice"),
])
def test_malformed_transcripts_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_transcript(text, "rec/cli/01-show.txt")
    assert str(err.value).startswith(f"rec/cli/01-show.txt:{line}: "), str(err.value)
    assert message in str(err.value)
