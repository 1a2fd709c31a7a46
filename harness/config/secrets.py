"""Secrets by reference: `${env:NAME}` and `${file:PATH}`, resolved late, never printed."""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.errors import ConfigError

_REF = re.compile(r"^\$\{(env|file):([^}]+)\}$")


class Secret:
    """A secret value or a reference to one; `repr`/`str` show `***`, `reveal()` resolves it."""

    __slots__ = ("_base", "_literal", "_ref_kind", "_ref_target")

    def __init__(self, text: str, *, base: Path | None = None) -> None:
        match = _REF.match(text.strip())
        self._base = base
        if match:
            self._literal: str | None = None
            self._ref_kind: str | None = match.group(1)
            self._ref_target: str | None = match.group(2).strip()
        else:
            self._literal = text
            self._ref_kind = None
            self._ref_target = None

    @property
    def reference(self) -> str | None:
        """The reference text (`${env:X}`) or None for an inline secret; safe to show."""
        if self._ref_kind is None:
            return None
        return f"${{{self._ref_kind}:{self._ref_target}}}"

    def reveal(self) -> str:
        """The secret's value; raises ConfigError naming the reference when it cannot resolve."""
        if self._literal is not None:
            return self._literal
        assert self._ref_target is not None
        if self._ref_kind == "env":
            value = os.environ.get(self._ref_target)
            if value is None:
                raise ConfigError(
                    f"environment variable {self._ref_target} is not set "
                    f"(the lab refers to it as ${{env:{self._ref_target}}})"
                )
            return value
        path = Path(self._ref_target).expanduser()
        if not path.is_absolute() and self._base is not None:
            path = self._base / path
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from None

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (
            (self._literal, self._ref_kind, self._ref_target)
            == (other._literal, other._ref_kind, other._ref_target)
        )

    def __hash__(self) -> int:
        return hash((self._literal, self._ref_kind, self._ref_target))
