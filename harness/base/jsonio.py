"""Strict JSON for everything the harness writes: never `NaN` or `Infinity` (which strict
parsers, jq and most JSON libraries refuse). A non-finite number becomes null, and the place
it was found is logged as a warning, so the reason is not lost."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

__all__ = ["dumps", "finite"]

log = logging.getLogger(__name__)


def finite(data: Any, path: str = "$") -> tuple[Any, list[str]]:
    """`data` with every NaN or ±inf float replaced by None, and the paths replaced."""
    replaced: list[str] = []
    return _clean(data, path, replaced), replaced


def _clean(value: Any, path: str, replaced: list[str]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        replaced.append(f"{path} ({value})")
        return None
    if isinstance(value, dict):
        return {k: _clean(v, f"{path}.{k}", replaced) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, f"{path}[{i}]", replaced) for i, v in enumerate(value)]
    return value


def dumps(data: Any, *, what: str = "JSON output", **kwargs: Any) -> str:
    """`json.dumps` with `allow_nan=False`; non-finite numbers are written as null and each
    one is logged (`what` names the file or stream in that warning)."""
    clean, replaced = finite(data)
    for place in replaced:
        log.warning("%s: %s is not a finite number: written as null", what, place)
    return json.dumps(clean, allow_nan=False, **kwargs)
