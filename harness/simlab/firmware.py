"""Firmware images of the simulated gNodeB: the file format, its verification, install records.

The format is the simulator's own, checksummed (integrity against corruption and truncation;
not a signature: anyone can build an image). All integers are big-endian:

    offset    size  field
    0         8     magic b"RHSIMFW1"
    8         2     header length H (offset of the payload)
    10        2     flags, 0
    12        8     payload length P
    20        32    SHA-256 of the payload
    52        1     model length m, then m bytes of ASCII model name (e.g. "SimGNB-1")
    53+m      1     version length v, then v bytes of ASCII version ([A-Za-z0-9._+-], 1..32)
    H         P     payload (opaque)
    H+P       32    SHA-256 of bytes [0, H+P): the header and the payload

A device refuses an image whose magic, lengths, either digest or model do not match. Build one
with `build_image(version, payload)`; upload it over SFTP; `install firmware FILE` on the CLI.
"""

from __future__ import annotations

import hashlib
import re
import struct
import time
from dataclasses import dataclass
from enum import IntEnum

MAGIC = b"RHSIMFW1"
DEFAULT_MODEL = "SimGNB-1"
MAX_IMAGE_BYTES = 64 * 1024 * 1024
_FIXED = struct.Struct(">8sHHQ32s")  # magic, header length, flags, payload length, payload digest
_DIGEST = 32
_VERSION = re.compile(r"[A-Za-z0-9._+-]{1,32}")
_MODEL = re.compile(r"[A-Za-z0-9._+-]{1,64}")


class FirmwareError(Exception):
    """An image the device refuses; the message says why."""


@dataclass(frozen=True)
class FirmwareImage:
    """A verified image."""

    version: str
    model: str
    payload_sha256: str
    size: int


class InstallResult(IntEnum):
    """simFwLastInstallResult values."""

    NONE = 1
    SUCCESS = 2
    FAILURE = 3


@dataclass(frozen=True)
class InstallRecord:
    """The last install attempt, for `show firmware` and the MIB."""

    file: str
    result: InstallResult
    version: str
    reason: str
    at: float

    @property
    def at_iso(self) -> str:
        """Attempt time as ISO 8601 UTC."""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at))


def build_image(version: str, payload: bytes, *, model: str = DEFAULT_MODEL) -> bytes:
    """A valid image of `payload` announcing `version` for `model` (ValueError if malformed)."""
    if not _VERSION.fullmatch(version):
        raise ValueError(f"firmware version {version!r}: use 1..32 of A-Z a-z 0-9 . _ + -")
    if not _MODEL.fullmatch(model):
        raise ValueError(f"model {model!r}: use 1..64 of A-Z a-z 0-9 . _ + -")
    model_b, version_b = model.encode("ascii"), version.encode("ascii")
    header_len = _FIXED.size + 1 + len(model_b) + 1 + len(version_b)
    header = _FIXED.pack(MAGIC, header_len, 0, len(payload), hashlib.sha256(payload).digest())
    header += bytes([len(model_b)]) + model_b + bytes([len(version_b)]) + version_b
    body = header + payload
    return body + hashlib.sha256(body).digest()


def parse_image(data: bytes, *, model: str = DEFAULT_MODEL) -> FirmwareImage:
    """Verify an image for a device of `model`; FirmwareError says what is wrong."""
    if len(data) < _FIXED.size + 2 + _DIGEST:
        raise FirmwareError(f"not a firmware image: only {len(data)} bytes")
    magic, header_len, _flags, payload_len, payload_digest = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise FirmwareError("not a SimGNB firmware image (bad magic)")
    if header_len + payload_len + _DIGEST != len(data):
        raise FirmwareError(
            f"image length {len(data)} bytes does not match its header "
            f"({header_len + payload_len + _DIGEST} expected): truncated or padded")
    body = data[:-_DIGEST]
    if hashlib.sha256(body).digest() != data[-_DIGEST:]:
        raise FirmwareError("image checksum mismatch: the file is corrupt")
    payload = data[header_len:header_len + payload_len]
    if hashlib.sha256(payload).digest() != payload_digest:
        raise FirmwareError("payload checksum mismatch: the file is corrupt")
    try:
        image_model, pos = _text_field(data, _FIXED.size, header_len)
        version, _ = _text_field(data, pos, header_len)
    except (IndexError, UnicodeDecodeError):
        raise FirmwareError("malformed image header") from None
    if not _VERSION.fullmatch(version):
        raise FirmwareError(f"malformed version {version!r} in the image header")
    if image_model != model:
        raise FirmwareError(f"image is for model {image_model}, this device is {model}")
    return FirmwareImage(version=version, model=image_model,
                         payload_sha256=payload_digest.hex(), size=len(data))


def _text_field(data: bytes, pos: int, end: int) -> tuple[str, int]:
    length = data[pos]
    if pos + 1 + length > end:
        raise IndexError("field runs past the header")
    return data[pos + 1:pos + 1 + length].decode("ascii"), pos + 1 + length


__all__ = [
    "DEFAULT_MODEL",
    "MAGIC",
    "MAX_IMAGE_BYTES",
    "FirmwareError",
    "FirmwareImage",
    "InstallRecord",
    "InstallResult",
    "build_image",
    "parse_image",
]
