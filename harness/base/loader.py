"""The one YAML loader for lab, scenario and vendor-profile files.

YAML goes through `harness.base.yaml_read` (a `yaml.SafeLoader` that keeps every node's
position and rejects duplicate keys, YAML 1.2 core scalars, capped alias expansion), then
through a pydantic model here. Every problem becomes a `ConfigError` reading
`FILE:LINE:COL: FIELD: message` (lines and columns 1-based). A validation failure reports
every error, one line each, sorted by position (`ConfigErrors`). This module is the loader's
public face: it also offers the reading half's and the positions' public names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from harness.base.errors import ConfigError
from harness.base.model_paths import allowed_keys, may_be_secret
from harness.base.positions import FieldPath, Position, PositionIndex, error_at, format_field_path
from harness.base.schema import FieldError, describe_error, unknown_key_message
from harness.base.yaml_read import (
    MAX_ALIAS_NODES,
    MAX_FILE_BYTES,
    HarnessLoader,
    load_yaml,
    parse_yaml,
    read_input,
)

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_FILE_BYTES",
    "ConfigErrors",
    "FieldPath",
    "HarnessLoader",
    "PositionIndex",
    "error_at",
    "format_field_path",
    "load_model",
    "load_yaml",
    "parse_yaml",
    "read_input",
    "validate_model",
]

M = TypeVar("M", bound=BaseModel)

MAX_REPORTED = 20
"""Validation errors listed before the rest are summarised as a count."""


class ConfigErrors(ConfigError):
    """Several positioned errors from one file; attributes are the first's, str() lists all."""

    def __init__(self, errors: list[ConfigError], more: int = 0) -> None:
        first = errors[0]
        super().__init__(first.reason, file=first.file, line=first.line,
                         column=first.column, field=first.field)
        self.errors = tuple(errors)
        self.more = more
        lines = [str(error) for error in errors]
        if more:
            lines.append(f"{first.file}: ... and {more} more error(s)")
        self.args = ("\n".join(lines),)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (list(self.errors), self.more)



def load_model(path: Path, model: type[M], *, context: Mapping[str, object] | None = None) -> M:
    """Load `path` and validate it as `model`; context gets `base_dir` (the file's directory)."""
    data, index = load_yaml(path)
    full: dict[str, object] = {"base_dir": path.absolute().parent}
    full.update(context or {})
    return validate_model(data, index, model, file=path, context=full)


def validate_model(data: object, index: PositionIndex, model: type[M], *, file: Path | str,
                   context: Mapping[str, object] | None = None, at: FieldPath = ()) -> M:
    """Validate loaded data; pydantic's errors become one `ConfigErrors` listing them all.

    `data` may be a part of a document: then `index` is `PositionIndex.sub(at)` and `at` its
    path, so that errors still name the field from the document's root (`trials[2].direction`).
    """
    try:
        return model.model_validate(data, context=dict(context) if context is not None else None)
    except ValidationError as exc:
        raise _convert(exc, data, index, model, str(file), at) from None


def _convert(exc: ValidationError, data: object, index: PositionIndex,
             model: type[BaseModel], file: str, at: FieldPath = ()) -> ConfigErrors:
    grouped: dict[tuple[Position | None, str], list[str]] = {}
    for err in exc.errors(include_url=False):
        where, field, message = _locate_error(dict(err), data, index, model, at)
        messages = grouped.setdefault((where, field), [])
        if message not in messages:
            messages.append(message)
    ordered = sorted(grouped.items(), key=lambda kv: kv[0][0] or (math.inf, math.inf))
    errors = [
        ConfigError(_join(messages), file=file, line=where[0] if where else None,
                    column=where[1] if where else None, field=field or None)
        for (where, field), messages in ordered
    ]
    return ConfigErrors(errors[:MAX_REPORTED], more=max(0, len(errors) - MAX_REPORTED))


def _join(messages: list[str]) -> str:
    """One message for a place: union alternatives read `expected an integer or 'auto', got X`."""
    parts = [m.rpartition(", got ") for m in messages]
    if len(parts) > 1 and all(p[0].startswith("expected ") and p[2] == parts[0][2] and p[1]
                              for p in parts):
        alternatives = [parts[0][0]] + [p[0].removeprefix("expected ") for p in parts[1:]]
        return f"{' or '.join(alternatives)}, got {parts[0][2]}"
    return "; ".join(messages)


def _locate_error(err: dict[str, Any], data: object, index: PositionIndex,
                  model: type[BaseModel], at: FieldPath = ()) -> tuple[Position | None, str, str]:
    """(position, dotted field, friendly message) of one pydantic error."""
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, FieldError):
        loc = (*loc, *inner.at)
    path, at_key = _data_path(data, loc, kind)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        path = (*path, str(ctx.get("discriminator", "")).strip("'"))
        kind = "missing" if kind == "union_tag_not_found" else kind
    if kind == "missing":
        where = index.locate_key(path[:-1])
        message = "field required"
    elif kind == "extra_forbidden":
        where = index.locate_key(path)
        message = unknown_key_message(loc[-1], allowed_keys(model, loc[:-1]))
    else:
        where = index.locate_key(path) if at_key else index.locate(path)
        message = describe_error(err, kind, ctx, secret=may_be_secret(model, loc))
    return where, format_field_path((*at, *path)), message


def _data_path(data: object, loc: tuple[str | int, ...], kind: str) -> tuple[FieldPath, bool]:
    """The part of pydantic's `loc` that exists in the data (dropping union tags and such)."""
    path: list[str | int] = []
    current = data
    at_key = False
    for i, part in enumerate(loc):
        if part == "[key]":
            at_key = True
        elif (isinstance(current, dict) and part in current) or (
                isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)):
            path.append(part)
            current = current[part]  # type: ignore[index]
        elif i == len(loc) - 1 and kind == "missing":
            path.append(part)
    return tuple(path), at_key
