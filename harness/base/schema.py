"""Reusable field types for lab, scenario and profile models, with messages a user can act on.

Every validator here raises `ValueError` with a complete sentence; the loader turns it into
`FILE:LINE:COL: FIELD: message`. Secret fields never put the offending value in a message.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from harness.base.model_paths import members
from harness.base.secrets import Secret

__all__ = [
    "Duration",
    "FieldError",
    "Identifier",
    "NonEmptyStr",
    "Port",
    "SecretStr",
    "StrictModel",
    "TrialId",
    "WholeSeconds",
    "at_least",
    "check_http_url",
    "check_safe_name",
    "describe_error",
    "parse_duration",
    "secret_fields",
    "show_value",
    "unknown_key_message",
]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, instances are immutable, numbers
    are finite (no `.inf`/`.nan`), and a true/false field takes only true or false (pydantic
    alone would read `yes`, `on` or `1` as true)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _strict_scalars(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, info in cls.model_fields.items():
            key = info.alias if info.alias is not None and info.alias in data else name
            if key not in data or data[key] is None:
                continue
            value, plain = data[key], _plain_scalar(info.annotation)
            if plain is bool and not isinstance(value, bool):
                hint = " (in YAML 1.2 yes/no/on/off are text)" if isinstance(value, str) else ""
                raise FieldError(f"expected true or false, got {show_value(value)}{hint}",
                                 at=(key,))
            if plain is int and isinstance(value, bool):
                raise FieldError(f"expected an integer, got {show_value(value)}", at=(key,))
        return data


class FieldError(ValueError):
    """A validator's complaint about a field below the model being validated.

    Raise it from a model validator to point the error at `at` (relative to that model),
    e.g. `raise FieldError("unknown device 'gnb9'", at=("trials", 2, "via"))`.
    """

    def __init__(self, message: str, *, at: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.at = at


def show_value(value: object) -> str:
    """A short rendering of a user's value for an error message (mappings and lists by kind)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|sec|min|s|m|h)?\s*", re.ASCII)


def parse_duration(value: object) -> float:
    """Seconds from 30, 2.5, "30s", "2.5 s", "500ms", "1m", "1h", "1h30m"; else ValueError."""
    bad = ValueError(f"expected a duration like '30s', got {show_value(value)}")
    if isinstance(value, bool):
        raise bad
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value, bad)
    else:
        raise bad
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a non-negative duration like '30s', got {show_value(value)}")
    return seconds


def _parse_duration_text(text: str, bad: ValueError) -> float:
    """Sum of `<number><unit>` parts; a bare number means seconds and must stand alone."""
    if not text.strip():
        raise bad
    total, pos, parts = 0.0, 0, 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None or match.end() == pos:
            raise bad
        number, unit = match.groups()
        if unit is None and (parts > 0 or match.end() != len(text)):
            raise bad
        total += float(number) * _DURATION_UNITS[unit or "s"]
        pos, parts = match.end(), parts + 1
    return total


def at_least(minimum: float, what: str) -> Callable[[float], float]:
    """An after-validator for a Duration: at least `minimum` seconds (what `what` can honour),
    refused rather than rounded."""
    def check(seconds: float) -> float:
        if seconds < minimum:
            raise ValueError(f"must be at least {minimum:g} s for {what}, got {seconds:g} s")
        return seconds
    return check


def _whole_seconds(seconds: float) -> float:
    if seconds != int(seconds):
        near = sorted({max(1, math.floor(seconds)), math.ceil(seconds)})
        raise ValueError(f"must be whole seconds (iperf3 runs whole seconds, -t/-O), got "
                         f"{seconds:g} s: give {' or '.join(f'{n}s' for n in near)}")
    return seconds


def _plain_scalar(annotation: Any) -> type | None:
    """`bool` or `int` when that (or its Optional) is all a field takes, else None."""
    plain = [m for m in members(annotation) if m is not type(None)]
    if len(plain) == 1 and plain[0] in (bool, int):
        return plain[0]  # type: ignore[no-any-return]
    return None


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"expected a port number from 1 to 65535, got {value}")
    return value


def _no_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {show_value(value)}")
    return value


def _check_non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def _check_identifier(value: str) -> str:
    if _IDENTIFIER.fullmatch(value) is None:
        raise ValueError(
            "expected a name that starts with a letter and has only letters, digits, "
            f"'_' and '-', got {show_value(value)}"
        )
    return value


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)


def check_safe_name(value: str, what: str = "a name") -> str:
    """`value` if it can name a file inside a directory of ours: letters, digits, '.', '_'
    and '-', starting with a letter or digit, no '..', at most 128 characters; else
    ValueError. Trial ids and run ids become file names, so this is what keeps them in."""
    if _SAFE_NAME.fullmatch(value) is None or ".." in value:
        raise ValueError(f"{what} may hold only letters, digits, '.', '_' and '-', start with a "
                         f"letter or digit, have no '..' and at most 128 characters (it names "
                         f"files), got {show_value(value)}")
    return value


