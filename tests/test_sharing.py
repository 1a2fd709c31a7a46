"""MOCN RAN sharing: real iperf3 through the simulated gNodeB's per-PLMN paths, and the pure
share/isolation arithmetic against hand-computed values."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.base.errors import ConfigError
from harness.base.loader import load_model
from harness.base.nr_peak import Carrier, tdd_share
from harness.config.lab import Lab
from harness.engine.bench import open_bench
from harness.kinds.sharing_run import (
    Operator,
    SharingOptions,
    SharingResult,
    operators_on_bench,
    run_sharing,
)
from harness.measure.sharing import metric_names, plmn_key, sharing_metrics
from tests.conftest import require_tool

MOCN_LAB = Path(__file__).resolve().parent.parent / "scenarios" / "labs" / "mocn-lab.yaml"
SHARES = {"452-02": 0.6, "452-04": 0.4}


def _cell_dl_mbps() -> float:
    return Carrier(20, 30, 2, "256qam", "dl").peak_mbps() * tdd_share("DDDSU", "10:2:2", "dl")


def test_two_plmns_get_their_shares_and_stay_isolated(tmp_path: Path) -> None:
    require_tool("iperf3")
    lab = load_model(MOCN_LAB, Lab)
    kept: list[tuple[str, str]] = []

    async def go() -> SharingResult:
        bench = await open_bench(lab, tmp_path)
        try:
            operators = operators_on_bench(bench, "gnb1", [("ue1", "dn1"), ("ue2", "dn2")],
                                           SHARES)
            assert [o.plmn for o in operators] == ["452-02", "452-04"]
            return await run_sharing(operators, SharingOptions(duration_s=3, streams=4),
                                     keep_raw=lambda phase, plmn, raw: kept.append((phase, plmn)))
        finally:
            await bench.close()

    result = asyncio.run(go())
    cell = _cell_dl_mbps()
    m = result.metrics
    assert set(m) == set(metric_names(["452-02", "452-04"]))
    assert sorted(kept) == [("alone", "452-02"), ("together", "452-02"), ("together", "452-04")]
    # The cell enforces 60/40: each PLMN's throughput is near its share of the capacity.
    for plmn, share in SHARES.items():
        got = result.together[plmn]
        assert 0.75 * share * cell <= got <= 1.05 * share * cell, (plmn, got, share * cell)
        assert m[f"sharing.{plmn_key(plmn)}.share_error"].value <= 10
    assert m["sharing.share_error.max"].unit == "%"
    # Alone, the victim is held to its own share (hard partition): no gain, no loss together.
    assert result.alone["452-02"] <= 1.05 * 0.6 * cell
    assert m["sharing.isolation"].value >= 85
    assert result.capacity_estimated
    assert 0.75 * cell <= result.capacity_mbps <= 1.05 * cell


def test_share_and_isolation_arithmetic() -> None:
    # Hard partition 60/40 of 100 Mbit/s: exact shares, full isolation.
    m = sharing_metrics("452-02", 60.0, {"452-02": 60.0, "452-04": 40.0},
                        {"452-02": 0.6, "452-04": 0.4}, 100.0)
    assert m["sharing.plmn_452_02.share"].value == pytest.approx(60.0)
    assert m["sharing.share_error.max"].value == pytest.approx(0.0)
    assert m["sharing.isolation"].value == pytest.approx(100.0)
    # No isolation: one FIFO split evenly; the 70 % operator gets 50 of 100 Mbit/s. Alone it
    # had all 100, so it is guaranteed min(100, 0.7 × 100) = 70: isolation 50/70.
    m = sharing_metrics("a", 100.0, {"a": 50.0, "b": 50.0}, {"a": 0.7, "b": 0.3}, 100.0)
    assert m["sharing.isolation"].value == pytest.approx(50 / 70 * 100)
    assert m["sharing.plmn_a.share_error"].value == pytest.approx(20.0)
    assert m["sharing.share_error.max"].value == pytest.approx(20.0)
    # Work-conserving weighted sharing: alone 100, together its 70: isolated.
    m = sharing_metrics("a", 100.0, {"a": 70.0, "b": 30.0}, {"a": 0.7, "b": 0.3}, 100.0)
    assert m["sharing.isolation"].value == pytest.approx(100.0)


def test_plmn_key_is_a_criteria_name() -> None:
    from harness.judge.criteria import parse_criterion

    assert plmn_key("452-04") == "plmn_452_04"
    parse_criterion(f"sharing.{plmn_key('452-04')}.share >= 35 %")


def test_bad_operator_sets_are_refused() -> None:
    class Host:
        def __init__(self, name: str) -> None:
            self.name = name

    def op(plmn: str, dn: str, share: float) -> Operator:
        return Operator(plmn=plmn, ue=Host("ue"), dn=Host(dn),  # type: ignore[arg-type]
                        target=("127.0.0.1", 1), server_port=5201, share=share)

    cases = [([op("a", "dn1", 0.5)], "at least two"),
             ([op("a", "dn1", 0.5), op("a", "dn2", 0.5)], "own PLMN"),
             ([op("a", "dn1", 0.5), op("b", "dn1", 0.5)], "own dn host"),
             ([op("a", "dn1", 0.7), op("b", "dn2", 0.7)], "more than 1")]
    for operators, words in cases:
        with pytest.raises(ConfigError, match=words):
            asyncio.run(run_sharing(operators, SharingOptions()))
    with pytest.raises(ConfigError, match="victim"):
        asyncio.run(run_sharing([op("a", "dn1", 0.5), op("b", "dn2", 0.5)],
                                SharingOptions(victim="c")))
