"""The archive hand-off: after each run an agent started with `--archive DIR` copies the run
directory into the archive, only if its signature verifies against the key registered for its
bench, and atomically.

    DIR/BENCH/<run directory name>/      an archived run (what `harness campaign report` reads)
    DIR/.incoming/<name>.<pid>.<random>/ a copy under way (dot folders are never read as runs)

The copy is made under DIR/.incoming, every file and folder fsynced, verified again, then
renamed into place in one step: a crash leaves at most a stale folder under .incoming, never a
partial run under DIR/BENCH. A run already archived (the same signed manifest) is not copied
again, so an agent that restarts after archiving but before recording the run's end is
harmless. Returned to the queue entry: `{"archived": PATH}` or `{"refused": REASON}`.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from harness.base.errors import ConfigError

__all__ = ["INCOMING", "archive_run", "parse_key_option"]

INCOMING = ".incoming"


def parse_key_option(value: str) -> tuple[str, Path]:
    """`BENCH=PUBKEY` of the agent's `--key`; ConfigError when malformed or not a key."""
    from harness.store.signing import load_public_key

    bench, sep, path = value.partition("=")
    if not sep or not bench.strip() or not path.strip():
        raise ConfigError(f"--key {value}: give BENCH=PUBKEY_FILE")
    key = Path(path.strip())
    try:
        load_public_key(key.read_bytes(), str(key))
    except OSError as exc:
        raise ConfigError(f"--key {value}: cannot read {key}: {exc.strerror or exc}") from None
    return bench.strip(), key.resolve()


def _summary_bench(run_dir: Path) -> str | None:
    import json

    try:
        name = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["lab"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def _fsync_tree(root: Path) -> None:
    """fsync every regular file, then every folder (bottom up) of a copied tree."""
    for here, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = Path(here) / name
            if path.is_symlink():
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(here))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _problems(run_dir: Path, key: Path) -> str | None:
    from harness.store.manifest import verify_run

    result = verify_run(run_dir, key)
    if result.ok:
        return None
    more = len(result.problems) - 5
    return "; ".join(result.problems[:5]) + (f" (and {more} more)" if more > 0 else "")


def archive_run(run_dir: Path, bench: str, archive: Path,
                keys: dict[str, Path]) -> dict[str, Any]:
    """Copy `run_dir` (a run on `bench`) into `archive` if it verifies against `bench`'s key
    in `keys` ("*": every bench's); `{"archived": path}` or `{"refused": reason}`."""
    key = keys.get(bench) or keys.get("*")
    if key is None:
        return {"refused": f"no key registered for bench {bench} (agent --key {bench}=PUBKEY "
                           "or --campaign FILE with keys:)"}
    claimed = _summary_bench(run_dir)
    if claimed != bench:
        return {"refused": f"summary.json names bench {claimed!r}, not {bench!r}"}
    problems = _problems(run_dir, key)
    if problems is not None:
        return {"refused": f"verification against {bench}'s registered key failed: "
                           f"{problems}"}
    final = archive / bench / run_dir.name
    if final.exists():
        if _problems(final, key) is None and (final / "manifest.json").read_bytes() == \
                (run_dir / "manifest.json").read_bytes():
            return {"archived": str(final), "already": True}
        return {"refused": f"{final} exists and is not this run's signed copy"}
    temp = archive / INCOMING / f"{run_dir.name}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        temp.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(run_dir, temp, symlinks=True)
        _fsync_tree(temp)
        problems = _problems(temp, key)
        if problems is not None:
            return {"refused": f"the copy does not verify: {problems}"}
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(temp, final)  # one step: the run appears whole or not at all
        _fsync_dir(final.parent)
    except OSError as exc:
        return {"refused": f"copy into {archive} failed: {exc.strerror or exc}"}
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
    return {"archived": str(final)}
