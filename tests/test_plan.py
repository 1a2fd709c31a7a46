"""Planning: matrix expansion, per-kind validation with positions, metric and unit checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.base.errors import ConfigError
from harness.base.loader import load_model, parse_yaml
from harness.config.lab import Lab
from harness.config.scenario import Scenario, TrialDefaults
from harness.engine.inputs import load_inputs
from harness.engine.plan import FileSource, plan
from harness.kinds import KindRegistry, default_registry
from harness.kinds.pending import pending_kind

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "lab.yaml"

HEAD = """\
name: t
title: {vi: "Thử", en: "Test"}
defaults: {duration: 2s, repetitions: 2}
matrix: {direction: [dl, ul], protocol: [tcp, udp]}
trials:
"""
TRIAL = """\
  - id: "tput-{direction}-{protocol}"
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    direction: "{direction}"
    protocol: "{protocol}"
    bitrate: 200 Mbit/s
    criteria: ["throughput.mean >= 0.5 * peak(gnb1)"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_inputs(_write(tmp_path, text), LAB)
    return str(info.value)


def test_matrix_expands_in_order_with_stable_ids(tmp_path: Path) -> None:
    inputs = load_inputs(_write(tmp_path, HEAD + TRIAL), LAB)
    ids = [(t.id, t.repetition) for t in inputs.trials]
    assert ids == [(f"tput-{d}-{p}", r) for d in ("dl", "ul") for p in ("tcp", "udp")
                   for r in (1, 2)]
    udp = inputs.trials[2]
    assert udp.protocol == "udp" and udp.direction == "dl" and udp.params["bitrate"] == 200e6
    assert udp.params["direction"] == "dl" and udp.duration_s == 2.0
    assert udp.devices == {"ue1", "dn1", "gnb1"}


def test_unknown_kind_lists_kinds_with_position(tmp_path: Path) -> None:
    text = HEAD + TRIAL.replace("kind: throughput", "kind: thruput")
    message = _error(tmp_path, text)
    line = _line(text, "kind: thruput")
    assert re.search(rf"s\.yaml:{line}:\d+: trials\[0\]\.kind: unknown trial kind 'thruput' "
                     r"\(kinds: throughput, latency, ", message), message


def test_bad_value_after_expansion_points_at_the_template_line(tmp_path: Path) -> None:
    text = HEAD.replace("[dl, ul]", "[dl, sideways]") + TRIAL
    message = _error(tmp_path, text)
    line = _line(text, 'direction: "{direction}"')
    assert re.search(rf"s\.yaml:{line}:16: trials\[0\]\.direction: .*'dl'.*'sideways'",
                     message), message


def test_unknown_field_is_named_with_the_allowed_ones(tmp_path: Path) -> None:
    text = HEAD + TRIAL + "    strems: 4\n"
    message = _error(tmp_path, text)
    assert re.search(rf":{_line(text, 'strems')}:5: trials\[0\]\.strems: .*streams", message)


def test_udp_without_bitrate(tmp_path: Path) -> None:
    text = HEAD + TRIAL.replace("    bitrate: 200 Mbit/s\n", "")
    message = _error(tmp_path, text)
    line = _line(text, 'protocol: "{protocol}"')
    assert re.search(rf":{line}:\d+: trials\[0\]\.protocol: a UDP trial needs a target rate",
                     message), message


def test_bad_bitrate_unit(tmp_path: Path) -> None:
    text = HEAD + TRIAL.replace("200 Mbit/s", "200 ms")
    message = _error(tmp_path, text)
    assert re.search(rf":{_line(text, 'bitrate')}:\d+: trials\[0\]\.bitrate: expected a bit "
                     "rate like '500 Mbit/s'", message), message


def test_metric_the_kind_does_not_produce(tmp_path: Path) -> None:
    text = HEAD + TRIAL.replace('"throughput.mean >= 0.5 * peak(gnb1)"', '"rtt.p95 <= 10 ms"')
    message = _error(tmp_path, text)
    assert re.search(rf":{_line(text, 'rtt.p95')}:\d+: trials\[0\]\.criteria\[0\]: "
                     r"'rtt\.p95 <= 10 ms' reads metric 'rtt\.p95', which a throughput trial "
                     "does not produce", message), message


def test_near_miss_metric_gets_a_suggestion(tmp_path: Path) -> None:
    text = HEAD + TRIAL.replace("throughput.mean >= 0.5 * peak(gnb1)",
                                "throughput.meen >= 1 Mbit/s")
    assert "did you mean throughput.mean" in _error(tmp_path, text)


def test_unit_mismatch_against_the_metric_unit(tmp_path: Path) -> None:
    text = HEAD + TRIAL.replace("throughput.mean >= 0.5 * peak(gnb1)",
                                "throughput.mean >= 10 ms")
    message = _error(tmp_path, text)
    assert re.search(r"trials\[0\]\.criteria\[0\]: .*cannot compare Mbit/s \(bit rate\) with "
                     r"ms \(time\)", message), message


def test_udp_metric_on_a_tcp_trial_is_refused(tmp_path: Path) -> None:
    text = HEAD.replace("protocol: [tcp, udp]", "protocol: [tcp]") + TRIAL.replace(
        "throughput.mean >= 0.5 * peak(gnb1)", "throughput.loss <= 1 %")
    assert "reads metric 'throughput.loss'" in _error(tmp_path, text)


LATENCY = """\
  - id: lat
    kind: latency
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["rtt.p95 <= 30 ms", "alarms.critical == 0"]
"""


def test_latency_plans_and_peak_is_refused_there(tmp_path: Path) -> None:
    inputs = load_inputs(_write(tmp_path, HEAD + LATENCY), LAB)
    assert [t.kind for t in inputs.trials] == ["latency", "latency"]
    assert inputs.trials[0].direction == ""
    text = HEAD + LATENCY.replace('"rtt.p95 <= 30 ms"', '"rtt.p95 <= 0.001 * peak(gnb1)"')
    assert "peak() needs traffic through a gNodeB" in _error(tmp_path, text)


def test_latency_under_load_declares_load_metrics(tmp_path: Path) -> None:
    text = HEAD + LATENCY.replace(
        '"alarms.critical == 0"', '"load.throughput.mean >= 100 Mbit/s"').replace(
        "    via: gnb1\n", "    via: gnb1\n    load: {direction: dl, protocol: tcp}\n")
    inputs = load_inputs(_write(tmp_path, text), LAB)
    assert "load.throughput.mean" in inputs.trials[0].metric_units
    bad = text.replace("protocol: tcp}", "protocol: tcp, speed: 3}")
    assert re.search(r"trials\[0\]\.load\.speed: ", _error(tmp_path, bad))


def test_bidir_metrics_are_per_direction(tmp_path: Path) -> None:
    text = HEAD.replace("[dl, ul]", "[bidir]").replace("[tcp, udp]", "[tcp]") + TRIAL.replace(
        "throughput.mean >= 0.5 * peak(gnb1)", "dl.throughput.p5 >= 30 Mbit/s")
    inputs = load_inputs(_write(tmp_path, text), LAB)
    assert "ul.tcp.efficiency" in inputs.trials[0].metric_units
    assert "reads metric 'throughput.p5'" in _error(
        tmp_path, text.replace("dl.throughput.p5", "throughput.p5"))


def test_peak_of_a_device_that_is_not_a_gnodeb(tmp_path: Path) -> None:
    text = HEAD + TRIAL.replace("peak(gnb1)", "peak(core1)")
    assert "peak(core1) needs a gNodeB of the lab" in _error(tmp_path, text)


def test_kind_not_available_is_a_validation_error(tmp_path: Path) -> None:
    registry = KindRegistry([default_registry().get("throughput"),
                             pending_kind("warp", "faster than light", "no warp drive")])
    text = HEAD + "  - {id: w, kind: warp, ue: ue1, dn: dn1}\n"
    path = _write(tmp_path, text)
    data, index = parse_yaml(text, file=str(path))
    assert isinstance(data, dict)
    # the Scenario model checks kinds against the default registry: build it unchecked here
    scenario = Scenario.model_construct(**{**data, "matrix": {}, "defaults": TrialDefaults()})
    lab = load_model(LAB, Lab)
    with pytest.raises(ConfigError) as info:
        plan(scenario, lab, FileSource(path, index), registry)
    assert re.search(r"s\.yaml:6:\d+: trials\[0\]\.kind: trial kind 'warp' is not available: "
                     "no warp drive", str(info.value)), str(info.value)


def test_registry_refuses_duplicates() -> None:
    kind = default_registry().get("throughput")
    with pytest.raises(ConfigError, match="registered twice"):
        KindRegistry([kind, kind])


def test_sub_index_positions_are_relative(tmp_path: Path) -> None:
    text = HEAD + TRIAL
    _, index = parse_yaml(text)
    sub = index.sub(("trials", 0))
    assert sub.locate(("direction",)) == index.locate(("trials", 0, "direction"))
    assert sub.locate_key(("via",)) == index.locate_key(("trials", 0, "via"))
    assert sub.locate(()) == index.locate(("trials", 0))


def test_per_trial_setup_is_filled_from_the_matrix_and_checked(tmp_path: Path) -> None:
    setup = ('    setup:\n      - {device: gnb1, action: set_cell, cell: 1, '
             'params: {bandwidth_mhz: "{bw}"}}\n')
    text = HEAD.replace("matrix: {", "matrix: {bw: [20, 40], ") + TRIAL.replace(
        '"tput-{direction}-{protocol}"', '"tput-{direction}-{protocol}-{bw}mhz"') + setup
    inputs = load_inputs(_write(tmp_path, text), LAB)
    assert [t.spec.setup[0].params["bandwidth_mhz"] for t in inputs.trials[::8]] == [20, 40]
    bad = text.replace("{device: gnb1, action", "{device: core1, action")
    assert re.search(rf":{_line(bad, 'device: core1')}:\d+: trials\[0\]\.setup\[0\]\.device: "
                     "set_cell needs a gnodeb of the lab; 'core1' is a core", _error(tmp_path, bad))
