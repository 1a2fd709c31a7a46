"""The `rfc2544` and `y1564` trial fields: what validates, what is refused (with the field), and
which metric names each spec declares for its criteria."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.kinds import default_registry
from harness.kinds.rfc2544 import Rfc2544Spec
from harness.kinds.y1564 import Y1564Spec

ROOT = Path(__file__).resolve().parent.parent
RFC = {"id": "r", "kind": "rfc2544", "ue": "ue1", "dn": "dn1", "max_rate": "200 Mbit/s"}
SVC = {"cir": "10 Mbit/s", "eir": "5 Mbit/s", "frame_size": 512,
       "acceptance": {"flr": "0.1 %", "ftd": "30 ms", "fdv": "10 ms"}}
Y = {"id": "y", "kind": "y1564", "ue": "ue1", "dn": "dn1", "services": {"data": SVC}}


def test_rfc2544_fields_and_declared_metrics() -> None:
    spec = Rfc2544Spec.model_validate({**RFC, "frame_sizes": [64, 1518], "resolution": "2 %",
                                       "trial_duration": "2s", "loss_step": 25})
    opts = spec.options(10.0)
    assert opts.search.max_rate_bps == 200e6 and opts.search.resolution == pytest.approx(4e6)
    assert opts.search.trial_s == 2 and opts.frame_sizes == (64, 1518)
    units = default_registry().get("rfc2544").metrics(spec)
    assert units["rfc2544.throughput.f64"] == "Mbit/s"
    assert units["rfc2544.latency.f1518"] == "ms"
    assert [n for n in units if n.startswith("rfc2544.frame_loss.f64.")] == [
        "rfc2544.frame_loss.f64.at100", "rfc2544.frame_loss.f64.at75",
        "rfc2544.frame_loss.f64.at50", "rfc2544.frame_loss.f64.at25"]
    assert "rfc2544.throughput.f128" not in units
    bps = Rfc2544Spec.model_validate({**RFC, "resolution": "1 Mbit/s"})
    assert bps.options(1.0).search.resolution == 1e6


@pytest.mark.parametrize(("change", "words"), [
    ({"frame_sizes": [63]}, "frame size"),
    ({"frame_sizes": [64, 64]}, "repeat"),
    ({"min_rate": "300 Mbit/s"}, "min_rate"),
    ({"resolution": "80 %"}, "resolution"),
    ({"resolution": "fast"}, "resolution"),
    ({"max_iterations": 0}, "max_iterations"),
])
def test_rfc2544_refuses(change: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Rfc2544Spec.model_validate({**RFC, **change})


def test_y1564_fields_and_declared_metrics() -> None:
    spec = Y1564Spec.model_validate({**Y, "performance": {"duration": "1m"}})
    service = spec.service("data")
    assert (service.cir_bps, service.eir_bps, service.frame_size) == (10e6, 5e6, 512)
    assert service.acceptance.max_ftd_ms == pytest.approx(30)
    assert service.acceptance.max_flr_percent == pytest.approx(0.1)
    units = default_registry().get("y1564").metrics(spec)
    steps = {n.split(".")[2] for n in units if n.startswith("y1564.data.") and n.count(".") == 3}
    assert steps == {"cir25", "cir50", "cir75", "cir100", "eir", "policing", "perf"}
    assert units["y1564.data.perf.ftd"] == "ms" and units["y1564.services_failed"] == ""
    no_perf = default_registry().get("y1564").metrics(Y1564Spec.model_validate(Y))
    assert "y1564.services_failed" not in no_perf and "y1564.data.perf.ir" not in no_perf


@pytest.mark.parametrize(("change", "words"), [
    ({"services": {"Data-1": SVC}}, "lower-case"),
    ({"services": {}}, "at least 1"),
    ({"services": {"data": {**SVC, "frame_size": 20000}}}, "frame size"),
    ({"services": {"data": {**SVC, "acceptance": {"flr": "150 %"}}}}, "less than 100"),
    ({"configuration": {"steps": [0]}}, "greater than 0"),
])
def test_y1564_refuses(change: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Y1564Spec.model_validate({**Y, **change})


def test_criterion_on_an_undeclared_frame_size_is_a_validation_error(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: s\ntitle: {vi: 'Thử', en: 'Test'}\ntrials:\n"
        "  - {id: r, kind: rfc2544, ue: ue1, dn: dn1, via: gnb1, frame_sizes: [1518],\n"
        "     max_rate: 20 Mbit/s, criteria: ['rfc2544.throughput.f64 >= 1 Mbit/s']}\n",
        encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(scenario), "--lab",
                                      str(ROOT / "lab.yaml")], catch_exceptions=False)
    assert result.exit_code != 0
    assert "rfc2544.throughput.f64" in result.output
