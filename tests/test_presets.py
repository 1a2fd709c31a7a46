"""Criteria presets: expansion per trial kind and direction, sources cited, bad names refused."""

from __future__ import annotations

import pytest

from harness.base.errors import ConfigError
from harness.judge.presets import TrialShape, expand_preset


def test_qcvn_126_downlink() -> None:
    criteria = expand_preset("qcvn-126-2021", TrialShape("throughput", "dl", "gnb1"))
    assert [c.expr for c in criteria] == ["throughput.mean >= 100 Mbit/s",
                                          "share(throughput >= 30 Mbit/s) >= 95 %"]
    assert all(c.source and c.source.startswith("QCVN 126:2021/BTTTT") for c in criteria)


def test_qcvn_126_uplink_and_latency() -> None:
    ul = expand_preset("qcvn-126-2021", TrialShape("throughput", "ul"))
    assert [c.expr for c in ul] == ["throughput.mean >= 30 Mbit/s"]
    latency = expand_preset("qcvn-126-2021", TrialShape("latency"))
    assert [c.expr for c in latency] == ["rtt.mean <= 50 ms"]


def test_m2410_is_labelled_as_round_trip() -> None:
    (criterion,) = expand_preset("itu-m2410-embb", TrialShape("latency"))
    assert criterion.source is not None and "not the one-way RAN figure" in criterion.source


def test_peak_fraction_names_the_gnodeb() -> None:
    (criterion,) = expand_preset("ts38306-peak-fraction", TrialShape("throughput", "dl", "gnb7"),
                                 {"fraction": 0.8})
    assert criterion.expr == "throughput.mean >= 0.8 * peak(gnb7)"
    assert criterion.device_refs == frozenset({"gnb7"})
    with pytest.raises(ConfigError, match="fraction"):
        expand_preset("ts38306-peak-fraction", TrialShape("throughput", "dl", "g"),
                      {"fraction": 1.5})


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'qcvn'.*qcvn-126-2021"):
        expand_preset("qcvn", TrialShape("throughput", "dl"))
