"""The YAML loader: positions, duplicate keys, pydantic errors as `FILE:LINE:COL: FIELD: msg`."""

from __future__ import annotations

import pickle
import re
import time
from pathlib import Path
from typing import Annotated, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, ValidationError, model_validator

from harness.base.errors import ConfigError
from harness.base.loader import (
    ConfigErrors,
    error_at,
    format_field_path,
    load_model,
    load_yaml,
    parse_yaml,
)
from harness.base.schema import (
    Duration,
    FieldError,
    Identifier,
    NonEmptyStr,
    Port,
    SecretStr,
    StrictModel,
    parse_duration,
)
from harness.base.secrets import Secret

SHAPE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<field>[^:]+): (?P<msg>.+)$")


class Snmp(StrictModel):
    port: Port = 161
    version: int = 2
    community: SecretStr | None = None


class Device(StrictModel):
    host: NonEmptyStr
    snmp: Snmp = Snmp()


class Trial(StrictModel):
    id: Identifier
    duration: Duration = 30.0


class Lab(StrictModel):
    name: Identifier
    devices: dict[Identifier, Device]
    trials: list[Trial] = Field(default_factory=list)
    file_name: Annotated[str, Field(alias="file-name")] = ""

    @model_validator(mode="after")
    def _trial_names_unique(self) -> Lab:
        seen: set[str] = set()
        for i, trial in enumerate(self.trials):
            if trial.id in seen:
                raise FieldError(f"trial id {trial.id!r} appears twice", at=("trials", i, "id"))
            seen.add(trial.id)
        return self


GOOD = """\
name: lab1
devices:
  gnb1:
    host: 127.0.0.1
    snmp:
      port: 16101
      version: 3
trials:
  - id: t1
  - id: t2
    duration: 2.5 s
"""


def write(tmp_path: Path, text: str | bytes, name: str = "lab.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def fail(path: Path, model: type[StrictModel] = Lab) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_model(path, model)
    return info.value


def parts(error: ConfigError) -> dict[str, str]:
    """The first line of an error, split by the exact `FILE:LINE:COL: FIELD: message` shape."""
    match = SHAPE.match(str(error).splitlines()[0])
    assert match is not None, str(error)
    return match.groupdict()


def test_good_file_loads(tmp_path: Path) -> None:
    lab = load_model(write(tmp_path, GOOD), Lab)
    assert lab.devices["gnb1"].snmp.port == 16101
    assert lab.trials[1].duration == 2.5
    assert lab.trials[0].duration == 30.0


def test_wrong_type_names_file_line_column_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("port: 16101", "port: abc"))
    error = fail(path)
    assert str(error) == f"{path}:6:13: devices.gnb1.snmp.port: expected an integer, got 'abc'"
    assert (error.file, error.line, error.column) == (str(path), 6, 13)
    assert error.field == "devices.gnb1.snmp.port"


def test_unknown_key_names_key_and_allowed_ones(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("port: 16101", "prot: 16101"))
    error = parts(fail(path))
    assert (error["line"], error["col"], error["field"]) == ("6", "7", "devices.gnb1.snmp.prot")
    assert error["msg"].startswith("unknown key 'prot'")
    assert "did you mean 'port'?" in error["msg"]
    assert "allowed: port, version, community" in error["msg"]


def test_unknown_key_lists_aliases_as_written_in_yaml(tmp_path: Path) -> None:
    error = parts(fail(write(tmp_path, GOOD + "file-nam: x\n")))
    assert "allowed: name, devices, trials, file-name" in error["msg"]


def test_alias_and_field_name_both_accepted(tmp_path: Path) -> None:
    assert load_model(write(tmp_path, GOOD + "file-name: a\n"), Lab).file_name == "a"
    assert load_model(write(tmp_path, GOOD + "file_name: b\n"), Lab).file_name == "b"


