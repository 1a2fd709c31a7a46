"""Does a reply answer the request that was sent? Pure checks on decoded varbinds (RFC 3416 §4.2).

A device's bytes are hostile input: a Response is accepted only when its varbind names are the
ones asked for (GET, SET: the same OIDs in the same order; GETNEXT: each name after the one
requested; GETBULK: non-repeaters, then repetitions that move forward column by column) and its
error fields are in range. Values were already range-checked by type when decoded.
"""

from __future__ import annotations

from collections.abc import Sequence

from drivers.transport import snmp_ber as ber
from drivers.transport.snmp_values import NoSuchValue, SnmpValue, oid_text

__all__ = ["MAX_ERROR_STATUS", "check_reply"]

Oid = tuple[int, ...]
MAX_ERROR_STATUS = 18  # inconsistentName, RFC 3416 §3
_PDU_NAMES = {ber.GET: "GET", ber.NEXT: "GETNEXT", ber.BULK: "GETBULK", ber.SET: "SET"}


def _end(value: SnmpValue) -> bool:
    return isinstance(value, NoSuchValue) and value.reason == "endOfMibView"


def _forward(asked: Oid, name: Oid, value: SnmpValue) -> str | None:
    """A GETNEXT-style answer: the name after `asked`, or endOfMibView at (or after) it."""
    if name > asked or (_end(value) and name == asked):
        return None
    return f"{oid_text(name)} is not after the requested {oid_text(asked)}"


def check_reply(pdu: int, asked: Sequence[Oid], error_status: int, error_index: int,
                varbinds: Sequence[tuple[Oid, SnmpValue]], *, non_repeaters: int = 0,
                max_repetitions: int = 0) -> str | None:
    """None when the reply answers request `pdu` for `asked`; otherwise what is wrong."""
    what = _PDU_NAMES.get(pdu, f"PDU 0x{pdu:02x}")
    if error_status > MAX_ERROR_STATUS:
        return f"error-status {error_status} is not an SNMP error (0..{MAX_ERROR_STATUS})"
    if error_index > len(asked):
        return f"error-index {error_index} points past the {len(asked)} varbinds asked for"
    names = [name for name, _ in varbinds]
    if error_status:  # RFC 3416: an error reply carries the request's varbinds (or none)
        if names and names != list(asked):
            return f"the {what} error reply names OIDs that were not asked for"
        return None
    if pdu in (ber.GET, ber.SET):
        if len(names) != len(asked):
            return f"{len(names)} varbinds answer a {what} of {len(asked)}"
        for want, got in zip(asked, names, strict=True):
            if want != got:
                return (f"the {what} reply names {oid_text(got)} where {oid_text(want)} "
                        "was asked for (OIDs not asked for, or reordered)")
        return None
    if pdu == ber.NEXT:
        if len(names) != len(asked):
            return f"{len(names)} varbinds answer a GETNEXT of {len(asked)}"
        for want, (name, value) in zip(asked, varbinds, strict=True):
            problem = _forward(want, name, value)
            if problem is not None:
                return f"GETNEXT reply goes backwards: {problem}"
        return None
    if pdu == ber.BULK:
        return _check_bulk(asked, varbinds, non_repeaters, max_repetitions)
    return None


def _check_bulk(asked: Sequence[Oid], varbinds: Sequence[tuple[Oid, SnmpValue]],
                non_repeaters: int, max_repetitions: int) -> str | None:
    n = min(max(0, non_repeaters), len(asked))
    width = len(asked) - n
    limit = n + width * max(0, max_repetitions)
    if len(varbinds) > limit:
        return f"{len(varbinds)} varbinds answer a GETBULK allowing at most {limit}"
    if len(varbinds) < n:
        return f"the GETBULK reply lacks its {n} non-repeater varbinds"
    for want, (name, value) in zip(asked[:n], varbinds[:n], strict=False):
        problem = _forward(want, name, value)
        if problem is not None:
            return f"GETBULK reply goes backwards: {problem}"
    last = list(asked[n:])
    ended = [False] * width
    for i, (name, value) in enumerate(varbinds[n:]):
        col = i % width
        if ended[col] and not _end(value):
            return (f"GETBULK reply continues column {oid_text(asked[n + col])} "
                    "after its endOfMibView")
        problem = None if ended[col] else _forward(last[col], name, value)
        if problem is not None:
            return f"GETBULK repetitions go backwards: {problem}"
        ended[col] = _end(value)
        last[col] = name
    return None
