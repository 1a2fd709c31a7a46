"""A run directory's evidence manifest: `manifest.json` lists every file with its SHA-256
and size; `manifest.sig` is the Ed25519 signature of manifest.json's exact bytes (base64, one
line); `manifest.pub` is the signer's public key (PEM). Written last, after the report and
the summary; `harness verify` checks all three.

Not listed, because they are not evidence and change after the run by design: the three
manifest files themselves and the InfluxDB delivery state (`influx-spool.json`, the
acknowledged offsets `harness push` rewrites, and `influx-spool.lock`). `influx-spool.lp` is
listed when the run wrote it; one that `harness push` builds later from samples.sqlite (a run
without InfluxDB) is reported as unsigned delivery state, not as tampering.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.base.errors import ConfigError
from harness.base.secrets import Secret
from harness.base.sinks import Sink
from harness.store.files import storage_errors, write_text
from harness.store.signing import (
    Signer,
    fingerprint,
    lab_signer,
    load_public_key,
    public_pem,
    signing_entry,
    verify_signature,
)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "manifest.pub"
_OWN = frozenset({MANIFEST, SIGNATURE, PUBLIC_KEY})
DELIVERY_STATE = frozenset({"influx-spool.json", "influx-spool.lock"})
"""Rewritten after the run (acknowledgements of `harness push`): never signed."""
LATE_DELIVERY = frozenset({"influx-spool.lp"})
"""May be built after the run by `harness push` from samples.sqlite: unsigned if so."""
_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size in bytes) of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _walk(run_dir: Path) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, path) of every file and symlink under run_dir, sorted; the
    manifest's own files and the delivery state left out. Symlinks are not followed."""
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(run_dir, followlinks=False):
        base = Path(root)
        links = [d for d in dirs if (base / d).is_symlink()]
        for name in [*files, *links]:
            path = base / name
            rel = path.relative_to(run_dir).as_posix()
            if rel in _OWN or rel in DELIVERY_STATE:
                continue
            found.append((rel, path))
    yield from sorted(found)


def _entry(rel: str, path: Path) -> dict[str, Any]:
    if path.is_symlink():
        target = os.readlink(path)
        return {"path": rel, "symlink": target,
                "sha256": hashlib.sha256(target.encode("utf-8", "surrogateescape")).hexdigest(),
                "size": 0}
    digest, size = sha256_file(path)
    return {"path": rel, "sha256": digest, "size": size}


def build_manifest(run_dir: Path, run_id: str, signer_fingerprint: str) -> dict[str, Any]:
    """The manifest of run_dir as it is now."""
    return {"format_version": FORMAT_VERSION, "harness_version": __version__,
            "run_id": run_id, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "hash": "sha256", "signature": {"algorithm": "Ed25519", "file": SIGNATURE,
                                            "public_key": PUBLIC_KEY,
                                            "fingerprint": signer_fingerprint},
            "files": [_entry(rel, path) for rel, path in _walk(run_dir)]}


