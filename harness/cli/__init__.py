"""The `harness` command line: click commands and progress displays (nothing imports this)."""

from __future__ import annotations

from harness.cli.main import cli, main

__all__ = ["cli", "main"]