def test_duplicate_key_points_at_second_occurrence(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("port: 16101\n", "port: 16101\n      port: 16102\n"))
    error = fail(path)
    assert str(error) == (
        f"{path}:7:7: devices.gnb1.snmp.port: duplicate key 'port' (first at line 6)"
    )


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    error = fail(write(tmp_path, "name: a\nname: b\n"))
    assert (error.line, error.column) == (2, 1)
    assert error.reason == "duplicate key 'name' (first at line 1)"


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "name: lab\ndevices: [a, b\ntrials: []\n")
    error = fail(path)
    assert str(error).startswith(f"{path}:3:")
    assert "while parsing a flow sequence at line 2, column 10" in str(error)
    assert "Traceback" not in str(error)


def test_tab_indentation_says_use_spaces(tmp_path: Path) -> None:
    error = fail(write(tmp_path, "name: lab\ndevices:\n\tgnb1: {}\n"))
    assert (error.line, error.column) == (3, 1)
    assert "indent with spaces, not tabs" in str(error)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    error = fail(write(tmp_path, text))
    assert error.reason == "file is empty"


def test_multiple_documents_rejected(tmp_path: Path) -> None:
    error = fail(write(tmp_path, "name: a\n---\nname: b\n"))
    assert error.line == 2
    assert "more than one YAML document" in str(error)


def test_non_utf8_file(tmp_path: Path) -> None:
    error = fail(write(tmp_path, b"name: lab\nsite: H\xe0 N\xf4i\n"))
    assert (error.line, error.column) == (2, 8)
    assert "not valid UTF-8" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    error = fail(tmp_path / "nope.yaml")
    assert error.file == str(tmp_path / "nope.yaml")
    assert "cannot read file" in str(error)


def test_missing_required_field_points_at_parent(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    host: 127.0.0.1\n", ""))
    error = fail(path)
    assert str(error) == f"{path}:3:3: devices.gnb1.host: field required"


def test_missing_top_level_field(tmp_path: Path) -> None:
    path = write(tmp_path, "devices: {}\n")
    assert str(fail(path)) == f"{path}:1:1: name: field required"


def test_list_index_paths(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("duration: 2.5 s", "duration: thirty"))
    error = fail(path)
    assert str(error) == (
        f"{path}:11:15: trials[1].duration: expected a duration like '30s', got 'thirty'"
    )


def test_all_errors_reported_in_file_order(tmp_path: Path) -> None:
    text = GOOD.replace("port: 16101", "port: 70000").replace("duration: 2.5 s", "duration: x")
    text = text.replace("name: lab1", "name: 1lab")
    error = fail(write(tmp_path, text))
    assert isinstance(error, ConfigErrors)
    lines = str(error).splitlines()
    assert len(lines) == len(error.errors) == 3
    assert [SHAPE.match(line).group("field") for line in lines] == [  # type: ignore[union-attr]
        "name", "devices.gnb1.snmp.port", "trials[1].duration"]
    assert "expected a port number from 1 to 65535, got 70000" in lines[1]
    assert error.line == 1 and error.field == "name"


def test_many_errors_are_capped_with_a_count(tmp_path: Path) -> None:
    trials = "".join(f"  - id: t{i}\n    duration: bad\n" for i in range(30))
    error = fail(write(tmp_path, "name: lab1\ndevices: {}\ntrials:\n" + trials))
    assert isinstance(error, ConfigErrors)
    lines = str(error).splitlines()
    assert len(error.errors) == 20 and len(lines) == 21
    assert lines[-1].endswith("... and 10 more error(s)")
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.line == error.line


def test_model_validator_field_error_points_at_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("id: t2", "id: t1"))
    assert str(fail(path)) == f"{path}:10:9: trials[1].id: trial id 't1' appears twice"


def test_plain_value_error_from_validator_is_not_prefixed(tmp_path: Path) -> None:
    error = parts(fail(write(tmp_path, GOOD.replace("host: 127.0.0.1", "host: '  '"))))
    assert error["field"] == "devices.gnb1.host"
    assert error["msg"] == "must not be empty"


def test_string_field_given_number_suggests_quotes(tmp_path: Path) -> None:
    error = parts(fail(write(tmp_path, GOOD.replace("host: 127.0.0.1", "host: 12"))))
    assert error["msg"] == "expected a string, got 12 (put it in quotes)"


