"""Where the campaign queue lives: a database URL, SQLite by default, PostgreSQL by URL.

A PostgreSQL password is given by reference (`postgresql://lab:${env:PGPASS}@host/db` or
`${file:PATH}`), resolved through harness.base.secrets when the connection is made, and
never printed: `shown()` gives the URL with the password masked."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from harness.base.errors import ConfigError
from harness.base.secrets import Secret

if TYPE_CHECKING:
    import sqlalchemy as sa

DEFAULT_DB_PATH = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local/state") \
    / "ran-harness" / "campaign.sqlite"
"""The embedded default: one SQLite file, no server."""

DB_ENV = "HARNESS_CAMPAIGN_DB"
"""Environment variable naming the database URL when `--db` is not given."""

_PG = re.compile(r"^(postgres(?:ql)?(?:\+[A-Za-z0-9]+)?://)([^:/@]*)(?::(.*))?@([^@]+)$")


def default_url() -> str:
    """`$HARNESS_CAMPAIGN_DB`, else the SQLite file under ~/.local/state/ran-harness."""
    return os.environ.get(DB_ENV) or f"sqlite:///{DEFAULT_DB_PATH}"


def resolve_url(url: str | None) -> str:
    """The URL DBOS connects with: the password reference resolved (ConfigError when the
    reference cannot be), SQLite's directory created."""
    url = url or default_url()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True,
                                                                       exist_ok=True)
        return "sqlite:///" + str(Path(url.removeprefix("sqlite:///")).expanduser())
    match = _PG.match(url)
    if match is None:
        raise ConfigError(f"--db {shown(url)}: give sqlite:///PATH or "
                          "postgresql://USER:${env:VAR}@HOST:PORT/DB")
    scheme, user, password, rest = match.groups()
    if password is None:
        return url
    try:
        secret = Secret(password)
        value = secret.reveal()
    except (ValueError, ConfigError) as exc:
        raise ConfigError(f"--db {shown(url)}: password: {exc}") from None
    return f"{scheme}{user}:{quote(value, safe='')}@{rest}"


def shown(url: str | None) -> str:
    """The URL safe to print: an inline password masked, a reference kept (it names no
    secret)."""
    url = url or default_url()
    match = _PG.match(url)
    if match is None or match.group(3) is None:
        return url
    scheme, user, password, rest = match.groups()
    masked = password if password.strip().startswith("${") else "***"
    return f"{scheme}{user}:{masked}@{rest}"


def masked(text: str, url: str) -> str:
    """`text` (a driver's error message) with the resolved URL's password masked, first line
    only."""
    match = _PG.match(url)
    if match and match.group(3):
        text = text.replace(match.group(3), "***")
    return text.splitlines()[0] if text else text


def sql_engine(resolved_url: str, *, connect_timeout_s: float | None = None,
               **options: Any) -> sa.Engine:
    """A SQLAlchemy engine on the campaign database (a resolved URL) for our own tables and
    probes beside DBOS's: PostgreSQL through psycopg 3 (with `connect_timeout_s` when given),
    `options` to `create_engine`."""
    import sqlalchemy as sa

    url = resolved_url
    args: dict[str, object] = {}
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
        if connect_timeout_s is not None:
            args["connect_timeout"] = connect_timeout_s
    return sa.create_engine(url, connect_args=args, **options)
