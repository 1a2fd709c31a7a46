"""Firmware upgrade as a measured procedure: upload, install, downtime, version check.

Through the device's `FirmwareControl` and `Facts` capabilities (no vendor code here):

1. read the running version and uptime;
2. upload the image (SFTP, SHA-256 verified on the device's side);
3. ask the device to install it; a refusal (corrupt image, wrong model) ends the procedure
   with the device's own message, and the version is read again to show the old one stayed;
4. poll the device's facts (each poll bounded by `poll_timeout_s`, failures backing off up to
   `backoff_max_s`, all bounded by `come_back_timeout_s`) until it answers *after a restart*:
   its uptime went back, or it was seen away and answers again;
5. compare the running version with the expected one.

Downtime is from the last answer before the device went away (or the install command's
answer) to the first answer after its restart: an upper bound, as fine as the poll cadence.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from drivers.capabilities import DeviceFacts, UploadedImage
from harness.base.errors import CommandFailed, ConfigError, HarnessError
from harness.base.units import Quantity

METRICS = ("firmware.downtime_s", "firmware.version_ok", "firmware.refused",
           "firmware.old_version_kept", "firmware.came_back", "firmware.upload_s",
           "firmware.back_after_s")
"""Metric names a firmware_upgrade trial produces (downtime and back-after only when it came
back)."""

_UPTIME_SLACK_S = 0.5  # an uptime this much below "no restart" means the device restarted


class UpgradableDevice(Protocol):
    """What the procedure needs of a device: FirmwareControl and Facts."""

    @property
    def name(self) -> str: ...

    async def facts(self) -> DeviceFacts: ...

    async def upload_firmware(self, image: Path, *,
                              expected_sha256: str | None = None) -> UploadedImage: ...

    async def install_firmware(self, remote: str) -> str: ...


@dataclass(frozen=True)
class UpgradeOptions:
    """One upgrade: the image, the version it should bring, and how long to wait for it."""

    image: Path
    expected_version: str | None = None  # None: any version other than the old one is ok
    expected_sha256: str | None = None  # of the image file, when the vendor publishes it
    come_back_timeout_s: float = 600.0
    poll_timeout_s: float = 1.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    backoff_factor: float = 1.5

    def __post_init__(self) -> None:
        for name in ("come_back_timeout_s", "poll_timeout_s", "backoff_initial_s",
                     "backoff_max_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"expected > 0, got {getattr(self, name)}",
                                  field=f"firmware.{name}")
        if self.backoff_factor < 1:
            raise ConfigError(f"expected >= 1, got {self.backoff_factor}",
                              field="firmware.backoff_factor")


@dataclass(frozen=True)
class UpgradeResult:
    """What the upgrade did. `error` is set when the device refused or did not come back."""

    device: str
    old_version: str
    new_version: str | None  # running after the procedure (None: never answered again)
    expected_version: str | None
    image_sha256: str
    upload: UploadedImage | None
    upload_s: float
    refused: bool
    came_back: bool
    downtime_s: float | None
    back_after_s: float | None  # install command's answer → first answer after the restart
    polls: int
    message: str  # the device's answer to the install command, or its refusal
    error: str | None = None

    @property
    def version_ok(self) -> bool:
        """The expected version runs (or, with none expected, a different one than before)."""
        if self.refused or not self.came_back or self.new_version is None:
            return False
        if self.expected_version is not None:
            return self.new_version == self.expected_version
        return self.new_version != self.old_version

    def metrics(self) -> dict[str, Quantity]:
        """The trial's metrics (flags as 1/0 counts, times in seconds)."""
        out = {
            "firmware.version_ok": Quantity(float(self.version_ok), ""),
            "firmware.refused": Quantity(float(self.refused), ""),
            "firmware.old_version_kept": Quantity(float(self.new_version == self.old_version),
                                                  ""),
            "firmware.came_back": Quantity(float(self.came_back), ""),
            "firmware.upload_s": Quantity(self.upload_s, "s"),
        }
        if self.downtime_s is not None:
            out["firmware.downtime_s"] = Quantity(self.downtime_s, "s")
        if self.back_after_s is not None:
            out["firmware.back_after_s"] = Quantity(self.back_after_s, "s")
        return out