def test_bad_dict_key_points_at_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  gnb1:", "  gnb 1:"))
    error = fail(path)
    assert (error.line, error.column) == (3, 3)
    assert "got 'gnb 1'" in str(error)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(30, 30.0), (2.5, 2.5), ("30s", 30.0), ("2.5 s", 2.5), ("500ms", 0.5), ("1m", 60.0),
     ("1h", 3600.0), ("1h30m", 5400.0), ("1m 30s", 90.0), ("2 min", 120.0), ("45", 45.0),
     (".5s", 0.5), (0, 0.0)],
)
def test_duration_good(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["thirty", "", "30 parsecs", "s", "1:30", "30s30", "10 20", True, None, [1], "-5s"]
)
def test_duration_bad(text: object) -> None:
    with pytest.raises(ValueError, match="duration like '30s'"):
        parse_duration(text)


def test_duration_negative_and_infinite_rejected() -> None:
    for value in (-1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="non-negative duration"):
            parse_duration(value)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_duration_seconds_text_roundtrip(seconds: float) -> None:
    assert parse_duration(f"{seconds:.6f}s") == pytest.approx(seconds, abs=1e-6)
    assert parse_duration(f"{seconds * 1000:.3f} ms") == pytest.approx(seconds, abs=1e-6)


def test_port_and_identifier_bounds() -> None:
    assert Snmp(port=1).port == 1 and Snmp(port=65535).port == 65535
    for bad in (0, 65536, True):
        with pytest.raises(ValidationError):
            Snmp(port=bad)
    assert Trial(id="gnb-1_a").id == "gnb-1_a"
    for bad_id in ("1gnb", "gnb 1", "gnb1\n", "", "_x"):
        with pytest.raises(ValidationError):
            Trial(id=bad_id)


def test_secret_bad_value_is_not_echoed(tmp_path: Path) -> None:
    text = GOOD.replace("version: 3", "version: 3\n      community: 918273645")
    error = fail(write(tmp_path, text))
    assert "918273645" not in str(error)
    assert parts(error)["field"] == "devices.gnb1.snmp.community"
    assert "value not shown" in str(error)


class SecretOrNumber(StrictModel):
    key: SecretStr | int = 0


def test_secret_in_union_is_not_echoed_by_other_members(tmp_path: Path) -> None:
    error = fail(write(tmp_path, "key: [hunter2]\n"), SecretOrNumber)
    assert "hunter2" not in str(error)
    assert parts(error)["field"] == "key"


def test_secret_keeps_reference_and_resolves_files_beside_yaml(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text("s3cret\n", encoding="utf-8")
    text = GOOD.replace("version: 3", "version: 3\n      community: ${file:pw.txt}")
    lab = load_model(write(tmp_path, text), Lab)
    secret = lab.devices["gnb1"].snmp.community
    assert isinstance(secret, Secret)
    assert secret.reference == "${file:pw.txt}"
    assert secret.reveal() == "s3cret"
    assert "s3cret" not in repr(lab) and "s3cret" not in str(lab.model_dump(mode="json"))
    assert lab.model_dump(mode="json")["devices"]["gnb1"]["snmp"]["community"] == "${file:pw.txt}"


def test_alias_bomb_rejected_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    start = time.monotonic()
    error = fail(write(tmp_path, "\n".join(lines) + "\n"))
    assert time.monotonic() - start < 2.0
    assert "alias bomb" in str(error)


def test_self_referencing_alias_rejected(tmp_path: Path) -> None:
    assert "contains it" in str(fail(write(tmp_path, "a: &x [1, *x]\n")))
    assert "contains it" in str(fail(write(tmp_path, "a: &x {<<: *x}\n")))


def test_anchors_aliases_and_merge_keys_work(tmp_path: Path) -> None:
    text = """\
name: lab1
devices:
  gnb1: &gnb {host: 10.0.0.1, snmp: {port: 1161}}
  gnb2:
    <<: *gnb
    host: 10.0.0.2
  gnb3: *gnb
"""
    lab = load_model(write(tmp_path, text), Lab)
    assert lab.devices["gnb2"].host == "10.0.0.2"
    assert lab.devices["gnb2"].snmp.port == 1161
    assert lab.devices["gnb3"] == lab.devices["gnb1"]


def test_error_under_alias_points_at_alias_then_anchor(tmp_path: Path) -> None:
    text = "name: lab1\nbad: &b {port: x}\ndevices:\n  g: {host: h, snmp: *b}\n"
    _, index = load_yaml(write(tmp_path, text))
    assert index.locate(("devices", "g", "snmp")) == (4, 22)
    assert index.locate(("devices", "g", "snmp", "port")) == (2, 16)


def test_yaml_12_scalars() -> None:
    data, _ = parse_yaml(
        "a: no\nb: on\nc: 10:2:2\nd: 012\ne: 0x1F\nf: 1e3\ng: ~\nh: TRUE\ni: 2024-01-01\n"
    )
    assert data == {"a": "no", "b": "on", "c": "10:2:2", "d": 12, "e": 31, "f": 1000.0,
                    "g": None, "h": True, "i": "2024-01-01"}


@pytest.mark.parametrize(("text", "needle"), [
    ("a: !!binary aGk=\n", "unsupported YAML tag '!!binary'"),
    ("a: !Ref x\n", "unsupported YAML tag '!Ref'"),
    ("a: *nope\n", "undefined alias"),
    ("? [1, 2]\n: x\n", "plain value"),
])
def test_other_yaml_problems(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)) as info:
        parse_yaml(text, file="x.yaml")
    assert str(info.value).startswith("x.yaml:1:")


