"""SFTP put/get with SHA-256 verification of what arrived. Part of the SSH transport.

A file travels under a temporary name next to its destination and is renamed into place only
once its SHA-256 matches the source's, so a half-written or corrupted firmware image never
sits under the real name. How the far side's hash is taken:

- `read-back` (default): the remote file is read back over SFTP and hashed here. Works with
  any SFTP server (also `internal-sftp` in a chroot, or a device with no shell) and runs no
  command on the device; costs one more transfer of the file.
- `sha256sum`: `sha256sum -- FILE` runs on the device over an exec channel. No second
  transfer, but the device needs a POSIX shell with coreutils.
"""

from __future__ import annotations

import hashlib
import secrets
import shlex
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, cast

import paramiko

from drivers.transport.devlog import DeviceLog
from harness.base.errors import CommandFailed, ConfigError

Verify = Literal["read-back", "sha256sum"]
VERIFY_MODES: tuple[Verify, ...] = ("read-back", "sha256sum")
_CHUNK = 1 << 20
Exec = Callable[[str], tuple[int, str]]
"""Blocking: run a command on the device, return (exit status, stdout)."""


@dataclass(frozen=True)
class Transfer:
    """A verified file transfer: both ends hold `size` bytes hashing to `sha256`."""

    local: str
    remote: str
    size: int
    sha256: str
    verified_by: Verify


class _Hashing:
    """A file wrapper that hashes every byte read from or written to it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.inner.write(data)


def file_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a local file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_mode(verify: str) -> Verify:
    for mode in VERIFY_MODES:
        if verify == mode:
            return mode
    raise ConfigError(f"SFTP verify must be one of {', '.join(VERIFY_MODES)}, got {verify!r}")


class SftpOps:
    """Blocking SFTP operations on one connection, for one device."""

    def __init__(self, transport: paramiko.Transport, device: str, log: DeviceLog,
                 run: Exec) -> None:
        self.device = device
        self.log = log
        self._run = run
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise CommandFailed(f"{device}: SFTP is not available: {exc}; enable the sftp "
                                "subsystem on the device") from None
        if sftp is None:
            raise CommandFailed(f"{device}: SFTP is not available on this connection")
        self.sftp: paramiko.SFTPClient = sftp

    def close(self) -> None:
        """Close the SFTP channel."""
        self.sftp.close()

    def put(self, local: Path, remote: str, verify: str,
            expected_sha256: str | None = None) -> Transfer:
        """Upload `local` to `remote` (replaced only after verification)."""
        mode = _check_mode(verify)
        temp = f"{remote}.part-{secrets.token_hex(4)}"
        with local.open("rb") as handle:
            source = _Hashing(handle)
            reader = cast(IO[bytes], source)
            self._io(f"upload {local} to {temp}", lambda: self.sftp.putfo(reader, temp))
        sent = source.hash.hexdigest()
        try:
            self._expect(expected_sha256, sent, f"local file {local}")
            arrived = self._remote_sha256(temp, mode)
            if arrived != sent:
                raise CommandFailed(
                    f"{self.device}: SHA-256 of {remote} after upload is {arrived}, the local "
                    f"file's is {sent}: the copy is corrupt and was deleted; try again")
            self._io(f"rename {temp} to {remote}", lambda: self.sftp.posix_rename(temp, remote))
        except BaseException:
            self._remove_quietly(temp)
            raise
        self.log.info("sftp put %s -> %s (%d bytes, sha256 %s, verified by %s)", local, remote,
                      source.size, sent, mode)
        return Transfer(str(local), remote, source.size, sent, mode)

    def get(self, remote: str, local: Path, verify: str,
            expected_sha256: str | None = None) -> Transfer:
        """Download `remote` to `local` (replaced only after verification)."""
        mode = _check_mode(verify)
        temp = local.with_name(f"{local.name}.part-{secrets.token_hex(4)}")
        try:
            with temp.open("wb") as handle:
                sink = _Hashing(handle)
                writer = cast(IO[bytes], sink)
                self._io(f"download {remote}", lambda: self.sftp.getfo(remote, writer))
            written, size = file_sha256(temp)
            source = self._remote_sha256(remote, mode)
            if written != source or sink.hash.hexdigest() != source:
                raise CommandFailed(
                    f"{self.device}: SHA-256 of the downloaded {remote} is {written}, the "
                    f"device's copy hashes to {source}: the download is corrupt; try again")
            self._expect(expected_sha256, written, f"{remote} on the device")
            temp.replace(local)
        finally:
            temp.unlink(missing_ok=True)
        self.log.info("sftp get %s -> %s (%d bytes, sha256 %s, verified by %s)", remote, local,
                      size, written, mode)
        return Transfer(str(local), remote, size, written, mode)

    def _expect(self, expected: str | None, actual: str, what: str) -> None:
        if expected is not None and expected.lower() != actual:
            raise CommandFailed(f"{self.device}: SHA-256 of {what} is {actual}, expected "
                                f"{expected.lower()}; check the file and its published hash")

    def _remote_sha256(self, remote: str, mode: Verify) -> str:
        if mode == "sha256sum":
            status, out = self._run(f"sha256sum -- {shlex.quote(remote)}")
            word = out.split(maxsplit=1)[0] if out.strip() else ""
            if status != 0 or len(word) != 64:
                raise CommandFailed(
                    f"{self.device}: `sha256sum` on the device failed (exit {status}: "
                    f"{out.strip()[:200]!r}); use verify read-back for this device")
            return word.lower()
        digest = hashlib.sha256()

        def read_back() -> None:
            size = self.sftp.stat(remote).st_size or 0
            with self.sftp.open(remote, "rb") as handle:
                handle.prefetch(size)
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)

        self._io(f"read back {remote}", read_back)
        return digest.hexdigest()

    def _io(self, what: str, step: Callable[[], object]) -> None:
        try:
            step()
        except FileNotFoundError:
            raise CommandFailed(f"{self.device}: SFTP {what}: no such file or folder") from None
        except PermissionError:
            raise CommandFailed(f"{self.device}: SFTP {what}: permission denied") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise CommandFailed(f"{self.device}: SFTP {what} failed: {exc}") from None

    def _remove_quietly(self, remote: str) -> None:
        try:
            if stat.S_ISREG(self.sftp.stat(remote).st_mode or 0):
                self.sftp.remove(remote)
        except (OSError, EOFError, paramiko.SSHException):
            pass
