"""Small real file systems for storage-fault tests: a tmpfs of a few hundred KiB that a
filler file makes full, and a read-only bind mount over a directory. Both need root and
mount(8); tests skip (saying why) where this sandbox refuses to mount."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"mount {' '.join(args)}: {done.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (created), unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    except OSError as exc:
        pytest.skip(f"this sandbox does not allow mount: {exc}")
    try:
        yield path
    finally:
        _umount(path)


def fill(directory: Path) -> int:
    """Write a filler file in `directory` until its file system is full; bytes written."""
    written = 0
    with open(directory / ".filler", "wb", buffering=0) as out:
        block = b"\0" * 4096
        try:
            while True:
                written += out.write(block)
        except OSError:
            pass
    return written


def bind_read_only(path: Path) -> None:
    """Mount a read-only view of `path` over itself: files opened before stay writable
    (as on a disk whose mount turned read-only under open files); nothing new can be made."""
    _mount("--bind", "-o", "ro", str(path), str(path))


def unmount(path: Path) -> None:
    """Undo `bind_read_only` (lazy, so an open file does not block it)."""
    _umount(path)
