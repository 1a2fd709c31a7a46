"""The Ed25519 key that signs a run's manifest: given in lab.yaml by reference
(`signing: {key: "${file:keys/lab.key}"}`), else one key per lab generated on first use in
`$XDG_CONFIG_HOME/ran-harness/keys/<lab>.key` (mode 0600, `<lab>.pub` beside it).

A private key is a PEM PKCS#8 block (what `openssl genpkey -algorithm ed25519` writes) or the
32-byte seed in base64. Public keys are written as PEM SubjectPublicKeyInfo. A key's
fingerprint is the SHA-256 of its 32 raw public bytes, in hex groups of four
(`3f9a:0b12:…`, 16 groups), what the summary, the report and `harness verify` print.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from harness.base.errors import ConfigError
from harness.base.secrets import Secret

__all__ = ["Signer", "fingerprint", "key_dir", "lab_signer", "load_private_key",
           "load_public_key", "public_pem", "verify_signature"]


def key_dir() -> Path:
    """Where generated lab keys live: $XDG_CONFIG_HOME (or ~/.config)/ran-harness/keys."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "ran-harness" / "keys"


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex in colon-separated groups of four."""
    digest = hashlib.sha256(_raw_public(key)).hexdigest()
    return ":".join(digest[i:i + 4] for i in range(0, len(digest), 4))


def public_pem(key: Ed25519PublicKey) -> str:
    """The public key as PEM SubjectPublicKeyInfo text."""
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_private_key(text: str, where: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM PKCS#8 text or a base64 32-byte seed; ConfigError
    naming `where` (never the key) otherwise."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise ConfigError(f"{where}: not a readable unencrypted PEM private key "
                              f"({type(exc).__name__}); write one with `openssl genpkey "
                              "-algorithm ed25519`") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{where}: the key is not Ed25519 (the manifest is signed with "
                              "Ed25519: `openssl genpkey -algorithm ed25519`)")
        return key
    seed = _base64_key(text, f"{where}: expected an Ed25519 private key as PEM or as a base64 "
                             "32-byte seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_public_key(data: bytes, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM SubjectPublicKeyInfo or base64 of its 32 raw bytes."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: not a readable PEM public key "
                              f"({type(exc).__name__})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{where}: not an Ed25519 public key")
        return key
    raw = _base64_key(text, f"{where}: expected an Ed25519 public key as PEM or as base64 of "
                            "its 32 raw bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def _base64_key(text: str | bytes, refusal: str) -> bytes:
    """The 32 bytes a base64 key text holds; ConfigError(`refusal`) for anything else."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(refusal)
    return raw


def verify_signature(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """True when `signature` is `key`'s Ed25519 signature of `data`."""
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Signer:
    """A private key ready to sign, where it came from (a reference or a generated file,
    never its value) and whether it was generated just now."""

    key: Ed25519PrivateKey
    origin: str
    generated: bool = False

    @property
    def public(self) -> Ed25519PublicKey:
        """The public half."""
        return self.key.public_key()

    @property
    def fingerprint(self) -> str:
        """The public key's fingerprint."""
        return fingerprint(self.public)

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `data`."""
        return self.key.sign(data)

    def __repr__(self) -> str:
        return f"Signer(origin={self.origin!r}, fingerprint={self.fingerprint!r})"


def _generated(lab_name: str, directory: Path) -> Signer:
    """The lab's generated key, created (0600, with its .pub beside it) when absent. Two
    processes creating it at once end with one key: the file is linked in place atomically
    and the loser reads the winner's."""
    path = directory / f"{lab_name}.key"
    if path.is_file():
        return Signer(_read_key_file(path), str(path))
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = directory / f".{lab_name}.key.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            try:
                os.link(tmp, path)
            except FileExistsError:  # another process made it first: use that one
                return Signer(_read_key_file(path), str(path))
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        pub = directory / f"{lab_name}.pub"
        pub.write_text(public_pem(key.public_key()), encoding="ascii")
    except OSError as exc:
        raise ConfigError(f"cannot create the lab's signing key in {directory}: "
                          f"{exc.strerror or exc} (or give one in lab.yaml: signing: {{key: "
                          "\"${file:keys/lab.key}\"}})") from None
    return Signer(key, str(path), generated=True)


def _read_key_file(path: Path) -> Ed25519PrivateKey:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the signing key {path}: {exc}") from None
    return load_private_key(text, str(path))


def lab_signer(lab_name: str, reference: Secret | None,
               directory: Path | None = None) -> Signer:
    """The signer of a lab's runs: its `signing.key` secret when given (resolved now; a
    ConfigError names the reference), else the lab's generated key in `directory`
    (default `key_dir()`)."""
    if reference is not None:
        where = f"signing.key {reference.reference or '(inline)'}"
        return Signer(load_private_key(reference.reveal(), where), where)
    return _generated(lab_name, directory or key_dir())


def signing_entry(signer: Signer) -> dict[str, str]:
    """summary.json's `signing`: algorithm, the key's fingerprint and where the run keeps
    its public key (never the key's origin path or value)."""
    from harness.store.manifest import PUBLIC_KEY, SIGNATURE

    return {"algorithm": "Ed25519", "fingerprint": signer.fingerprint,
            "public_key": PUBLIC_KEY, "signature": SIGNATURE}
