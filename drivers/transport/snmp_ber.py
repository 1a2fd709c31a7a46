"""A small BER codec for SNMP messages: the fast path of the community (v1/v2c) transport.

pysnmp decodes through pyasn1, which spends ~1.5 ms of CPU per 25-varbind response; polling
capacity is bounded by that. This codec reads and writes only what SNMP uses (RFC 3416 PDUs,
RFC 2578 application types, RFC 1157 traps) straight from bytes to plain Python values. It also
leaves the SNMPv3 discovery probe to `snmp_probe`.
Everything else in v3 (USM authentication and privacy) stays with pysnmp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drivers.transport.snmp_values import NoSuchValue, SetValue, SnmpValue, decode_octets
from harness.base.errors import HarnessError

__all__ = [
    "BULK",
    "GET",
    "INFORM",
    "NEXT",
    "REPORT",
    "RESPONSE",
    "SET",
    "TRAP_V1",
    "TRAP_V2",
    "BerError",
    "Message",
    "decode_message",
    "encode_message",
    "encode_oid",
    "message_version",
    "response_to",
]

GET, NEXT, RESPONSE, SET, TRAP_V1, BULK, INFORM, TRAP_V2, REPORT = (
    0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8)
_INT, _OCTETS, _NULL, _OID, _SEQ = 0x02, 0x04, 0x05, 0x06, 0x30
_IPADDR, _COUNTER32, _GAUGE32, _TIMETICKS, _OPAQUE, _COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
_NO_SUCH_OBJECT, _NO_SUCH_INSTANCE, _END_OF_MIB = 0x80, 0x81, 0x82
_UNSIGNED = frozenset({_COUNTER32, _GAUGE32, _TIMETICKS, _COUNTER64})
_EXCEPTIONS = {_NO_SUCH_OBJECT: NoSuchValue("noSuchObject"),
               _NO_SUCH_INSTANCE: NoSuchValue("noSuchInstance"),
               _END_OF_MIB: NoSuchValue("endOfMibView")}
_SET_TAGS = {"integer": _INT, "string": _OCTETS, "oid": _OID, "ipaddress": _IPADDR,
             "counter32": _COUNTER32, "gauge32": _GAUGE32, "timeticks": _TIMETICKS,
             "counter64": _COUNTER64, "opaque": _OPAQUE}
_NULL_VALUE = b"\x05\x00"

Oid = tuple[int, ...]


class BerError(HarnessError, ValueError):
    """The bytes are not a well-formed SNMP message, or a field or value is out of range.

    The transport reports it as "device sent a malformed reply: …" with the device's name."""


@dataclass(frozen=True)
class Message:
    """A decoded v1/v2c message. For a v1 trap, `trap_v1` holds (enterprise, agent address,
    generic trap, specific trap, timestamp) and the request-id fields are zero."""

    version: int  # 0 = v1, 1 = v2c
    community: bytes
    pdu: int
    request_id: int
    error_status: int  # GETBULK requests: non-repeaters
    error_index: int  # GETBULK requests: max-repetitions
    varbinds: list[tuple[Oid, SnmpValue]]
    trap_v1: tuple[Oid, str, int, int, int] | None = None
    tags: tuple[int, ...] = ()  # each value's BER tag, when decoded `with_tags`


# ---- encoding -------------------------------------------------------------------------
def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def _int_content(value: int) -> bytes:
    """Minimal two's complement (-2^63 takes 8 bytes, not 9)."""
    bits = (value if value >= 0 else -value - 1).bit_length()
    return value.to_bytes(bits // 8 + 1, "big", signed=True)


def _uint_content(value: int, bits: int) -> bytes:
    if not 0 <= value < 2**bits:
        raise BerError(f"{value} does not fit an unsigned {bits}-bit SNMP value")
    return _int_content(value)


def encode_oid(oid: Sequence[int]) -> bytes:
    """An OBJECT IDENTIFIER TLV for a numeric OID of at least two arcs."""
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40):
        raise BerError(f"{'.'.join(map(str, oid))} is not a valid OID")
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        if arc < 0:
            raise BerError("OID arcs are never negative")
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return _tlv(_OID, bytes(out))


