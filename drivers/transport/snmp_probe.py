"""The unauthenticated SNMPv3 probe of RFC 3414 §4 that discovers an agent's engine id, boots
and time, and the decoding of the agent's Report (strict, like every reply)."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.transport.snmp_ber import (
    _INT,
    _INT32,
    _OCTETS,
    _SEQ,
    GET,
    BerError,
    _expect,
    _int,
    _int_content,
    _octets,
    _ranged,
    _tlv,
    _whole,
)

__all__ = ["EngineProbe", "decode_probe_reply", "encode_probe"]


@dataclass(frozen=True)
class EngineProbe:
    """What an SNMPv3 agent says about itself in its discovery report (RFC 3414 §4)."""

    engine_id: bytes
    boots: int
    time: int


def encode_probe(msg_id: int, request_id: int) -> bytes:
    """An unauthenticated, reportable SNMPv3 GET with an empty engine id and user: agents
    answer it with a Report carrying their engine id, boots and time (RFC 3414 §4)."""
    header = _tlv(_SEQ, _tlv(_INT, _int_content(msg_id)) + _tlv(_INT, _int_content(65507))
                  + _tlv(_OCTETS, b"\x04") + _tlv(_INT, _int_content(3)))
    usm = _tlv(_SEQ, _tlv(_OCTETS, b"") + _tlv(_INT, b"\x00") + _tlv(_INT, b"\x00")
               + _tlv(_OCTETS, b"") + _tlv(_OCTETS, b"") + _tlv(_OCTETS, b""))
    pdu = _tlv(GET, _tlv(_INT, _int_content(request_id)) + _tlv(_INT, b"\x00")
               + _tlv(_INT, b"\x00") + _tlv(_SEQ, b""))
    scoped = _tlv(_SEQ, _tlv(_OCTETS, b"") + _tlv(_OCTETS, b"") + pdu)
    return _tlv(_SEQ, _tlv(_INT, b"\x03") + header + _tlv(_OCTETS, usm) + scoped)


def decode_probe_reply(data: bytes) -> EngineProbe:
    """Engine id, boots and time from an SNMPv3 message's security parameters."""
    try:
        start, stop = _whole(data)
        version, pos = _int(data, start, stop, "version")
        if version != 3:
            raise BerError(f"not an SNMPv3 message (version {version})")
        _, pos = _expect(data, pos, stop, _SEQ)  # msgGlobalData: skipped
        params, pos = _octets(data, pos, stop)
        u_start, u_stop = _expect(params, 0, len(params), _SEQ)
        engine_id, p = _octets(params, u_start, u_stop)
        boots, p = _ranged(params, p, u_stop, "engine boots", 0, _INT32[1])
        clock, p = _ranged(params, p, u_stop, "engine time", 0, _INT32[1])
    except IndexError:  # pragma: no cover - every read is bounds-checked first
        raise BerError("truncated") from None
    if not 5 <= len(engine_id) <= 32:
        raise BerError(f"engine id of {len(engine_id)} bytes (RFC 3411: 5..32)")
    return EngineProbe(engine_id, boots, clock)
