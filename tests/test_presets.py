"""Criteria presets: expansion per trial kind and direction, sources cited, bad names refused."""

from __future__ import annotations

import re

import pytest

from harness.base.errors import ConfigError
from harness.config.scenario import PresetRef
from harness.judge.presets import TrialShape, expand_preset, not_covered
from harness.report.sources import cite_clause


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


def test_qcvn_126_cites_each_indicator_with_its_clause() -> None:
    """The preset cites the clause the report would add (harness/report/sources.py, numbers
    from secondary sources), so a summary's source reads the same in JUnit, JSON and report;
    fails on the old preset, which cited the indicator by title only."""
    counters = {"gnb1": ["RRC.ConnEstabAtt", "RRC.ConnEstabSucc"]}
    shapes = [TrialShape("throughput", "dl", "gnb1", counters), TrialShape("throughput", "ul"),
              TrialShape("latency", monitor=counters)]
    sources = [c.source or "" for s in shapes for c in expand_preset("qcvn-126-2021", s)]
    clauses = [g["clause"] for g in not_covered([PresetRef(preset="qcvn-126-2021")],
                                               TrialShape("latency"))]
    assert len(sources) == 6 and len(clauses) == 3
    for text in [*sources, *clauses]:
        found = re.match(r"QCVN 126:2021/BTTTT (§[\d.]+), ", text)
        assert found, text
        bare = text.replace(f" {found.group(1)}", "", 1)
        assert cite_clause(bare) == text, text  # the same clause the report cites
    assert sources[0].startswith("QCVN 126:2021/BTTTT §2.1.5.2, average download speed")
    assert sources[-2].startswith("QCVN 126:2021/BTTTT §2.1.3, average access latency")
    assert sources[-1].startswith("QCVN 126:2021/BTTTT §2.1.2, unsuccessful access")