def encode_value(value: SetValue) -> bytes:
    """The TLV of a typed SET value."""
    tag = _SET_TAGS[value.type]
    v = value.value
    if tag == _INT:
        return _tlv(tag, _int_content(int(v)))
    if tag in (_COUNTER32, _GAUGE32, _TIMETICKS):
        return _tlv(tag, _uint_content(int(v), 32))
    if tag == _COUNTER64:
        return _tlv(tag, _uint_content(int(v), 64))
    if tag == _OID:
        return encode_oid(tuple(int(p) for p in str(v).strip(".").split(".")))
    if tag == _IPADDR:
        parts = [int(p) for p in str(v).split(".")]
        if len(parts) != 4 or not all(0 <= p < 256 for p in parts):
            raise BerError(f"{v!r} is not an IPv4 address")
        return _tlv(tag, bytes(parts))
    raw = v if isinstance(v, bytes) else str(v).encode("utf-8")
    return _tlv(tag, raw)


def encode_message(version: int, community: bytes, pdu: int, request_id: int,
                   varbinds: Sequence[tuple[bytes, bytes | None]], *, error_status: int = 0,
                   error_index: int = 0) -> bytes:
    """A v1/v2c message. Each varbind is (encoded OID TLV, encoded value TLV or None = NULL).
    For GETBULK, `error_status`/`error_index` carry non-repeaters/max-repetitions."""
    vbl = b"".join(_tlv(_SEQ, oid + (_NULL_VALUE if value is None else value))
                   for oid, value in varbinds)
    body = (_tlv(_INT, _int_content(request_id)) + _tlv(_INT, _int_content(error_status))
            + _tlv(_INT, _int_content(error_index)) + _tlv(_SEQ, vbl))
    return _tlv(_SEQ, _tlv(_INT, _int_content(version)) + _tlv(_OCTETS, community)
                + _tlv(pdu, body))


# ---- decoding -------------------------------------------------------------------------
# Every check below is the type's range (RFC 2578 §7.1, RFC 3416 §3): a reply that breaks one is
# malformed, never a value. INTEGER is allowed 64 bits (wider than Integer32, for sloppy agents).
_INT_BYTES = 8
_UNSIGNED_BITS = {_COUNTER32: 32, _GAUGE32: 32, _TIMETICKS: 32, _COUNTER64: 64}
_MAX_ARC = 2**32 - 1
_MAX_ARCS = 128  # RFC 2578 §3.5: at most 128 sub-identifiers
_INT32 = (-(2**31), 2**31 - 1)
_PDU_TAGS = frozenset({GET, NEXT, RESPONSE, SET, BULK, INFORM, TRAP_V2, REPORT})
_V1_PDU_TAGS = frozenset({GET, NEXT, RESPONSE, SET})  # RFC 1157 (and its Trap-PDU)
_V2_ONLY_VALUES = frozenset({_COUNTER64, _NO_SUCH_OBJECT, _NO_SUCH_INSTANCE, _END_OF_MIB})


