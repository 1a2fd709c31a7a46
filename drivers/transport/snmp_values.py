"""SNMP values as plain Python: what agents answer, what SET sends, and OID text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905

from harness.base.errors import ConfigError

__all__ = [
    "SET_TYPES",
    "NoSuchValue",
    "SetValue",
    "SnmpValue",
    "convert_value",
    "decode_octets",
    "norm_oid",
    "oid_text",
    "oid_tuple",
    "to_pysnmp",
]


@dataclass(frozen=True)
class NoSuchValue:
    """The agent has no value for this OID (noSuchObject / noSuchInstance / endOfMibView)."""

    reason: str


SnmpValue = int | str | NoSuchValue

# Type names a SET accepts, with net-snmp's snmpset letters as aliases.
SET_TYPES: dict[str, str] = {
    "integer": "integer", "i": "integer", "integer32": "integer",
    "string": "string", "s": "string", "octets": "string", "x": "string",
    "oid": "oid", "o": "oid",
    "ipaddress": "ipaddress", "a": "ipaddress",
    "counter32": "counter32", "c": "counter32",
    "gauge32": "gauge32", "u": "gauge32", "unsigned32": "gauge32",
    "timeticks": "timeticks", "t": "timeticks",
    "counter64": "counter64", "c64": "counter64",
    "opaque": "opaque",
}
_OID_RE = re.compile(r"^\.?\d+(\.\d+)+$")
_PRINTABLE_CONTROL = {"\t", "\n", "\r"}


@dataclass(frozen=True)
class SetValue:
    """A typed value for SNMP SET: `SetValue("string", "noc@lab")`, `SetValue("i", 2)`.

    Type names: integer, string, oid, ipaddress, counter32, gauge32, timeticks, counter64,
    opaque, or net-snmp's letters (i s x o a c u t). `x` takes hex text (`"0a1b"`).
    """

    type: str
    value: int | str | bytes

    def __post_init__(self) -> None:
        kind = SET_TYPES.get(self.type.strip().lower())
        if kind is None:
            raise ConfigError(f"unknown SNMP SET type {self.type!r}: use one of "
                              f"{', '.join(sorted(set(SET_TYPES.values())))}")
        value = self.value
        if self.type.strip().lower() == "x" and isinstance(value, str):
            try:
                value = bytes.fromhex(value.removeprefix("0x"))
            except ValueError:
                raise ConfigError(f"SET type x needs hex text, got {value!r}") from None
        if kind in ("integer", "counter32", "gauge32", "timeticks", "counter64"):
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ConfigError(f"SET type {kind} needs a whole number, got {value!r}") from None
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "value", value)


def norm_oid(oid: str) -> str:
    """A dotted numeric OID without the leading dot; ConfigError for anything else."""
    text = oid.strip()
    if not _OID_RE.match(text):
        raise ConfigError(
            f"{oid!r} is not a numeric OID: write it dotted, like 1.3.6.1.2.1.1.5.0 "
            "(MIB names such as IF-MIB::ifInOctets.1 are resolved when a profile is "
            "loaded, not by the transport)"
        )
    return text.lstrip(".")


def oid_tuple(oid: str) -> tuple[int, ...]:
    """'1.3.6' → (1, 3, 6); the text must already be a normalised numeric OID."""
    return tuple(int(part) for part in oid.split("."))


def oid_text(oid: tuple[int, ...]) -> str:
    """(1, 3, 6) → '1.3.6'."""
    return ".".join(map(str, oid))


def decode_octets(raw: bytes) -> str:
    """UTF-8 text when it is printable text, else `0x` + hex (MAC addresses, binary blobs)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()
    if any(ch < " " and ch not in _PRINTABLE_CONTROL for ch in text):
        return "0x" + raw.hex()
    return text


def convert_value(value: Any) -> SnmpValue:
    """A pysnmp/pyasn1 value as a plain Python value; missing values stay `NoSuchValue`."""
    if isinstance(value, rfc1905.NoSuchObject):
        return NoSuchValue("noSuchObject")
    if isinstance(value, rfc1905.NoSuchInstance):
        return NoSuchValue("noSuchInstance")
    if isinstance(value, rfc1905.EndOfMibView):
        return NoSuchValue("endOfMibView")
    if isinstance(value, univ.Null):
        return NoSuchValue("null")
    if isinstance(value, rfc1902.IpAddress):
        return ".".join(str(b) for b in bytes(value.asOctets()))
    if isinstance(value, rfc1902.Bits | rfc1902.Opaque):
        return "0x" + bytes(value.asOctets()).hex()
    if isinstance(value, univ.ObjectIdentifier):
        return ".".join(str(part) for part in value.asTuple())
    if isinstance(value, univ.OctetString):
        return decode_octets(bytes(value.asOctets()))
    if isinstance(value, univ.Integer):
        return int(value)
    return NoSuchValue(f"unsupported type {type(value).__name__}")


def to_pysnmp(value: SetValue) -> Any:
    """The pysnmp object for a typed SET value."""
    v = value.value
    if value.type == "string":
        return rfc1902.OctetString(v if isinstance(v, bytes) else str(v).encode("utf-8"))
    if value.type == "opaque":
        return rfc1902.Opaque(v if isinstance(v, bytes) else str(v).encode("utf-8"))
    if value.type == "oid":
        return rfc1902.ObjectName(oid_tuple(norm_oid(str(v))))
    if value.type == "ipaddress":
        return rfc1902.IpAddress(str(v))
    kinds = {"integer": rfc1902.Integer32, "counter32": rfc1902.Counter32,
             "gauge32": rfc1902.Gauge32, "timeticks": rfc1902.TimeTicks,
             "counter64": rfc1902.Counter64}
    return kinds[value.type](int(v))