def write_manifest(run_dir: Path, run_id: str, signer: Signer) -> Path:
    """Hash every file of run_dir into manifest.json, sign it (manifest.sig) and put the
    public key beside it (manifest.pub). Call it last: a file written after it fails
    `harness verify`. StorageError naming the file when one cannot be written or read."""
    with storage_errors(run_dir):
        manifest = build_manifest(run_dir, run_id, signer.fingerprint)
    data = (json.dumps(manifest, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
    path = run_dir / MANIFEST
    write_text(path, data)
    with storage_errors(path):
        raw = path.read_bytes()  # sign the bytes on disk, exactly
    write_text(run_dir / SIGNATURE,
               base64.b64encode(signer.sign(raw)).decode("ascii") + "\n")
    write_text(run_dir / PUBLIC_KEY, public_pem(signer.public))
    return path


@dataclass
class Verification:
    """What `verify_run` found: problems (each one line naming a file), notes, and the
    fingerprint of the key that signed (None when the signature does not hold)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    signer: str | None = None
    files: int = 0

    @property
    def ok(self) -> bool:
        """True when the signature holds and every file matches."""
        return not self.problems and self.signer is not None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _signature_problems(run_dir: Path, raw: bytes, pubkey: Path | None,
                        result: Verification) -> None:
    key_path = pubkey or run_dir / PUBLIC_KEY
    key_data = _read(key_path)
    sig_text = _read(run_dir / SIGNATURE)
    if key_data is None:
        result.problems.append(f"missing public key: {key_path}")
        return
    if sig_text is None:
        result.problems.append(f"missing signature: {SIGNATURE}")
        return
    from harness.base.errors import ConfigError

    try:
        key = load_public_key(key_data, str(key_path))
    except ConfigError as exc:
        result.problems.append(f"bad public key: {exc}")
        return
    try:
        signature = base64.b64decode(sig_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != 64 or not verify_signature(key, signature, raw):
        whose = f"the key in {key_path}" if pubkey else f"the run's own key ({PUBLIC_KEY})"
        result.problems.append(f"bad signature: {SIGNATURE} does not match {MANIFEST} "
                               f"under {whose}, fingerprint {fingerprint(key)}")
        return
    result.signer = fingerprint(key)
    if pubkey is None:
        result.notes.append(f"signed by the run's own {PUBLIC_KEY}: compare its fingerprint "
                            "with the lab's, or give --pubkey to require a key")


def verify_run(run_dir: Path, pubkey: Path | None = None) -> Verification:
    """Check run_dir against its signed manifest: the signature (under `pubkey` when
    given, else the run's manifest.pub), then every listed file's hash and size, and no file
    beyond those listed."""
    result = Verification()
    raw = _read(run_dir / MANIFEST)
    if raw is None:
        result.problems.append(f"missing manifest: {run_dir / MANIFEST}")
        return result
    _signature_problems(run_dir, raw, pubkey, result)
    try:
        manifest = json.loads(raw)
        listed = {str(e["path"]): e for e in manifest["files"]}
        version = int(manifest.get("format_version", 0))
    except (ValueError, KeyError, TypeError) as exc:
        result.problems.append(f"unreadable manifest: {MANIFEST} ({type(exc).__name__})")
        return result
    if version > FORMAT_VERSION:
        result.problems.append(f"{MANIFEST} has format {version}, newer than this harness "
                               f"reads ({FORMAT_VERSION}): upgrade ran-harness")
        return result
    result.files = len(listed)
    present = dict(_walk(run_dir))
    for rel, entry in listed.items():
        path = present.get(rel)
        if path is None:
            result.problems.append(f"missing: {rel}")
            continue
        try:
            now = _entry(rel, path)
        except OSError as exc:
            result.problems.append(f"unreadable: {rel} ({exc.strerror or exc})")
            continue
        if now.get("sha256") != entry.get("sha256") or now.get("size") != entry.get("size") \
                or now.get("symlink") != entry.get("symlink"):
            result.problems.append(f"changed: {rel}")
    for rel in present:
        if rel in listed:
            continue
        if rel in LATE_DELIVERY:
            result.notes.append(f"{rel}: InfluxDB delivery queue built after the run (not "
                                "signed; its points come from the signed samples.sqlite)")
            continue
        result.problems.append(f"added: {rel}")
    return result


class ManifestSink(Sink):
    """Signs the run directory: its fingerprint into summary.json at `finish` (it comes just
    before the summary sink), manifest.json/.sig/.pub at `close`, after every other sink wrote
    its files (it closes last but for sinks that write nothing then). Without a signer given,
    the lab's key is resolved (or generated) at `finish`; a key that cannot be had leaves the
    run unsigned, said and recorded in summary.json `signing.error`."""

    name = "manifest"

    def __init__(self, signer: Signer | None = None, lab_name: str = "",
                 key: Secret | None = None) -> None:
        self.signer = signer
        self.lab_name = lab_name
        self.key = key
        self._ready = False

    def finish(self, summary: dict[str, Any]) -> None:
        """Record the signer's fingerprint (or why the run is unsigned)."""
        if self.signer is None:
            try:
                self.signer = lab_signer(self.lab_name or self.run.lab, self.key)
            except ConfigError as exc:
                summary["signing"] = {"error": str(exc)}
                self.run.notice(f"the run directory is not signed: {exc}", "error")
                return
            if self.signer.generated:
                self.run.notice(f"new signing key for lab {self.lab_name or self.run.lab}: "
                                f"{self.signer.origin}, fingerprint {self.signer.fingerprint}",
                                "warning")
        summary["signing"] = signing_entry(self.signer)
        self._ready = True

    def close(self) -> None:
        """Hash and sign the run directory, once summary.json is in it (StorageError: a
        storage fault of the run)."""
        run = self.run
        if self._ready and self.signer is not None and (run.run_dir / "summary.json").is_file():
            write_manifest(run.run_dir, run.run_id, self.signer)
