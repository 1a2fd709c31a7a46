"""Writing run files so that a storage fault is a StorageError naming the file, never a
traceback, and never a half-written file in place of a good one; and where a run's summary
goes when its own directory cannot take it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.base.errors import StorageError

__all__ = ["fallback", "fallback_dirs", "storage_errors", "write_text"]


@contextlib.contextmanager
def storage_errors(path: Path | str) -> Iterator[None]:
    """Turn an OSError raised inside the block into a StorageError naming `path`."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError.from_os(exc.filename or path, exc) from exc


def write_text(path: Path, text: str, *, atomic: bool = True) -> None:
    """Write `text` (UTF-8) to `path`; atomic: through a temporary file renamed over it, so
    a full disk leaves the previous content (or nothing), never a truncated file.
    StorageError (path and OS reason) on failure."""
    if not atomic:
        with storage_errors(path):
            path.write_text(text, encoding="utf-8")
        return
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with storage_errors(path):
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
            os.replace(tmp, path)
    except StorageError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def fallback_dirs(run_id: str) -> list[Path]:
    """Where a run's summary goes when its run directory cannot take it, in order of
    preference: $XDG_CACHE_HOME (or ~/.cache)/ran-harness/unsaved/<run-id>, then the
    system's temporary directory ($TMPDIR)/ran-harness-unsaved/<run-id>."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [Path(cache) / "ran-harness" / "unsaved" / run_id,
            Path(tempfile.gettempdir()) / "ran-harness-unsaved" / run_id]


def fallback(run_dir: Path, run_id: str, summary: dict[str, Any], name: str,
             write: Callable[[Path], Path | None], say: Callable[[str], None]) -> Path | None:
    """Write run file `name` with `write(directory)` into the first fallback directory outside
    the run directory that takes it (recorded in `summary["fallback"]`, said on the console);
    None when none does (said too)."""
    for directory in fallback_dirs(run_id):
        summary.setdefault("fallback", {})[name] = str(directory / name)
        try:
            if write(directory) is None:
                continue
        except StorageError as exc:
            say(f"fallback failed too: {exc}")
            continue
        say(f"{name} written to {directory / name} instead of the run directory {run_dir}")
        return directory / name
    summary.get("fallback", {}).pop(name, None)
    say(f"{name} could not be written anywhere (tried the run directory and "
        f"{', '.join(map(str, fallback_dirs(run_id)))})")
    return None
