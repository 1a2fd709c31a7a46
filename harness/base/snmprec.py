"""snmpsim's `.snmprec` recording format: one `OID|TAG|VALUE` line per object.

TAG is the value's BER tag in decimal, as snmpsim's documentation lists them: 2 Integer32,
4 OCTET STRING, 5 NULL, 6 OBJECT IDENTIFIER, 64 IpAddress, 65 Counter32, 66 Gauge32,
67 TimeTicks, 68 Opaque, 70 Counter64. A tag followed by `x` carries its value in hex (binary
OCTET STRINGs, Opaque). snmpsim reads the lines as ISO-8859-1 and strips them, so text with
leading or trailing blanks, control characters or non-ASCII bytes is written in hex. Variation
modules (`2:numeric|…`) are snmpsim's own and are refused here with the line they are on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.base.errors import ConfigError

__all__ = ["TAG_NAMES", "SnmprecRecord", "format_record", "load_snmprec", "parse_snmprec"]

INTEGER, OCTETS, NULL, OID, IPADDR = 2, 4, 5, 6, 64
COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 65, 66, 67, 68, 70
TAG_NAMES = {INTEGER: "Integer32", OCTETS: "OctetString", NULL: "Null", OID: "ObjectIdentifier",
             IPADDR: "IpAddress", COUNTER32: "Counter32", GAUGE32: "Gauge32",
             TIMETICKS: "TimeTicks", OPAQUE: "Opaque", COUNTER64: "Counter64"}
_RANGES = {INTEGER: (-(2**31), 2**31 - 1), COUNTER32: (0, 2**32 - 1),
           GAUGE32: (0, 2**32 - 1), TIMETICKS: (0, 2**32 - 1), COUNTER64: (0, 2**64 - 1)}
_OID_RE = re.compile(r"^[0-9]+(\.[0-9]+)+$")
_TAG_RE = re.compile(r"^([0-9]+)(x?)$")
_IP_RE = re.compile(r"^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$")
Oid = tuple[int, ...]
Value = int | str | bytes


@dataclass(frozen=True)
class SnmprecRecord:
    """One recorded object: numeric OID, BER tag, and its value (int for the numeric types,
    dotted text for OIDs and IpAddress, bytes for OCTET STRING and Opaque, b"" for NULL)."""

    oid: Oid
    tag: int
    value: Value
    line: int = 0


def _plain(raw: bytes) -> bool:
    """Whether `raw` survives snmpsim's reading (ISO-8859-1, line stripped) as plain text."""
    return (all(0x20 <= b < 0x7F for b in raw) and raw == raw.strip()
            and not raw.lower().startswith(b"0x"))


def format_record(oid: str, tag: int, value: Value) -> str:
    """One `.snmprec` line (without its newline) for a value of BER tag `tag`."""
    if tag not in TAG_NAMES:
        raise ValueError(f"no .snmprec tag for BER tag {tag}")
    if tag in (OCTETS, OPAQUE):
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        if tag == OCTETS and _plain(raw):
            return f"{oid}|{tag}|{raw.decode('ascii')}"
        return f"{oid}|{tag}x|{raw.hex()}"
    if tag == NULL:
        return f"{oid}|{tag}|"
    shown = value.decode("iso-8859-1") if isinstance(value, bytes) else value
    return f"{oid}|{tag}|{shown}"


def _fail(file: str, line: int, message: str) -> ConfigError:
    return ConfigError(message, file=file, line=line)


def _value(tag: int, hexed: bool, text: str, file: str, line: int) -> Value:
    name = TAG_NAMES[tag]
    if hexed:
        if tag not in (OCTETS, OPAQUE, IPADDR):
            raise _fail(file, line, f"a hex value ('{tag}x') is only for OCTET STRING, Opaque "
                                    f"or IpAddress, not {name}")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise _fail(file, line, f"{name} value {text[:40]!r} is not hex (pairs of 0-9a-f)"
                        ) from None
        if tag == IPADDR:
            if len(raw) != 4:
                raise _fail(file, line, f"IpAddress of {len(raw)} bytes (must be 4)")
            return ".".join(str(b) for b in raw)
        return raw
    if tag in _RANGES:
        low, high = _RANGES[tag]
        try:
            number = int(text)
        except ValueError:
            raise _fail(file, line, f"{name} value {text[:40]!r} is not a whole number"
                        ) from None
        if not low <= number <= high:
            raise _fail(file, line, f"{name} value {number} is outside {low}..{high}")
        return number
    if tag == OID:
        if not _OID_RE.match(text.lstrip(".")):
            raise _fail(file, line, f"OBJECT IDENTIFIER value {text[:40]!r} is not a dotted "
                                    "numeric OID")
        return text.lstrip(".")
    if tag == IPADDR:
        match = _IP_RE.match(text)
        if match is not None and all(int(part) <= 255 for part in match.groups()):
            return text
        if len(text) == 4 and match is None:  # the 4 octets as they are (snmpsim's walks)
            return ".".join(str(b) for b in text.encode("iso-8859-1"))
        raise _fail(file, line, f"IpAddress value {text[:40]!r} is not a.b.c.d (or its 4 "
                                "octets)")
    if tag == NULL:
        return b""
    return text.encode("iso-8859-1")  # OCTET STRING / Opaque as snmpsim reads them


def parse_snmprec(data: bytes, file: str) -> list[SnmprecRecord]:
    """Every record of a `.snmprec` file, sorted by OID; ConfigError naming file:line for a
    malformed line, an unknown tag, a value out of its type's range or a repeated OID."""
    records: dict[Oid, SnmprecRecord] = {}
    for number, raw_line in enumerate(data.split(b"\n"), start=1):
        text = raw_line.decode("iso-8859-1").strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split("|", 2)
        if len(parts) != 3:
            raise _fail(file, number, f"expected OID|TAG|VALUE, got {text[:60]!r}")
        oid_text, tag_text, value_text = parts
        oid_text = oid_text.lstrip(".")
        if not _OID_RE.match(oid_text):
            raise _fail(file, number, f"{oid_text[:40]!r} is not a dotted numeric OID")
        match = _TAG_RE.match(tag_text)
        if match is None:
            raise _fail(file, number, f"tag {tag_text[:20]!r} is not a type number (variation "
                                      "modules such as '2:numeric' are snmpsim's only)")
        tag = int(match.group(1))
        if tag not in TAG_NAMES:
            raise _fail(file, number, f"unknown tag {tag} (known: " + ", ".join(
                f"{t} {n}" for t, n in TAG_NAMES.items()) + ")")
        oid = tuple(int(part) for part in oid_text.split("."))
        if oid in records:
            raise _fail(file, number, f"OID {oid_text} recorded twice (first on line "
                                      f"{records[oid].line})")
        value = _value(tag, bool(match.group(2)), value_text, file, number)
        records[oid] = SnmprecRecord(oid, tag, value, number)
    return [records[oid] for oid in sorted(records)]


def load_snmprec(path: Path) -> list[SnmprecRecord]:
    """`parse_snmprec` of a file; ConfigError when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the recording: {exc.strerror or exc}",
                          file=str(path)) from None
    return parse_snmprec(data, str(path))
