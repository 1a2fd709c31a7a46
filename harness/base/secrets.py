"""Secrets by reference: `${env:NAME}` and `${file:PATH}`, resolved late, never printed.

Any value that starts with `${` is a reference and must be one of these two schemes with a
non-empty name; `${vault:x}` or `${env:}` is an error, never a password used verbatim.
Anything else is an inline secret, which a lab must allow explicitly (`allow_inline_secrets`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.base.errors import ConfigError

SCHEMES = ("env", "file")
MAX_SECRET_FILE_BYTES = 64 << 10
"""Largest secret file read (64 KiB): a key or a password, not a document."""

_REF = re.compile(r"^\$\{([^:}]*):?([^}]*)\}$")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_reference(text: str) -> tuple[str, str] | None:
    """(scheme, target) of a `${scheme:target}` reference, None for an inline secret;
    ValueError (a message a user can act on, without the value) for a malformed one."""
    stripped = text.strip()
    if not stripped.startswith("${"):
        return None
    match = _REF.match(stripped)
    if match is None:
        raise ValueError("a secret reference looks like '${env:NAME}' or '${file:PATH}' "
                         "(this one is not closed by a single '}')")
    scheme, target = match.group(1).strip(), match.group(2).strip()
    if scheme not in SCHEMES:
        raise ValueError(f"unknown secret scheme {scheme!r}: use ${{env:NAME}} or "
                         "${file:PATH}")
    if not target:
        what = "a variable name" if scheme == "env" else "a file path"
        raise ValueError(f"${{{scheme}:}} needs {what}, e.g. "
                         + ("${env:GNB_SSH_PASSWORD}" if scheme == "env"
                            else "${file:secrets/gnb-password}"))
    if scheme == "env" and _ENV_NAME.fullmatch(target) is None:
        raise ValueError(f"${{env:{target}}}: an environment variable name has only letters, "
                         "digits and '_' and does not start with a digit")
    return scheme, target


class Secret:
    """A secret value or a reference to one; `repr`/`str` show `***`, `reveal()` resolves it.

    A text starting with `${` must be a valid reference (ValueError otherwise)."""

    __slots__ = ("_base", "_literal", "_ref_kind", "_ref_target")

    def __init__(self, text: str, *, base: Path | None = None) -> None:
        ref = parse_reference(text)
        self._base = base
        if ref is not None:
            self._literal: str | None = None
            self._ref_kind: str | None = ref[0]
            self._ref_target: str | None = ref[1]
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

    @property
    def inline(self) -> bool:
        """True when the secret is written in the file itself (not a reference)."""
        return self._literal is not None

    def file_path(self) -> Path | None:
        """The file a `${file:..}` reference names (relative ones against the lab's
        directory), None for other secrets."""
        if self._ref_kind != "file" or self._ref_target is None:
            return None
        path = Path(self._ref_target).expanduser()
        if not path.is_absolute() and self._base is not None:
            path = self._base / path
        return path

    def outside_base(self) -> bool:
        """Whether a `${file:..}` reference leads outside the lab's directory (absolute, `..`
        or a symlink out of it)."""
        path = self.file_path()
        if path is None:
            return False
        if self._base is None:
            return True
        return not path.resolve().is_relative_to(self._base.resolve())

    def reveal(self) -> str:
        """The secret's value; raises ConfigError naming the reference when it cannot resolve."""
        if self._literal is not None:
            return self._literal
        if self._ref_kind == "env":
            name = self._ref_target or ""
            value = os.environ.get(name)
            if value is None:
                raise ConfigError(
                    f"environment variable {name} is not set (the lab refers to it as "
                    f"${{env:{name}}})"
                )
            return value
        path = self.file_path()
        assert path is not None
        return _read_secret_file(path).strip()

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


def _read_secret_file(path: Path) -> str:
    """A secret file's text: a regular file of at most MAX_SECRET_FILE_BYTES, UTF-8."""
    from harness.base.yaml_read import read_input

    try:
        raw = read_input(path, limit=MAX_SECRET_FILE_BYTES)
    except ConfigError as exc:
        raise ConfigError(f"cannot read secret file {path}: {exc.reason}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"secret file {path} is not UTF-8 text") from None
