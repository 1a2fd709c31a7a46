"""Walking a pydantic model's annotations along an error's location (pure).

pydantic reports where a value failed as a `loc` tuple (`("devices", "gnb1", "snmp",
"port")`); the loader follows it through the model's field types to say which keys the
mapping there accepts (`allowed_keys`) and whether the value may be a secret that must never be
echoed (`may_be_secret`).
"""

from __future__ import annotations

import collections.abc
import types
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, TypeGuard, Union, get_args, get_origin

from pydantic import BaseModel

from harness.base.secrets import Secret

__all__ = ["allowed_keys", "may_be_secret", "members"]

_MAPPINGS = (dict, Mapping, collections.abc.MutableMapping)
_SEQUENCES = (list, set, frozenset, collections.abc.Sequence, collections.abc.Set)


def members(tp: Any) -> list[Any]:
    """`tp` with Annotated and Optional/Union unwrapped into its plain member types."""
    origin = get_origin(tp)
    if origin is Annotated:
        return members(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(tp) for m in members(arg)]
    return [tp]


def _is_model(tp: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field_names(model: type[BaseModel]) -> list[str]:
    """The keys a YAML file writes for this model: aliases where set, else field names."""
    return [field.alias or name for name, field in model.model_fields.items()]


def _step(tp: Any, part: str | int) -> list[Any]:
    """Types reached from `tp` by one loc element (a field, a mapping key, a list index)."""
    if _is_model(tp):
        for name, field in tp.model_fields.items():
            if part in (name, field.alias, field.validation_alias):
                return members(field.annotation)
        return []
    origin, args = get_origin(tp), get_args(tp)
    if origin in _MAPPINGS and len(args) == 2:
        return members(args[0] if part == "[key]" else args[1])
    if isinstance(part, int) and args:
        if origin in _SEQUENCES:
            return members(args[0])
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return members(args[0])
            return members(args[part]) if part < len(args) else []
    return []


def _named_by(tp: Any, part: str | int) -> bool:
    """Whether a union-member tag in a loc (class name or discriminator value) names `tp`."""
    if not isinstance(tp, type) or not isinstance(part, str):
        return False
    if tp.__name__ == part:
        return True
    return _is_model(tp) and any(
        get_origin(f.annotation) is Literal and part in get_args(f.annotation)
        for f in tp.model_fields.values()
    )


def _walk(model: type[BaseModel], loc: tuple[str | int, ...]) -> Iterator[list[Any]]:
    """The candidate types at each step of `loc`; elements that fit nothing are skipped."""
    candidates: list[Any] = [model]
    yield candidates
    for part in loc:
        stepped = [t for c in candidates for t in _step(c, part)]
        candidates = stepped or [c for c in candidates if _named_by(c, part)] or candidates
        yield candidates


def allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model at pydantic `loc` accepts, in declaration order ([] if unknown)."""
    *_, last = _walk(model, loc)
    keys: list[str] = []
    for candidate in last:
        if _is_model(candidate):
            keys.extend(k for k in _field_names(candidate) if k not in keys)
    return keys


def may_be_secret(model: type[BaseModel], loc: tuple[str | int, ...]) -> bool:
    """Whether the value at `loc` (or anything it sits in) may be a Secret: never echo it."""
    return any(Secret in step for step in _walk(model, loc))