def check_http_url(url: str) -> str:
    """`url` if it is http(s)://HOST[:PORT][/path] with a valid host and port; else
    ValueError saying what is wrong."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port  # ValueError when out of range or not a number
    except ValueError as exc:
        raise ValueError(f"expected a URL like http://HOST:8086, got {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected a URL like http://HOST:8086, got {url!r}")
    if port == 0:
        raise ValueError(f"expected a port number from 1 to 65535 in {url!r}")
    return url


def _check_trial_id(value: str) -> str:
    return check_safe_name(value, "a trial id")


def _to_secret(value: object, info: ValidationInfo) -> Secret:
    """A Secret from a string; a relative `${file:..}` resolves against context["base_dir"]."""
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str) or not value:
        # Never echo the value: it may be a password typed inline (a number, say).
        raise ValueError(
            "expected a secret string or a reference like '${env:NAME}' or '${file:PATH}' "
            "(value not shown)"
        )
    base: Path | None = None
    context: Any = info.context
    if isinstance(context, Mapping) and context.get("base_dir") is not None:
        base = Path(context["base_dir"])
    return Secret(value, base=base)  # ValueError for `${vault:x}`, `${env:}` and such


def secret_fields(value: object, path: tuple[str | int, ...] = ()
                  ) -> Iterator[tuple[tuple[str | int, ...], Secret]]:
    """Every Secret inside a validated model, with its field path (for positioned errors)."""
    if isinstance(value, Secret):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from secret_fields(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from secret_fields(item, (*path, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from secret_fields(item, (*path, i))


def _dump_secret(value: Secret) -> str:
    """What a dump shows: the reference (safe) or `***` for an inline secret."""
    return value.reference or "***"


Duration = Annotated[
    float, BeforeValidator(parse_duration), WithJsonSchema({"type": ["string", "number"]})
]
"""Seconds as a float; accepts numbers and strings like "30s", "500ms", "1m", "1h30m"."""

WholeSeconds = Annotated[Duration, AfterValidator(_whole_seconds)]
"""A Duration that is a whole number of seconds (what iperf3's -t and -O take)."""

Port = Annotated[int, BeforeValidator(_no_bool), AfterValidator(_check_port)]
"""A TCP/UDP port number, 1..65535."""

NonEmptyStr = Annotated[str, AfterValidator(_check_non_empty)]
"""A string with at least one non-blank character."""

Identifier = Annotated[str, AfterValidator(_check_identifier)]
"""A device or trial name: a letter, then letters, digits, `_` or `-`."""

TrialId = Annotated[str, AfterValidator(_check_trial_id)]
"""A trial id (after its placeholders are filled): safe as part of a file name."""

SecretStr = Annotated[
    Secret,
    PlainValidator(_to_secret),
    PlainSerializer(_dump_secret, return_type=str),
    WithJsonSchema({"type": "string"}),
]
"""A `Secret`: inline text or an unresolved `${env:NAME}` / `${file:PATH}` reference."""


# ------------------------------------------------------ pydantic errors in the harness's words


def unknown_key_message(key: object, allowed: list[str]) -> str:
    """`unknown key 'prot' (did you mean 'port'? allowed: port, version)`."""
    message = f"unknown key {show_value(key)}"
    hints = []
    close = difflib.get_close_matches(str(key), allowed, n=1)
    if close:
        hints.append(f"did you mean '{close[0]}'?")
    if allowed:
        hints.append(f"allowed: {', '.join(allowed)}")
    return message + (f" ({' '.join(hints)})" if hints else "")


_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping",
    "mapping_type": "a mapping", "list_type": "a list", "tuple_type": "a list",
    "set_type": "a list", "frozen_set_type": "a list", "iterable_type": "a list",
    "none_required": "nothing (null)",
}


def describe_error(err: Mapping[str, Any], kind: str, ctx: Mapping[str, Any], *,
                   secret: bool) -> str:
    """pydantic's message in the harness's words; the bad value is shown unless secret."""
    inner = ctx.get("error")
    if kind in ("value_error", "assertion_error") and inner is not None:
        return inner.message if isinstance(inner, FieldError) else str(inner)
    if kind in ("literal_error", "enum") and "expected" in ctx:
        base = f"expected {ctx['expected']}"
    elif kind in _EXPECTED:
        base = f"expected {_EXPECTED[kind]}"
    elif kind == "union_tag_invalid":
        base = f"expected one of {ctx.get('expected_tags', '?')}"
    else:
        text: str = err["msg"]
        text = text.replace("Input should be", "should be", 1).replace("Input", "value", 1)
        base = text[:1].lower() + text[1:]
    if secret:
        return base + " (value not shown)"
    value = ctx.get("tag", err.get("input"))
    quote = " (put it in quotes)" if kind == "string_type" and isinstance(
        value, int | float) else ""
    return f"{base}, got {show_value(value)}{quote}"
