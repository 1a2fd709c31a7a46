"""click parameter types for the harness's command line: a bad value is a clear usage error
(exit 2, no traceback) before anything runs."""

from __future__ import annotations

from pathlib import Path

import click

from harness.base.schema import check_http_url, check_safe_name

__all__ = ["HTTP_URL", "RUN_REF", "HttpUrl", "RunRef"]


class RunRef(click.ParamType):  # type: ignore[type-arg]
    """A run: its id (or a unique prefix of it, or `last-pass` where allowed), or the path of
    a run directory holding summary.json. An id never becomes a path unchecked."""

    name = "run"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        """The value, if it is a run directory or a safe run id; else a usage error."""
        text = str(value)
        if text and (Path(text) / "summary.json").is_file():
            return text
        try:
            return check_safe_name(text, "a run id")
        except ValueError as exc:
            self.fail(f"{exc} (see `harness runs`; or give a run directory)", param, ctx)


class HttpUrl(click.ParamType):  # type: ignore[type-arg]
    """An http(s) URL with a host and a valid port."""

    name = "url"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        """The URL, if it parses as http(s)://HOST[:PORT]; else a usage error."""
        try:
            return check_http_url(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


RUN_REF = RunRef()
HTTP_URL = HttpUrl()