def file_sha256(path: Path) -> str:
    """SHA-256 of a local file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def upgrade_firmware(device: UpgradableDevice, opts: UpgradeOptions) -> UpgradeResult:
    """Run the whole procedure; HarnessError for what stops it from being measured (no image,
    upload failed, device unreachable before the install)."""
    if not opts.image.is_file():
        raise ConfigError(f"firmware image {opts.image} does not exist: give the path of the "
                          "image file (relative to the scenario)", field="image")
    image_sha = file_sha256(opts.image)
    if opts.expected_sha256 is not None and image_sha != opts.expected_sha256.lower():
        raise ConfigError(f"firmware image {opts.image} has SHA-256 {image_sha}, not the "
                          f"expected {opts.expected_sha256}: the file is not the one published",
                          field="sha256")
    before = await device.facts()
    t_before = time.monotonic()
    t0 = time.monotonic()
    uploaded = await device.upload_firmware(opts.image, expected_sha256=image_sha)
    upload_s = time.monotonic() - t0
    start = UpgradeResult(device=device.name, old_version=before.firmware, new_version=None,
                          expected_version=opts.expected_version, image_sha256=image_sha,
                          upload=uploaded, upload_s=upload_s, refused=False, came_back=False,
                          downtime_s=None, back_after_s=None, polls=0, message="")
    try:
        message = await device.install_firmware(uploaded.remote)
    except CommandFailed as exc:
        after = await device.facts()
        return replace(start, new_version=after.firmware, refused=True, came_back=True,
                       polls=1, message=str(exc), error=f"the device refused the image: {exc}")
    t_installed = time.monotonic()
    back = await _wait_restarted(device, before, t_before, t_installed, opts)
    if back.facts is None:
        return replace(start, polls=back.polls, message=message,
                       error=f"{device.name} did not come back within "
                             f"{opts.come_back_timeout_s:g} s after the install "
                             f"({back.polls} polls; last: {back.last_error})")
    result = replace(start, new_version=back.facts.firmware, came_back=True,
                     downtime_s=back.t_back - back.t_last_up,
                     back_after_s=back.t_back - t_installed, polls=back.polls, message=message)
    if not result.version_ok:
        wanted = opts.expected_version or f"other than {before.firmware}"
        return replace(result, error=f"{device.name} runs {result.new_version} after the "
                                     f"upgrade, expected {wanted}")
    return result


@dataclass
class _Back:
    facts: DeviceFacts | None
    t_last_up: float
    t_back: float
    polls: int
    last_error: str


async def _wait_restarted(device: UpgradableDevice, before: DeviceFacts, t_before: float,
                          t_installed: float, opts: UpgradeOptions) -> _Back:
    """Poll facts until an answer shows a restart; bounded by `come_back_timeout_s`."""
    state = _Back(facts=None, t_last_up=t_installed, t_back=t_installed, polls=0,
                  last_error="none")
    deadline = t_installed + opts.come_back_timeout_s
    seen_away = False
    delay = opts.backoff_initial_s
    while time.monotonic() < deadline:
        state.polls += 1
        budget = max(0.05, min(opts.poll_timeout_s, deadline - time.monotonic()))
        try:
            facts = await asyncio.wait_for(device.facts(), budget)
        except (HarnessError, TimeoutError) as exc:
            seen_away = True
            state.last_error = str(exc) or f"no answer within {budget:g} s"
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(opts.backoff_max_s, delay * opts.backoff_factor)
            continue
        now = time.monotonic()
        if (seen_away or facts.firmware != before.firmware
                or _uptime_went_back(before, facts, now - t_before)):
            state.facts, state.t_back = facts, now
            return state
        state.t_last_up = now  # still the old boot: it has not restarted yet
        await asyncio.sleep(opts.backoff_initial_s)
    return state


def _uptime_went_back(before: DeviceFacts, now: DeviceFacts, elapsed_s: float) -> bool:
    if before.uptime_s is None or now.uptime_s is None:
        return False
    return now.uptime_s + _UPTIME_SLACK_S < before.uptime_s + elapsed_s


__all__ = [
    "METRICS",
    "UpgradableDevice",
    "UpgradeOptions",
    "UpgradeResult",
    "file_sha256",
    "upgrade_firmware",
]
