"""PM values the device marks `suspect` (TS 32.435 `<suspect>true</suspect>`: the counter is
unreliable for that period) are recorded and flagged, never judged as good evidence: the
simulated gNodeB can mark periods suspect (lab setting, `pm-suspect` fault), the KPI poller's
samples carry `suspect = 1`, a gauge's statistics leave them out, a counter's total that
includes one is withheld, and a criterion on a withheld metric is INCONCLUSIVE, never PASS."""

from __future__ import annotations

from pathlib import Path

from drivers.capabilities import KpiReading
from drivers.pm_files import parse_pm_file
from harness.base.sample import Sample
from harness.base.verdict import Verdict
from harness.engine.trial import _kpi_metrics
from harness.judge.aggregate import JudgeContext, judge
from harness.judge.criteria import parse_criterion
from harness.monitors.kpi import KpiPoller
from harness.simlab.gnb import CellConfig, GnbIdentity, VirtualGnb
from harness.simlab.pm_writer import PmFileWriter

S = 1_000_000_000


def _suspects(path: Path) -> set[bool]:
    return {v.suspect for v in parse_pm_file(path).values}


def test_the_lab_setting_marks_every_period_suspect(tmp_path: Path) -> None:
    gnb = VirtualGnb(GnbIdentity("gnb1"), [CellConfig(id=1)])
    plain = PmFileWriter(gnb, tmp_path / "plain", 60.0)
    flagged = PmFileWriter(gnb, tmp_path / "flagged", 60.0, suspect=True)
    for writer in (plain, flagged):
        writer.tick(writer._next_end + 0.1)  # the first, partial period: suspect in both
    second = [w.tick(w._next_end + 0.1) for w in (plain, flagged)]
    assert second[0] is not None and second[1] is not None
    assert _suspects(second[0]) == {False}
    assert _suspects(second[1]) == {True}


def test_a_pm_suspect_fault_marks_the_periods_that_end_while_it_is_active(
        tmp_path: Path) -> None:
    gnb = VirtualGnb(GnbIdentity("gnb1"), [CellConfig(id=1)])
    writer = PmFileWriter(gnb, tmp_path / "pm", 60.0)
    writer.tick(writer._next_end + 0.1)
    gnb.inject_fault("pm-suspect")
    during = writer.tick(writer._next_end + 0.1)
    assert gnb.clear_faults("pm-suspect") == 1
    after = writer.tick(writer._next_end + 0.1)
    assert during is not None and after is not None
    assert (_suspects(during), _suspects(after)) == ({True}, {False})


def _reading(name: str, raw: float, at_s: int, *, kind: str = "gauge",
             suspect: bool = False) -> KpiReading:
    return KpiReading(name=name, cell=1, raw=raw, kind=kind,
                      unit="%" if kind == "gauge" else "Mbit", scale=1.0,
                      period_s=1.0, time_ns=at_s * S, suspect=suspect)


def _poll(readings: list[KpiReading]) -> tuple[KpiPoller, list[Sample]]:
    samples: list[Sample] = []
    poller = KpiPoller("gnb1", None, [], [1], 1.0, {}, samples.extend)  # type: ignore[arg-type]
    poller.record_timed(readings)
    return poller, samples


def test_suspect_readings_are_flagged_in_samples_and_left_out_of_gauge_statistics() -> None:
    # the first reading reaches back before the window (the trial's first poll): not taken
    poller, samples = _poll([_reading("prb", 5, 100), _reading("prb", 10, 101),
                             _reading("prb", 90, 102, suspect=True), _reading("prb", 20, 103)])
    assert [s.fields.get("suspect") for s in samples] == [None, None, 1, None]
    metrics: dict = {}  # type: ignore[type-arg]
    withheld: dict[str, str] = {}
    notes = _kpi_metrics([poller], metrics, {}, 1.0, withheld)
    assert metrics["gnb1.prb.max"].value == 20  # the suspect 90 is no evidence
    assert metrics["gnb1.prb.mean"].value == 15
    assert withheld == {}
    assert any("1 reading(s) marked suspect" in n for n in notes)


def _judge(expr: str, metrics: dict, withheld: dict[str, str]) -> tuple[Verdict, str]:  # type: ignore[type-arg]
    result = judge([parse_criterion(expr)], JudgeContext(metrics=metrics, withheld=withheld))[0]
    return result.verdict, result.detail


def test_only_suspect_gauge_readings_make_the_criterion_inconclusive_never_pass() -> None:
    poller, _ = _poll([_reading("prb", 5, 100), _reading("prb", 6, 101, suspect=True),
                       _reading("prb", 7, 102, suspect=True)])
    metrics: dict = {}  # type: ignore[type-arg]
    withheld: dict[str, str] = {}
    notes = _kpi_metrics([poller], metrics, {}, 1.0, withheld)
    assert "gnb1.prb.max" not in metrics
    assert "marked suspect" in withheld["gnb1.prb.max"]
    assert any("not reported" in n for n in notes)
    verdict, detail = _judge("gnb1.prb.max <= 100 %", metrics, withheld)
    assert verdict is Verdict.INCONCLUSIVE  # would PASS on the suspect values
    assert "all 2 reading(s) of gnb1.prb" in detail and "suspect" in detail


def test_a_counter_total_with_a_suspect_period_is_withheld() -> None:
    """Leaving a suspect period's increase out of a total would undercount it (a false PASS
    of `errors.delta <= N`), keeping it would judge on it: the total is unknown."""
    poller, samples = _poll([_reading("vol", 0, 100, kind="counter64"),
                             _reading("vol", 5, 101, kind="counter64"),
                             _reading("vol", 500, 102, kind="counter64", suspect=True),
                             _reading("vol", 505, 103, kind="counter64")])
    assert [s.fields.get("suspect") for s in samples] == [None, None, 1, None]
    assert len(poller.series[("vol", 1)].rates) == 2  # no rate from the suspect period
    metrics: dict = {}  # type: ignore[type-arg]
    withheld: dict[str, str] = {}
    _kpi_metrics([poller], metrics, {}, 1.0, withheld)
    assert "gnb1.vol.delta" not in metrics
    assert "1 of 3 period(s)" in withheld["gnb1.vol.delta"]
    for expr in ("gnb1.vol.delta <= 1000 Mbit", "gnb1.vol.delta >= 1 Mbit"):
        assert _judge(expr, metrics, withheld)[0] is Verdict.INCONCLUSIVE


def test_a_metric_the_trial_never_had_is_still_an_error() -> None:
    assert _judge("gnb1.other.max <= 1", {}, {"gnb1.prb.max": "suspect"})[0] is Verdict.ERROR
