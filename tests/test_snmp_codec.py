"""The BER codec (drivers/transport/snmp_ber.py) and the reply checks (snmp_check.py).

Unit tests per type rule, hypothesis round trips (encode → decode), a fuzz test over real
net-snmp datagrams (tests/fixtures/snmp/netsnmp-replies.json, re-captured by capture.py in that
folder) mutated byte by byte — only BerError, never another exception, and every value that
decodes is in its type's range — and a differential test against pyasn1 (pysnmp's decoder) on
the same bytes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder
from pysnmp.proto import api

from drivers.transport import snmp_ber as ber
from drivers.transport.snmp_check import check_reply
from drivers.transport.snmp_values import NoSuchValue, SetValue, convert_value
from harness.base.errors import HarnessError

FIXTURES = Path(__file__).parent / "fixtures" / "snmp"
REPLIES = {name: bytes.fromhex(text) for name, text in
           json.loads((FIXTURES / "netsnmp-replies.json").read_text()).items()}


def _capture_module() -> Any:
    spec = importlib.util.spec_from_file_location("capture", FIXTURES / "capture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REQUESTS: dict[str, tuple[int, int, list[str], int, int]] = _capture_module().REQUESTS


def oid_t(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def message(*values: bytes, version: int = 1, pdu: int = ber.RESPONSE) -> bytes:
    binds = [(ber.encode_oid((1, 3, 6, 1, 2, 1, 1, i + 1, 0)), v) for i, v in enumerate(values)]
    return ber.encode_message(version, b"public", pdu, 7, binds)


def raw(tag: int, content: bytes) -> bytes:
    n = len(content)
    return bytes((tag,)) + (bytes((n,)) if n < 0x80 else b"\x81" + bytes((n,))) + content


# ---- unit tests -----------------------------------------------------------------------
def test_real_net_snmp_replies_decode_to_the_right_values() -> None:
    system = ber.decode_message(REPLIES["v2c-get-system"]).varbinds
    assert system[1] == ((1, 3, 6, 1, 2, 1, 1, 2, 0), "1.3.6.1.4.1.8072.3.2.10")
    assert isinstance(system[2][1], int) and system[3][1] == NoSuchValue("noSuchInstance")
    counters = ber.decode_message(REPLIES["v2c-get-counters"], with_tags=True)
    assert counters.tags == (0x41, 0x42, 0x46, 0x04)
    assert ber.decode_message(REPLIES["v2c-next-ipaddr"]).varbinds[0][1] == "127.0.0.1"
    trap = ber.decode_message(REPLIES["v1-trap"])
    assert trap.trap_v1 == ((1, 3, 6, 1, 4, 1, 32473, 99), "127.0.0.1", 6, 7, 55)


@pytest.mark.parametrize("name", list(REQUESTS))
def test_real_replies_pass_the_reply_checks(name: str) -> None:
    _version, pdu, oids, nr, mr = REQUESTS[name]
    msg = ber.decode_message(REPLIES[name])
    assert check_reply(pdu, [oid_t(o) for o in oids], msg.error_status, msg.error_index,
                       msg.varbinds, non_repeaters=nr, max_repetitions=mr) is None


@pytest.mark.parametrize(("value", "reason"), [
    (raw(0x41, (2**32).to_bytes(5, "big")), "Counter32 4294967296 is outside"),
    (raw(0x41, b"\x01" + b"\x00" * 8), "Counter32 of 9 bytes"),
    (raw(0x42, b"\xff"), "Gauge32 -1 is outside"),
    (raw(0x43, (2**32).to_bytes(5, "big")), "TimeTicks 4294967296 is outside"),
    (raw(0x46, b"\x01" + b"\x00" * 8), "Counter64 18446744073709551616 is outside"),
    (raw(0x41, b""), "empty Counter32"),
    (raw(0x02, b""), "empty INTEGER"),
    (raw(0x02, b"\x01" * 9), "INTEGER of 9 bytes"),
    (b"\x02\x82\x03\xe8" + b"\x7f" * 1000, "INTEGER of 1000 bytes"),
    (raw(0x06, b"\x2b\x90\x80\x80\x80\x00"), "above 2^32-1"),
    (raw(0x06, b"\x2b\x06\x81"), "ends inside a sub-identifier"),
    (raw(0x06, b"\x2b\x80\x01"), "not minimal"),
    (raw(0x06, b"\x2b" + b"\x01" * 127), "129 sub-identifiers"),
    (raw(0x40, b"\x0a\x00\x00\x01\x00\x00\x00"), "IpAddress of 7 bytes"),
    (raw(0x47, b"\x01"), "unknown value type 0x47"),
    (raw(0x05, b"\x00"), "null value with content"),
    (raw(0x82, b"\x00"), "endOfMibView value with content"),
])
def test_values_out_of_their_types_range_are_ber_errors(value: bytes, reason: str) -> None:
    with pytest.raises(ber.BerError, match=re.escape(reason)):
        ber.decode_message(message(value))


def test_ber_error_is_a_harness_error() -> None:
    assert issubclass(ber.BerError, HarnessError)


def test_boundary_values_are_accepted() -> None:
    values = [ber.encode_value(SetValue(t, v)) for t, v in [
        ("counter32", 2**32 - 1), ("gauge32", 0), ("timeticks", 2**32 - 1),
        ("counter64", 2**64 - 1), ("integer", -(2**63)), ("integer", 2**63 - 1),
        ("oid", f"1.3.{2**32 - 1}"), ("ipaddress", "255.255.255.255")]]
    got = [v for _, v in ber.decode_message(message(*values)).varbinds]
    assert got == [2**32 - 1, 0, 2**32 - 1, 2**64 - 1, -(2**63), 2**63 - 1,
                   f"1.3.{2**32 - 1}", "255.255.255.255"]


@pytest.mark.parametrize(("data", "reason"), [
    (message(raw(0x02, b"\x01")) + b"\x00", "bytes after the message"),
    (b"\x30\x80" + message()[2:], "indefinite length"),
    (message(raw(0x46, b"\x01"), version=0), "SNMPv2 value type 0x46 in an SNMPv1"),
    (message(version=0, pdu=ber.BULK), "not an SNMPv1 PDU"),
    (message(version=1, pdu=0xAF), "not an SNMPv2c PDU"),
    (message(version=2), "version 2"),
])
def test_malformed_messages_are_ber_errors(data: bytes, reason: str) -> None:
    with pytest.raises(ber.BerError, match=re.escape(reason)):
        ber.decode_message(data)


def test_v1_trap_fields_are_range_checked() -> None:
    good = REPLIES["v1-trap"]
    generic = good.index(b"\x02\x01\x06\x02\x01\x07")  # generic-trap 6, specific-trap 7
    for patch, reason in [(b"\x02\x01\x07", "generic-trap 7"), (b"\x02\x01\xfb", "generic-trap -5"),
                          (b"\x02\x01\x06\x02\x01\xff", "specific-trap -1")]:
        bad = good[:generic] + patch + good[generic + len(patch):]
        with pytest.raises(ber.BerError, match=reason):
            ber.decode_message(bad)


# ---- reply checks ---------------------------------------------------------------------
A, B, C = (1, 3, 6, 1, 2, 1, 1, 1, 0), (1, 3, 6, 1, 2, 1, 1, 3, 0), (1, 3, 6, 1, 2, 1, 2)
END = NoSuchValue("endOfMibView")


@pytest.mark.parametrize(("pdu", "asked", "got", "nr", "mr", "problem"), [
    (ber.GET, [A, B], [(A, 1), (B, 2)], 0, 0, None),
    (ber.GET, [A, B], [(B, 2), (A, 1)], 0, 0, "reordered"),
    (ber.GET, [A, B], [(A, 1)], 0, 0, "1 varbinds answer a GET of 2"),
    (ber.NEXT, [A], [((*A, 1), 1)], 0, 0, None),
    (ber.NEXT, [A], [(A, END)], 0, 0, None),
    (ber.NEXT, [B], [(A, 1)], 0, 0, "goes backwards"),
    (ber.NEXT, [A], [(A, 1)], 0, 0, "goes backwards"),
    (ber.BULK, [A, C], [((*A, 1), 1), ((*C, 1), 1), ((*C, 2), 1)], 1, 2, None),
    (ber.BULK, [C], [((*C, 2), 1), ((*C, 1), 1)], 0, 5, "go backwards"),
    (ber.BULK, [C], [((*C, 1), 1), ((*C, 1), END), ((*C, 1), END)], 0, 5, None),
    (ber.BULK, [C], [((*C, 1), END), ((*C, 2), 7)], 0, 5, "after its endOfMibView"),
    (ber.BULK, [C], [((*C, i), 1) for i in range(1, 4)], 0, 2, "at most 2"),
])
def test_reply_checks(pdu: int, asked: list[tuple[int, ...]], got: list[Any], nr: int,
                      mr: int, problem: str | None) -> None:
    found = check_reply(pdu, asked, 0, 0, got, non_repeaters=nr, max_repetitions=mr)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_error_replies_must_echo_the_request() -> None:
    assert check_reply(ber.GET, [A], 2, 1, [(A, NoSuchValue("null"))]) is None
    assert check_reply(ber.GET, [A], 2, 1, []) is None
    assert "not asked for" in (check_reply(ber.GET, [A], 2, 1, [(B, 1)]) or "")
    assert "error-status 19" in (check_reply(ber.GET, [A], 19, 1, []) or "")
    assert "error-index 2" in (check_reply(ber.GET, [A], 5, 2, []) or "")


# ---- hypothesis round trips -----------------------------------------------------------
oids = st.tuples(st.integers(0, 2), st.integers(0, 39),
                 st.lists(st.integers(0, 2**32 - 1), max_size=20)).map(
    lambda t: (t[0], t[1], *t[2]))
typed_values = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(lambda v: ("integer", v)),
    st.integers(0, 2**32 - 1).map(lambda v: ("counter32", v)),
    st.integers(0, 2**32 - 1).map(lambda v: ("gauge32", v)),
    st.integers(0, 2**32 - 1).map(lambda v: ("timeticks", v)),
    st.integers(0, 2**64 - 1).map(lambda v: ("counter64", v)),
    oids.map(lambda o: ("oid", ".".join(map(str, o)))),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda p: ("ipaddress", ".".join(map(str, p)))),
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=200).map(
        lambda s: ("string", s)),
)


@settings(max_examples=300, deadline=None)
@given(version=st.sampled_from([0, 1]), community=st.binary(max_size=40),
       request_id=st.integers(-(2**31), 2**31 - 1), status=st.integers(0, 18),
       index=st.integers(0, 2**31 - 1),
       binds=st.lists(st.tuples(oids, typed_values), max_size=30))
def test_round_trip(version: int, community: bytes, request_id: int, status: int, index: int,
                    binds: list[tuple[tuple[int, ...], tuple[str, Any]]]) -> None:
    if version == 0:
        binds = [(o, v) for o, v in binds if v[0] != "counter64"]
    encoded = [(ber.encode_oid(o), ber.encode_value(SetValue(*v))) for o, v in binds]
    data = ber.encode_message(version, community, ber.RESPONSE, request_id, encoded,
                              error_status=status, error_index=index)
    msg = ber.decode_message(data)
    assert (msg.version, msg.community, msg.request_id, msg.error_status, msg.error_index) \
        == (version, community, request_id, status, index)
    assert [name for name, _ in msg.varbinds] == [o for o, _ in binds]
    for (_, (_kind, want)), (_, got) in zip(binds, msg.varbinds, strict=True):
        assert got == want


# ---- fuzz: mutated real datagrams -----------------------------------------------------
def mutations(data: bytes) -> Iterator[bytes]:
    """Each byte replaced (0x00, 0xff, top bit and low bit flipped, +1), deleted, or the
    datagram cut there; then a byte inserted."""
    for i, byte in enumerate(data):
        for v in {0x00, 0xFF, byte ^ 0x80, byte ^ 0x01, (byte + 1) & 0xFF} - {byte}:
            yield data[:i] + bytes((v,)) + data[i + 1:]
        yield data[:i] + data[i + 1:]
        yield data[:i]
        yield data[:i] + b"\x00" + data[i:]


def assert_in_range(msg: ber.Message) -> None:
    for (name, value), tag in zip(msg.varbinds, msg.tags, strict=True):
        assert len(name) <= 128 and all(0 <= arc <= 2**32 - 1 for arc in name)
        if tag in (0x41, 0x42, 0x43):
            assert isinstance(value, int) and 0 <= value <= 2**32 - 1
        elif tag == 0x46:
            assert isinstance(value, int) and 0 <= value <= 2**64 - 1
        elif tag == 0x02:
            assert isinstance(value, int) and -(2**63) <= value < 2**63
        elif tag == 0x40:
            assert isinstance(value, str) and len(value.split(".")) == 4


@pytest.mark.parametrize("name", list(REPLIES))
def test_fuzz_only_ber_error(name: str) -> None:
    decoded = 0
    for data in mutations(REPLIES[name]):
        try:
            msg = ber.decode_message(data, with_tags=True)
        except ber.BerError:
            continue
        decoded += 1
        assert_in_range(msg)
    assert decoded > 0  # the mutations reach the value decoders, not only the header


@settings(max_examples=500, deadline=None)
@given(name=st.sampled_from(sorted(REPLIES)), data=st.data())
def test_fuzz_random_multi_byte_damage(name: str, data: st.DataObject) -> None:
    raw_bytes = bytearray(REPLIES[name])
    for _ in range(data.draw(st.integers(1, 8))):
        raw_bytes[data.draw(st.integers(0, len(raw_bytes) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ber.BerError):
        assert_in_range(ber.decode_message(bytes(raw_bytes), with_tags=True))


# ---- differential: pyasn1 (pysnmp's decoder) on the same bytes ------------------------
# Where we are stricter than pysnmp's SNMP types, on purpose: an empty INTEGER (pyasn1 reads 0),
# negative error-status/error-index, v1 generic-trap outside 0..6 and negative specific-trap.
STRICTER = re.compile(r"^empty |error-status -|error-index -|generic-trap |specific-trap -")


def pyasn1_varbinds(data: bytes) -> list[tuple[tuple[int, ...], Any]] | None:
    try:
        version = int(api.decodeMessageVersion(data))
        module = api.PROTOCOL_MODULES[version]
        msg, rest = decoder.decode(data, asn1Spec=module.Message())
    except Exception:  # any pyasn1 refusal counts as "rejected"
        return None
    if rest:
        return None
    pdu = module.apiMessage.get_pdu(msg)
    trap = version == 0 and pdu.tagSet == module.TrapPDU.tagSet
    vbs = (module.apiTrapPDU if trap else module.apiPDU).get_varbinds(pdu)
    return [(tuple(name), _plain(value)) for name, value in vbs]


def _plain(value: Any) -> Any:
    kind = type(value).__name__  # SNMPv1's RFC 1155 types are not rfc1902 classes
    if kind == "IpAddress":
        return ".".join(str(b) for b in bytes(value.asOctets()))
    if kind == "Opaque":
        return "0x" + bytes(value.asOctets()).hex()
    return convert_value(value)


@pytest.mark.parametrize("name", list(REPLIES))
def test_differential_against_pyasn1(name: str) -> None:
    both = 0
    for data in [REPLIES[name], *mutations(REPLIES[name])]:
        theirs = pyasn1_varbinds(data)
        try:
            ours = ber.decode_message(data).varbinds
        except ber.BerError as exc:
            assert theirs is None or STRICTER.search(str(exc)), (data.hex(), exc, theirs)
            continue
        assert theirs is not None, f"we accept what pyasn1 refuses: {data.hex()}"
        assert ours == theirs, data.hex()
        both += 1
    assert both > 1
