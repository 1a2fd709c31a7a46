"""Conditions are read, not assumed: each trial records its cell's conditions as the gNodeB
reports them at the start, and a trial whose parameters the device contradicts is ERROR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.engine.trial import condition_mismatches
from tests.runner_helpers import FAST_LAB, inputs, run_in_process

LAB_100 = FAST_LAB.replace("bandwidth_mhz: 20,", "bandwidth_mhz: 100,")

SCENARIO = """\
name: conditions
title: {vi: "điều kiện đo", en: "conditions"}
defaults: {duration: 3s, omit: 0s, repetitions: 1, min_samples: 1}
matrix: {bandwidth: [40]}
trials:
  - id: "udp-dl-{bandwidth}mhz"
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    protocol: udp
    bitrate: 5 Mbit/s
    criteria: ["throughput.max > 1 Mbit/s"]
  - id: "udp-dl-{bandwidth}mhz-set"
    kind: throughput
    setup:
      - {device: gnb1, action: set_cell, cell: 1, params: {bandwidth_mhz: "{bandwidth}"}}
    ue: ue1
    dn: dn1
    via: gnb1
    direction: dl
    protocol: udp
    bitrate: 5 Mbit/s
    criteria: ["throughput.max > 1 Mbit/s"]
"""


def test_params_the_device_contradicts_are_named() -> None:
    cell = {"bandwidth_mhz": 100, "scs_khz": 30, "band": "n78", "tdd": "DDDSU"}
    assert condition_mismatches({"bandwidth": 40, "direction": "dl"}, cell) == [
        "the trial says bandwidth = 40, the device reports bandwidth_mhz = 100"]
    assert condition_mismatches({"bandwidth": "100", "band": "N78", "streams": 4}, cell) == []


@pytest.mark.e2e
def test_trial_without_setup_is_error_naming_both_bandwidths(tmp_path: Path) -> None:
    outcome, _ = run_in_process(inputs(tmp_path, SCENARIO, LAB_100), tmp_path / "out")
    summary = json.loads((outcome.run_dir / "summary.json").read_text(encoding="utf-8"))
    unset, applied = summary["trials"]
    assert unset["id"] == "udp-dl-40mhz" and unset["verdict"] == "ERROR"
    assert "bandwidth = 40" in unset["error"] and "bandwidth_mhz = 100" in unset["error"]
    assert unset["conditions"]["bandwidth_mhz"] == 100
    assert applied["verdict"] == "PASS", applied.get("error")
    conditions = applied["conditions"]
    assert conditions["bandwidth_mhz"] == 40 and conditions["source"] == "read from gnb1 at start"
    assert {"scs_khz", "tdd", "layers_dl", "modulation_dl", "band", "firmware"} <= set(conditions)
