"""Firmware upgrade procedure on the simulated gNodeB: SFTP upload, install, downtime, version."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from drivers.capabilities import FirmwareControl
from harness.base.errors import ConfigError
from harness.config.lab import Lab
from harness.engine.bench import open_bench
from harness.kinds.firmware_steps import UpgradeOptions, UpgradeResult, upgrade_firmware
from harness.simlab.firmware import build_image

LAB = {
    "name": "fw-lab",
    "defaults": {"snmp": {"version": "3", "user": "harness", "auth": {"protocol": "SHA-256"},
                          "priv": {"protocol": "AES-128"}, "timeout": "1s", "retries": 0},
                 "ssh": {"user": "admin"}},
    "devices": {
        "gnb1": {"role": "gnodeb", "profile": "sim-gnb", "host": "127.0.0.1",
                 "simulated": {"cells": [{"id": 1, "bandwidth_mhz": 20}], "firmware": "1.0.0"}},
    },
}


def _images(tmp_path: Path) -> tuple[Path, Path]:
    good = build_image("2.0.0", os.urandom(50_000))
    bad = bytearray(good)
    bad[700] ^= 0xFF
    good_path, bad_path = tmp_path / "fw-2.0.0.img", tmp_path / "fw-2.0.0-corrupt.img"
    good_path.write_bytes(good)
    bad_path.write_bytes(bytes(bad))
    return good_path, bad_path


def test_corrupt_image_refused_then_good_image_upgrades(tmp_path: Path) -> None:
    good, bad = _images(tmp_path)
    lab = Lab.model_validate(LAB)

    async def go() -> tuple[UpgradeResult, UpgradeResult, str, int]:
        bench = await open_bench(lab, tmp_path / "work")
        try:
            gnb = bench.gnbs["gnb1"]
            if not isinstance(gnb, FirmwareControl):
                raise AssertionError("the gNodeB driver lacks FirmwareControl")
            refused = await upgrade_firmware(gnb, UpgradeOptions(
                bad, expected_version="2.0.0", come_back_timeout_s=30))
            upgraded = await upgrade_firmware(gnb, UpgradeOptions(
                good, expected_version="2.0.0", come_back_timeout_s=30))
            # The device is usable again afterwards: SNMP facts and a new SSH session.
            version = await gnb.firmware_version()
            cells = len(await gnb.cell_ids())
            await gnb.set_cell(1, {"bandwidth_mhz": 40})
            return refused, upgraded, version, cells
        finally:
            await bench.close()

    refused, upgraded, version, cells = asyncio.run(go())
    # Corrupt: the device's own refusal, nothing restarted, the old version stays: FAIL.
    assert refused.refused and not refused.version_ok
    assert "refused" in refused.message and "checksum" in refused.message
    assert "1.0.0 stays" in refused.message
    assert refused.new_version == refused.old_version == "1.0.0"
    metrics = refused.metrics()
    assert metrics["firmware.version_ok"].value == 0
    assert metrics["firmware.old_version_kept"].value == 1
    assert "firmware.downtime_s" not in metrics
    assert refused.upload is not None and refused.upload.sha256 == refused.image_sha256
    # Good: verified, restarted (the simulated gNodeB is away 3 s), new version runs.
    assert upgraded.error is None and upgraded.version_ok and not upgraded.refused
    assert (upgraded.old_version, upgraded.new_version) == ("1.0.0", "2.0.0")
    assert upgraded.downtime_s is not None and 2.5 <= upgraded.downtime_s <= 12
    assert upgraded.back_after_s is not None and upgraded.back_after_s >= upgraded.downtime_s
    assert upgraded.polls >= 2
    assert upgraded.metrics()["firmware.version_ok"].value == 1
    assert upgraded.metrics()["firmware.downtime_s"].unit == "s"
    assert version == "2.0.0" and cells == 1


def test_wrong_expected_version_is_not_ok(tmp_path: Path) -> None:
    good, _ = _images(tmp_path)
    lab = Lab.model_validate(LAB)

    async def go() -> UpgradeResult:
        bench = await open_bench(lab, tmp_path / "work")
        try:
            gnb = bench.gnbs["gnb1"]
            if not isinstance(gnb, FirmwareControl):
                raise AssertionError("the gNodeB driver lacks FirmwareControl")
            return await upgrade_firmware(gnb, UpgradeOptions(
                good, expected_version="3.1.4", come_back_timeout_s=30))
        finally:
            await bench.close()

    result = asyncio.run(go())
    assert result.came_back and result.new_version == "2.0.0" and not result.version_ok
    assert result.error is not None and "expected 3.1.4" in result.error


def test_missing_image_and_wrong_sha256_are_config_errors(tmp_path: Path) -> None:
    good, _ = _images(tmp_path)

    class NoDevice:
        name = "none"

        async def facts(self) -> object:
            raise AssertionError("must not be reached")

    for opts, words in ((UpgradeOptions(tmp_path / "nope.img"), "does not exist"),
                        (UpgradeOptions(good, expected_sha256="ab" * 32), "not the one")):
        with pytest.raises(ConfigError, match=words):
            asyncio.run(upgrade_firmware(NoDevice(), opts))  # type: ignore[arg-type]


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="poll_timeout_s"):
        UpgradeOptions(Path("x"), poll_timeout_s=0)