def _head(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at `pos`, checked against `end`."""
    if pos + 2 > end:
        raise BerError("truncated")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0:
            raise BerError("indefinite length (not allowed in SNMP)")
        if n > 4 or pos + n > end:
            raise BerError("bad length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    stop = pos + length
    if stop > end:
        raise BerError("truncated")
    return tag, pos, stop


def _expect(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    got, start, stop = _head(data, pos, end)
    if got != tag:
        raise BerError(f"expected tag 0x{tag:02x}, got 0x{got:02x}")
    return start, stop


def _signed(data: bytes, start: int, stop: int, what: str) -> int:
    if start == stop:
        raise BerError(f"empty {what}")
    if stop - start > _INT_BYTES:
        raise BerError(f"{what} of {stop - start} bytes (more than 64 bits)")
    return int.from_bytes(data[start:stop], "big", signed=True)


def _int(data: bytes, pos: int, end: int, what: str = "INTEGER") -> tuple[int, int]:
    start, stop = _expect(data, pos, end, _INT)
    return _signed(data, start, stop, what), stop


def _ranged(data: bytes, pos: int, end: int, what: str, low: int, high: int) -> tuple[int, int]:
    value, stop = _int(data, pos, end, what)
    if not low <= value <= high:
        raise BerError(f"{what} {value} is outside {low}..{high}")
    return value, stop


def _octets(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    start, stop = _expect(data, pos, end, _OCTETS)
    return data[start:stop], stop


def _unsigned(data: bytes, tag: int, start: int, stop: int) -> int:
    bits = _UNSIGNED_BITS[tag]
    if start == stop:
        raise BerError(f"empty {_TYPE_NAMES[tag]}")
    if stop - start > bits // 8 + 1:
        raise BerError(f"{_TYPE_NAMES[tag]} of {stop - start} bytes (more than {bits} bits)")
    value = int.from_bytes(data[start:stop], "big", signed=True)
    if not 0 <= value < 2**bits:
        raise BerError(f"{_TYPE_NAMES[tag]} {value} is outside 0..2^{bits}-1")
    return value


def _oid(data: bytes, start: int, stop: int) -> Oid:
    if start == stop:
        raise BerError("empty OID")
    raw = data[start:stop]
    if raw[-1] & 0x80:
        raise BerError("OID ends inside a sub-identifier")
    if max(raw) < 0x80:  # every sub-identifier in one byte: the common case, and fast
        arcs = list(raw)
    else:
        arcs = []
        value = 0
        fresh = True
        for byte in raw:
            if fresh and byte == 0x80:
                raise BerError("OID sub-identifier with a leading 0x80 (not minimal)")
            value = (value << 7) | (byte & 0x7F)
            fresh = not byte & 0x80
            if fresh:
                arcs.append(value)
                value = 0
        if max(arcs) > _MAX_ARC:
            raise BerError("OID sub-identifier above 2^32-1")
    first = arcs[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    if head[1] > _MAX_ARC:
        raise BerError("OID sub-identifier above 2^32-1")
    if len(arcs) >= _MAX_ARCS:
        raise BerError(f"OID of {len(arcs) + 1} sub-identifiers (at most {_MAX_ARCS})")
    return (*head, *arcs[1:])


_TYPE_NAMES = {_COUNTER32: "Counter32", _GAUGE32: "Gauge32", _TIMETICKS: "TimeTicks",
               _COUNTER64: "Counter64"}


def _value(data: bytes, tag: int, start: int, stop: int) -> SnmpValue:
    if tag in _UNSIGNED:
        return _unsigned(data, tag, start, stop)
    if tag == _OCTETS:
        return decode_octets(data[start:stop])
    if tag == _INT:
        return _signed(data, start, stop, "INTEGER")
    if tag == _OID:
        return ".".join(map(str, _oid(data, start, stop)))
    if tag == _IPADDR:
        if stop - start != 4:
            raise BerError(f"IpAddress of {stop - start} bytes (must be 4)")
        return ".".join(str(b) for b in data[start:stop])
    if tag == _OPAQUE:
        return "0x" + data[start:stop].hex()
    exception = _EXCEPTIONS.get(tag) or (NoSuchValue("null") if tag == _NULL else None)
    if exception is None:
        raise BerError(f"unknown value type 0x{tag:02x}")
    if start != stop:
        raise BerError(f"{exception.reason} value with content")
    return exception


def _varbinds(data: bytes, pos: int, end: int, tags: list[int] | None = None,
              v1: bool = False) -> tuple[list[tuple[Oid, SnmpValue]], int]:
    start, stop = _expect(data, pos, end, _SEQ)
    out: list[tuple[Oid, SnmpValue]] = []
    pos = start
    while pos < stop:
        vb_start, vb_stop = _expect(data, pos, stop, _SEQ)
        oid_start, oid_stop = _expect(data, vb_start, vb_stop, _OID)
        tag, v_start, v_stop = _head(data, oid_stop, vb_stop)
        if v_stop != vb_stop:
            raise BerError("extra data in a variable binding")
        if v1 and tag in _V2_ONLY_VALUES:
            raise BerError(f"SNMPv2 value type 0x{tag:02x} in an SNMPv1 message")
        out.append((_oid(data, oid_start, oid_stop), _value(data, tag, v_start, v_stop)))
        if tags is not None:
            tags.append(tag)
        pos = vb_stop
    return out, stop


def message_version(data: bytes) -> int:
    """The msgVersion field (0 = v1, 1 = v2c, 3 = v3) of any SNMP message."""
    start, stop = _expect(data, 0, len(data), _SEQ)
    return _int(data, start, stop, "version")[0]


def _whole(data: bytes) -> tuple[int, int]:
    start, stop = _expect(data, 0, len(data), _SEQ)
    if stop != len(data):
        raise BerError(f"{len(data) - stop} bytes after the message")
    return start, stop


def decode_message(data: bytes, *, with_tags: bool = False) -> Message:
    """A v1/v2c message of any PDU type; BerError when it is not one, or when any field or
    value is out of its type's range. `with_tags` also keeps each value's BER tag."""
    try:
        start, stop = _whole(data)
        version, pos = _int(data, start, stop, "version")
        if version not in (0, 1):
            raise BerError(f"not a v1/v2c message (version {version})")
        community, pos = _octets(data, pos, stop)
        pdu, p_start, p_stop = _head(data, pos, stop)
        if p_stop != stop:
            raise BerError("extra data after the PDU")
        if pdu == TRAP_V1 and version == 0:
            return _decode_v1_trap(data, version, community, p_start, p_stop, with_tags)
        if pdu not in (_V1_PDU_TAGS if version == 0 else _PDU_TAGS):
            raise BerError(f"PDU type 0x{pdu:02x} is not an SNMPv{'1' if version == 0 else '2c'}"
                           " PDU")
        request_id, pos = _ranged(data, p_start, p_stop, "request-id", *_INT32)
        status, pos = _ranged(data, pos, p_stop, "error-status", 0, _INT32[1])
        index, pos = _ranged(data, pos, p_stop, "error-index", 0, _INT32[1])
        tags: list[int] | None = [] if with_tags else None
        varbinds, pos = _varbinds(data, pos, p_stop, tags, version == 0)
        if pos != p_stop:
            raise BerError("extra data after the variable bindings")
    except IndexError:  # pragma: no cover - every read is bounds-checked first
        raise BerError("truncated") from None
    return Message(version, community, pdu, request_id, status, index, varbinds,
                   tags=tuple(tags or ()))


def response_to(data: bytes) -> bytes:
    """The Response that acknowledges a v2c InformRequest: the same message, PDU tag changed
    (RFC 3416 §4.2.7: same request-id and varbinds, error-status 0)."""
    start, stop = _expect(data, 0, len(data), _SEQ)
    _, pos = _int(data, start, stop)
    _, pos = _octets(data, pos, stop)
    if pos >= len(data) or data[pos] != INFORM:
        raise BerError("not an InformRequest")
    return data[:pos] + bytes((RESPONSE,)) + data[pos + 1:]


def _decode_v1_trap(data: bytes, version: int, community: bytes, pos: int, stop: int,
                    with_tags: bool) -> Message:
    """RFC 1157 Trap-PDU; generic-trap 0..6, specific-trap and time-stamp in range."""
    e_start, e_stop = _expect(data, pos, stop, _OID)
    enterprise = _oid(data, e_start, e_stop)
    a_start, a_stop = _expect(data, e_stop, stop, _IPADDR)
    if a_stop - a_start != 4:
        raise BerError(f"agent-addr of {a_stop - a_start} bytes (must be 4)")
    address = ".".join(str(b) for b in data[a_start:a_stop])
    generic, pos = _ranged(data, a_stop, stop, "generic-trap", 0, 6)
    specific, pos = _ranged(data, pos, stop, "specific-trap", 0, _INT32[1])
    t_start, t_stop = _expect(data, pos, stop, _TIMETICKS)
    stamp = _unsigned(data, _TIMETICKS, t_start, t_stop)
    tags: list[int] | None = [] if with_tags else None
    varbinds, pos = _varbinds(data, t_stop, stop, tags, True)
    if pos != stop:
        raise BerError("extra data after the variable bindings")
    return Message(version, community, TRAP_V1, 0, 0, 0, varbinds,
                   trap_v1=(enterprise, address, generic, specific, stamp),
                   tags=tuple(tags or ()))
