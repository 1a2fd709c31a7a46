"""Line protocol: escaping, value types, refusals, and a property test that round-trips
arbitrary tag and field strings through our serialiser and an independent parser."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.base.sample import Sample, SampleError, check_sample, normalized
from harness.store.lineprotocol import LineEncoder, encode_line

T0 = 1_795_000_000_123_456_789


# --- an independent parser, written from the InfluxDB line protocol reference --------------
def _scan(text: str, i: int, stops: str, escapable: str) -> tuple[str, int]:
    """Read until an unescaped character of `stops`; `\\x` for x in `escapable` is x."""
    out = []
    while i < len(text) and text[i] not in stops:
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in escapable:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out), i


def _field_value(text: str, i: int) -> tuple[Any, int]:
    if text[i] == '"':
        out, i = [], i + 1
        while text[i] != '"':
            if text[i] == "\\" and text[i + 1] in '"\\':
                i += 1
            out.append(text[i])
            i += 1
        return "".join(out), i + 1
    end = i
    while end < len(text) and text[end] not in ", ":
        end += 1
    raw = text[i:end]
    if raw in ("true", "t", "T", "True", "TRUE"):
        return True, end
    if raw in ("false", "f", "F", "False", "FALSE"):
        return False, end
    if raw.endswith("i"):
        return int(raw[:-1]), end
    return float(raw), end


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, Any], int]:
    """measurement, tags, fields, time of one line."""
    measurement, i = _scan(line, 0, ", ", ", ")
    tags: dict[str, str] = {}
    while line[i] == ",":
        key, i = _scan(line, i + 1, "=", ",= ")
        value, i = _scan(line, i + 1, ", ", ",= ")
        tags[key] = value
    assert line[i] == " "
    fields: dict[str, Any] = {}
    i += 1
    while True:
        key, i = _scan(line, i, "=", ",= ")
        fields[key], i = _field_value(line, i + 1)
        if line[i] == " ":
            break
        assert line[i] == ","
        i += 1
    return measurement, tags, fields, int(line[i + 1:])


# --- examples ---------------------------------------------------------------------------
def test_escapes_measurement_tags_fields_and_strings() -> None:
    sample = Sample(T0, "cpu load,x", {"dev ice": "gnb,1", "k=y": "a=b c"},
                    {"fi eld": 1.5, "s": 'say "hi" \\ bye', "n": -3, "ok": True, "no": False})
    line = encode_line(sample)
    assert line == ('cpu\\ load\\,x,dev\\ ice=gnb\\,1,k\\=y=a\\=b\\ c '
                    'fi\\ eld=1.5,s="say \\"hi\\" \\\\ bye",n=-3i,ok=true,no=false '
                    f"{T0}")
    assert parse_line(line) == ("cpu load,x", {"dev ice": "gnb,1", "k=y": "a=b c"},
                                dict(sample.fields), T0)


def test_tags_sorted_empty_tags_dropped_equals_in_measurement_kept() -> None:
    line = encode_line(Sample(5, "a=b", {"z": "1", "a": "2", "unit": ""}, {"v": 1}))
    assert line == "a=b,a=2,z=1 v=1i 5"


def test_floats_round_trip_exactly() -> None:
    values = [0.1, 1e-300, 1.7976931348623157e308, -0.0, 123456789.123456789, 1e16, 5e-324]
    for value in values:
        _, _, fields, _ = parse_line(encode_line(Sample(1, "m", {}, {"v": value})))
        assert fields["v"] == value and math.copysign(1, fields["v"]) == math.copysign(1, value)
    assert encode_line(Sample(1, "m", {}, {"v": 2.0})) == "m v=2.0 1"  # a float stays a float


@pytest.mark.parametrize(("sample", "reason"), [
    (Sample(1, "m", {}, {"v": math.nan}), "NaN"),
    (Sample(1, "m", {}, {"v": math.inf}), "inf"),
    (Sample(1, "m", {}, {"v": -math.inf}), "inf"),
    (Sample(1, "m", {}, {"v": 2**63}), "64-bit"),
    (Sample(1, "m", {}, {"v": -(2**63) - 1}), "64-bit"),
    (Sample(1, "m", {}, {"v": "two\nlines"}), "line break"),
    (Sample(1, "m", {"t": "a\nb"}, {"v": 1}), "control character"),
    (Sample(1, "m", {"t": "back\\slash"}, {"v": 1}), "backslash"),
    (Sample(1, "#m", {}, {"v": 1}), "comment"),
    (Sample(1, "", {}, {"v": 1}), "empty"),
    (Sample(1, "m", {"": "x"}, {"v": 1}), "empty"),
    (Sample(1, "m", {}, {}), "no fields"),
    (Sample(1, "m", {}, {"v": None}), "type"),  # type: ignore[dict-item]
    (Sample(1, "m", {}, {"v": [1]}), "type"),  # type: ignore[dict-item]
])
def test_what_line_protocol_cannot_carry_is_refused(sample: Sample, reason: str) -> None:
    with pytest.raises(SampleError, match=reason):
        encode_line(sample)
    with pytest.raises(SampleError):
        check_sample(sample)


def test_int64_bounds_and_subclasses() -> None:
    import enum

    class Level(enum.IntEnum):
        HIGH = 7

    line = encode_line(Sample(1, "m", {}, {"a": 2**63 - 1, "b": -(2**63), "c": Level.HIGH}))
    assert line == f"m a={2**63 - 1}i,b={-(2**63)}i,c=7i 1"


def test_encoder_cache_does_not_mix_series() -> None:
    encoder = LineEncoder(max_cached=2)
    samples = [Sample(i, "m", {"dev": f"d{i % 3}"}, {"v": float(i)}) for i in range(9)]
    body = encoder.encode(samples).decode()
    assert body.endswith("\n")
    parsed = [parse_line(line) for line in body.splitlines()]
    assert [(p[1]["dev"], p[2]["v"], p[3]) for p in parsed] == [
        (f"d{i % 3}", float(i), i) for i in range(9)]


def test_normalized_fixes_field_types_and_drops_empty_tags() -> None:
    sample = normalized(Sample(1, "kpi", {"unit": "", "kpi": "x"},
                               {"value": 3, "raw": 2**64 - 1, "other": 3}))
    assert sample.tags == {"kpi": "x"}
    assert sample.fields["value"] == 3.0 and isinstance(sample.fields["value"], float)
    assert isinstance(sample.fields["raw"], float)  # a Counter64 beyond int64 stays storable
    assert sample.fields["other"] == 3 and isinstance(sample.fields["other"], int)
    same = Sample(1, "kpi", {"kpi": "x"}, {"value": 1.0})
    assert normalized(same) is same


# --- the property test -----------------------------------------------------------------
_NAME_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\\x7f")
names = st.text(_NAME_CHARS, min_size=1, max_size=20)
measurements = names.filter(lambda s: not s.startswith("#"))
strings = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
                  max_size=30)
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    strings,
)


@settings(max_examples=400, deadline=None)
@given(measurement=measurements, tags=st.dictionaries(names, names, max_size=5),
       fields=st.dictionaries(names, values, min_size=1, max_size=5),
       time_ns=st.integers(min_value=0, max_value=2**62))
def test_round_trip_through_an_independent_parser(measurement: str, tags: dict[str, str],
                                                  fields: dict[str, Any], time_ns: int) -> None:
    sample = Sample(time_ns, measurement, tags, fields)
    line = encode_line(sample)
    assert "\n" not in line
    parsed = parse_line(line)
    assert parsed[0] == measurement
    assert parsed[1] == tags
    assert parsed[3] == time_ns
    assert parsed[2].keys() == fields.keys()
    for key, value in fields.items():
        got = parsed[2][key]
        assert type(got) is type(value) and got == value, (key, value, got)


@settings(max_examples=200, deadline=None)
@given(tags=st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
       fields=st.dictionaries(st.text(max_size=6), st.one_of(st.floats(), st.text(max_size=6),
                                                             st.integers()), max_size=3))
def test_check_and_encoder_agree_on_what_is_refused(tags: dict[str, str],
                                                    fields: dict[str, Any]) -> None:
    sample = Sample(1, "m", tags, fields)
    try:
        check_sample(sample)
        refused_by_check = False
    except SampleError:
        refused_by_check = True
    try:
        encode_line(sample)
        refused_by_encoder = False
    except SampleError:
        refused_by_encoder = True
    assert refused_by_check == refused_by_encoder
