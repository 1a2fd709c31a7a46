"""The SFTP subsystem of the simulated equipment's SSH server: one directory, no way out.

Clients see the device's flash directory as `/`. A path that climbs above it (`../x`,
`/a/../../x`) is refused with permission denied, never clamped; symbolic links are neither
created nor followed. Files are capped at `MAX_FILE_BYTES`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO, Any

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_OK, SFTP_OP_UNSUPPORTED, SFTP_PERMISSION_DENIED

MAX_FILE_BYTES = 64 * 1024 * 1024


class PathEscape(ValueError):
    """A path that would leave the root directory."""


def resolve_in_root(root: Path, path: str) -> Path:
    """The file `path` names inside `root` (absolute paths are relative to `root`).

    Raises PathEscape when `..` climbs above `root` or a symbolic link points outside it.
    """
    parts: list[str] = []
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise PathEscape(f"path {path!r} leaves the device's storage")
            parts.pop()
            continue
        parts.append(part)
    root = root.resolve()
    target = root.joinpath(*parts)
    real = target.resolve()
    if real != root and root not in real.parents:
        raise PathEscape(f"path {path!r} leaves the device's storage")
    return target


def virtual_path(root: Path, target: Path) -> str:
    """How a client sees `target`: `/` plus its path relative to `root`."""
    rel = target.relative_to(root.resolve()).as_posix()
    return "/" if rel == "." else "/" + rel


class _Handle(paramiko.SFTPHandle):
    """An open file; writes beyond MAX_FILE_BYTES fail."""

    def __init__(self, flags: int, file: IO[bytes]) -> None:
        super().__init__(flags)
        self.readfile = file
        self.writefile = file

    def write(self, offset: int, data: Any) -> int:
        if offset + len(data) > MAX_FILE_BYTES:
            return SFTP_FAILURE
        return super().write(offset, data)

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or errno.EIO)

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK  # permissions and times are the device's business


class RootedSftp(paramiko.SFTPServerInterface):
    """paramiko SFTP server interface serving one directory as `/`."""

    def __init__(self, server: paramiko.ServerInterface, root: Path, *args: Any,
                 **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)

    def _path(self, path: str) -> Path | int:
        try:
            return resolve_in_root(self._root, path)
        except PathEscape:
            return SFTP_PERMISSION_DENIED

    def canonicalize(self, path: str) -> str:
        target = self._path(path)
        if isinstance(target, int):
            return "/"
        return virtual_path(self._root, target)

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        target = self._path(path)
        if isinstance(target, int):
            return target
        try:
            entries = []
            for name in sorted(os.listdir(target)):
                attr = paramiko.SFTPAttributes.from_stat(os.lstat(target / name))
                attr.filename = name
                entries.append(attr)
            return entries
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or errno.EIO)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        return self.lstat(path)

    def lstat(self, path: str) -> paramiko.SFTPAttributes | int:
        target = self._path(path)
        if isinstance(target, int):
            return target
        try:
            return paramiko.SFTPAttributes.from_stat(os.lstat(target))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or errno.EIO)

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> Any:
        target = self._path(path)
        if isinstance(target, int):
            return target
        try:
            fd = os.open(target, flags | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or errno.EIO)
        if flags & os.O_WRONLY:
            mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            mode = "rb"
        return _Handle(flags, os.fdopen(fd, mode))

    def remove(self, path: str) -> int:
        return self._call(os.remove, path)

    def rmdir(self, path: str) -> int:
        return self._call(os.rmdir, path)

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return self._call(os.mkdir, path)

    def rename(self, oldpath: str, newpath: str) -> int:
        old, new = self._path(oldpath), self._path(newpath)
        if isinstance(old, int):
            return old
        if isinstance(new, int):
            return new
        if new.exists():
            return SFTP_FAILURE  # SFTP v3 rename does not overwrite
        return self._os(os.rename, old, new)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        old, new = self._path(oldpath), self._path(newpath)
        if isinstance(old, int):
            return old
        if isinstance(new, int):
            return new
        return self._os(os.replace, old, new)

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        target = self._path(path)
        return target if isinstance(target, int) else SFTP_OK

    def readlink(self, path: str) -> str | int:
        return SFTP_OP_UNSUPPORTED

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def _call(self, func: Any, path: str) -> int:
        target = self._path(path)
        if isinstance(target, int):
            return target
        if target == self._root.resolve():
            return SFTP_PERMISSION_DENIED
        return self._os(func, target)

    @staticmethod
    def _os(func: Any, *args: Path) -> int:
        try:
            func(*args)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno or errno.EIO)
        return SFTP_OK


def add_sftp(transport: paramiko.Transport, root: Path) -> None:
    """Serve the `sftp` subsystem on `transport`, rooted at `root`."""
    transport.set_subsystem_handler("sftp", paramiko.SFTPServer, RootedSftp, root)


__all__ = ["MAX_FILE_BYTES", "PathEscape", "RootedSftp", "add_sftp", "resolve_in_root",
           "virtual_path"]