def test_position_index_and_nearest_ancestor(tmp_path: Path) -> None:
    data, index = load_yaml(write(tmp_path, GOOD))
    assert isinstance(data, dict)
    assert index.locate(("devices", "gnb1", "snmp", "port")) == (6, 13)
    assert index.locate_key(("devices", "gnb1", "snmp", "port")) == (6, 7)
    assert index.locate(("trials", 1)) == (10, 5)
    assert index.locate(("trials", 1, "nope", "deeper")) == (10, 5)
    assert index.locate(()) == (1, 1)


def test_error_at_for_semantic_checks(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    _, index = load_yaml(path)
    error = error_at(path, index, ("trials", 1, "duration"), "longer than the run")
    assert str(error) == f"{path}:11:15: trials[1].duration: longer than the run"
    at_key = error_at(path, index, ("devices", "gnb1"), "not reachable", at_key=True)
    assert (at_key.line, at_key.column) == (3, 3)


def test_format_field_path() -> None:
    assert format_field_path(("devices", "gnb1", "snmp", "port")) == "devices.gnb1.snmp.port"
    assert format_field_path(("trials", 2, "duration")) == "trials[2].duration"
    assert format_field_path(("hosts", "a.b")) == "hosts['a.b']"
    assert format_field_path(()) == ""


class Gnb(StrictModel):
    role: Literal["gnodeb"]
    cells: int = 1


class Core(StrictModel):
    role: Literal["core"]
    upf: str = "upf1"


class Tagged(StrictModel):
    devices: dict[str, Annotated[Gnb | Core, Field(discriminator="role")]]


def test_discriminated_union_errors(tmp_path: Path) -> None:
    error = parts(fail(write(tmp_path, "devices:\n  a: {role: gnodeb, upf: x}\n"), Tagged))
    assert error["field"] == "devices.a.upf"
    assert error["msg"] == "unknown key 'upf' (allowed: role, cells)"
    bad_tag = parts(fail(write(tmp_path, "devices:\n  a: {role: ran}\n"), Tagged))
    assert (bad_tag["line"], bad_tag["col"], bad_tag["field"]) == ("2", "13", "devices.a.role")
    assert bad_tag["msg"] == "expected one of 'gnodeb', 'core', got 'ran'"


def test_root_must_be_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    assert str(fail(path)) == f"{path}:1:1: expected a mapping, got a list"


def test_only_regular_files_of_bounded_size_are_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a regular file \(a directory\)"):
        load_yaml(tmp_path)
    with pytest.raises(ConfigError, match=r"not a regular file \(a device or socket\)"):
        load_yaml(Path("/dev/zero"))  # old code: read until MemoryError
    big = write(tmp_path, b"# " + b"x" * (4 << 20) + b"\n", "big.yaml")
    started = time.monotonic()
    with pytest.raises(ConfigError, match="larger than 4 MiB") as info:
        load_yaml(big)
    assert info.value.file == str(big) and time.monotonic() - started < 1.0
