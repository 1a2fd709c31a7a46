"""Where things sit in a loaded YAML document, and errors placed there.

`PositionIndex` maps a field path (`("trials", 2, "duration")`) to the line and column of its
value and of its mapping key (1-based); `error_at` builds a `ConfigError` reading
`FILE:LINE:COL: FIELD: message` for a check made after validation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.base.errors import ConfigError

__all__ = ["FieldPath", "Position", "PositionIndex", "error_at", "format_field_path"]

FieldPath = tuple[str | int, ...]
Position = tuple[int, int]

_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class PositionIndex:
    """Where each node of a loaded document sits: (line, column) of values and mapping keys."""

    values: Mapping[FieldPath, Position]
    keys: Mapping[FieldPath, Position]

    def locate(self, path: FieldPath) -> Position | None:
        """Position of the value at `path`, or of its nearest ancestor that exists."""
        for end in range(len(path), -1, -1):
            found = self.values.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def locate_key(self, path: FieldPath) -> Position | None:
        """Position of the key of the mapping entry at `path`; falls back to `locate`."""
        return self.keys.get(tuple(path)) or self.locate(path)

    def sub(self, prefix: FieldPath) -> PositionIndex:
        """The positions of the node at `prefix`, with paths relative to it (to validate a
        part of a document on its own, e.g. one trial of a scenario)."""
        n = len(prefix)
        return PositionIndex(
            values={p[n:]: v for p, v in self.values.items() if p[:n] == prefix},
            keys={p[n:]: v for p, v in self.keys.items() if p[:n] == prefix and len(p) > n})


def format_field_path(path: FieldPath) -> str:
    """`devices.gnb1.snmp.port`, `trials[2].duration`; odd keys as `hosts['a.b']`."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _SIMPLE_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def error_at(path: Path | str, index: PositionIndex, field_path: FieldPath, message: str,
             *, at_key: bool = False) -> ConfigError:
    """A ConfigError for a later semantic check, placed at `field_path` (its key if `at_key`)."""
    where = index.locate_key(field_path) if at_key else index.locate(field_path)
    line, column = where if where is not None else (None, None)
    return ConfigError(message, file=str(path), line=line, column=column,
                       field=format_field_path(field_path) or None)
