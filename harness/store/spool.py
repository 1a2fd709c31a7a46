"""The on-disk spool of a run's InfluxDB points: append-only line protocol, fsync'd batches,
and per-target acknowledgement offsets, so that no point is lost and none is sent twice.

Files in the run directory:
- `influx-spool.lp`: every line ever meant for InfluxDB, appended in batches, each batch
  flushed and fsync'd before any of it is sent;
- `influx-spool.json`: format version and, per target (url, org, bucket), the byte offset up
  to which that server acknowledged the lines (rewritten atomically after each answer);
- `influx-spool.lock`: held (flock) by whoever is sending, so that two processes never
  send the same lines.

A crash between a server's answer and the offset update re-sends what was acknowledged since
the last saved offset (at most one batch, or a quarter of a second of batches when sending at
full speed): the same points (same series, same nanosecond timestamp), which InfluxDB stores
once. A crash in the
middle of an append leaves a torn last line; it is cut off when the spool is next opened (its
sample is still in samples.sqlite).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.base import jsonio
from harness.base.errors import HarnessError

FORMAT_VERSION = 1
DATA_NAME = "influx-spool.lp"
META_NAME = "influx-spool.json"
LOCK_NAME = "influx-spool.lock"


@dataclass(frozen=True)
class Destination:
    """Where spooled lines go: a server and an InfluxDB org and bucket (never a token)."""

    url: str
    org: str
    bucket: str

    @property
    def key(self) -> str:
        """How the spool names this destination in its acknowledgement table."""
        return f"{self.url.rstrip('/')}|{self.org}|{self.bucket}"

    def __str__(self) -> str:
        return f"{self.url.rstrip('/')} (org {self.org}, bucket {self.bucket})"


class SpoolError(HarnessError):
    """A spool that cannot be read (newer format, damaged metadata)."""


class SpoolBusy(SpoolError):
    """Another process is sending this spool (a run in progress, or `harness push`)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"format_version": FORMAT_VERSION, "destination": None, "acked": {}}
    try:
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        version = int(meta["format_version"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SpoolError(f"{path}: unreadable spool metadata ({exc})") from None
    if version > FORMAT_VERSION:
        raise SpoolError(f"{path} has spool format {version}, newer than this harness reads "
                         f"({FORMAT_VERSION}): upgrade ran-harness")
    meta.setdefault("acked", {})
    meta.setdefault("destination", None)
    meta["format_version"] = FORMAT_VERSION
    return meta


def peek(run_dir: Path) -> tuple[Destination | None, int, dict[str, int]] | None:
    """(the run's own destination, spooled bytes, acknowledged offsets by destination key)
    without taking the lock; None when the run has no spool."""
    if not (run_dir / META_NAME).is_file():
        return None
    meta = _read_meta(run_dir / META_NAME)
    data = run_dir / DATA_NAME
    size = data.stat().st_size if data.exists() else 0
    dest = Destination(**meta["destination"]) if meta.get("destination") else None
    return dest, size, {k: int(v) for k, v in meta["acked"].items()}


class Spool:
    """Exclusive access to one run's spool (raises SpoolBusy when another process has it).
    `destination` is recorded as the run's own target when given."""

    def __init__(self, run_dir: Path, destination: Destination | None = None) -> None:
        self.run_dir = run_dir
        self.data_path = run_dir / DATA_NAME
        self.meta_path = run_dir / META_NAME
        self._lock = self._take_lock()
        try:
            self._meta = _read_meta(self.meta_path)
            if destination is not None and self._meta.get("destination") is None:
                self._meta["destination"] = destination.__dict__.copy()
            self._write_meta()
            self._repair_tail()
            self._out = open(self.data_path, "ab")  # noqa: SIM115 - kept open for appends
        except BaseException:
            self._unlock()
            raise

    def _take_lock(self) -> IO[bytes]:
        handle = open(self.run_dir / LOCK_NAME, "wb")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise SpoolBusy(f"{self.run_dir.name}: its InfluxDB spool is in use by another "
                            "harness process (a run still sending, or a push); try later") from None
        return handle

    def _unlock(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        self._lock.close()

    def _write_meta(self, *, sync_dir: bool = True) -> None:
        tmp = self.meta_path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(jsonio.dumps(self._meta, indent=2, sort_keys=True))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.meta_path)
        if sync_dir:
            _fsync_dir(self.run_dir)

    def _repair_tail(self) -> None:
        if not self.data_path.exists():
            return
        size = self.data_path.stat().st_size
        if size == 0:
            return
        with open(self.data_path, "rb+") as data:
            data.seek(max(0, size - 65536))
            tail = data.read()
            if tail.endswith(b"\n"):
                return
            cut = tail.rfind(b"\n")
            keep = size - len(tail) + cut + 1 if cut >= 0 else 0
            if keep == 0 and size > 65536:  # no newline in the last 64 KiB: search the file
                data.seek(0)
                keep = data.read().rfind(b"\n") + 1
            data.truncate(keep)
            data.flush()
            os.fsync(data.fileno())

    @property
    def destination(self) -> Destination | None:
        """The target the run itself sent to (None for a spool built by `harness push`)."""
        found = self._meta.get("destination")
        return Destination(**found) if found else None

    @property
    def size(self) -> int:
        """Bytes spooled so far."""
        return self._out.tell()

    def acked(self, dest: Destination) -> int:
        """The byte offset up to which `dest` acknowledged the lines."""
        return int(self._meta["acked"].get(dest.key, 0))

    def pending_bytes(self, dest: Destination) -> int:
        """Bytes not yet acknowledged by `dest`."""
        return self.size - self.acked(dest)

    def pending_lines(self, dest: Destination) -> int:
        """Lines (points) not yet acknowledged by `dest`."""
        count = 0
        with open(self.data_path, "rb") as data:
            data.seek(self.acked(dest))
            for block in iter(lambda: data.read(1 << 20), b""):
                count += block.count(b"\n")
        return count

    def append(self, data: bytes) -> None:
        """Append whole lines (ending in a newline) and make them durable before returning."""
        if not data:
            return
        self._out.write(data)
        self._out.flush()
        os.fdatasync(self._out.fileno())

    def batches(self, dest: Destination, max_bytes: int) -> Iterator[tuple[int, bytes]]:
        """(end offset, body) pieces of whole lines from `dest`'s offset to the spool's end."""
        start, end = self.acked(dest), self.size
        with open(self.data_path, "rb") as data:
            data.seek(start)
            carry = b""
            offset = start
            while offset < end:
                chunk = carry + data.read(min(max_bytes, end - offset))
                offset += len(chunk) - len(carry)
                cut = chunk.rfind(b"\n") + 1
                if cut == 0:  # one line longer than max_bytes: read on to its end
                    carry = chunk
                    continue
                carry = chunk[cut:]
                yield offset - len(carry), chunk[:cut]

    def ack(self, dest: Destination, offset: int, *, persist: bool = True) -> None:
        """Record that `dest` stored everything before `offset`; with `persist=False` only in
        memory until the next persisted ack or `save()` (fewer fsyncs when sending fast)."""
        self._meta["acked"][dest.key] = offset
        if persist:
            self.save()

    def save(self) -> None:
        """Make the acknowledgement offsets durable (a rename: the old or the new offsets
        survive a crash, and an old offset only means a batch is sent once more)."""
        self._write_meta(sync_dir=False)

    def forget(self, dest: Destination) -> None:
        """Start over for `dest` (re-send everything; the server stores each point once)."""
        self._meta["acked"].pop(dest.key, None)
        self._write_meta()

    def close(self) -> None:
        """Close the data file and release the lock."""
        self._out.close()
        self._unlock()
