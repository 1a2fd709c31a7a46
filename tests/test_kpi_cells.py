"""A KPI monitored on several cells keeps each cell's value: `gnb1.KPI.cellN.delta` (and
`.mean`/`.max`) per polled cell in summary.json, each cell's samples apart in samples.sqlite,
criteria judged on the cell they name. The bare `gnb1.KPI.delta` is that of the one polled
cell; with several it is ambiguous — refused by `harness validate`, withheld (INCONCLUSIVE,
never another cell's value) if a run meets it anyway. Fails on the old code, where every cell
wrote the same `gnb1.KPI.delta` and the last one polled won."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers.capabilities import KpiReading
from harness.base.units import Quantity
from harness.engine.trial import _kpi_metrics
from harness.monitors.kpi import KpiPoller
from harness.store.sqlite import SqliteStore
from tests.conftest import free_port, require_tool
from tests.test_sim_attach import cli

LAB = """\
name: two-cell-lab
defaults:
  snmp: {version: 3, user: harness, auth: {protocol: SHA-256}, priv: {protocol: AES-128}}
  ssh: {user: admin, host_key: verify}
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    simulated: {cells: [{id: 1, bandwidth_mhz: 20, plmns: ["452-02"]},
                        {id: 2, bandwidth_mhz: 20, plmns: ["452-02"]}]}
  core1:
    role: core
    profile: sim-core
    simulated: {plmns: ["452-02"], slices: ["1-000001"], subscribers: 5}
  ue1: {role: ue-host}
  dn1: {role: dn-host, traffic_port: DN_PORT}
"""

VOLUME = "DRB.PdcpSduVolumeDL"


def _scenario(criteria: list[str], monitor_cells: str = "[1, 2]") -> str:
    return f"""\
name: kpi-cells
title: {{vi: "KPI theo ô", en: "KPI per cell"}}
defaults: {{duration: 3s, omit: 0s, repetitions: 1, kpi_interval: 0.5s}}
trials:
  - id: dl
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    cell: 1
    direction: dl
    protocol: tcp
    monitor: {{gnb1: [{VOLUME}], core1: [RM.RegisteredSubNbrMean]}}
    monitor_cells: {monitor_cells}
    criteria: {json.dumps(criteria)}
"""


def _files(tmp_path: Path, scenario: str) -> None:
    (tmp_path / "lab.yaml").write_text(LAB.replace("DN_PORT", str(free_port())),
                                       encoding="utf-8")
    (tmp_path / "s.yaml").write_text(scenario, encoding="utf-8")


@pytest.mark.e2e
def test_each_monitored_cell_keeps_its_own_kpi_value(tmp_path: Path) -> None:
    require_tool("iperf3")
    _files(tmp_path, _scenario([f"gnb1.{VOLUME}.cell1.delta >= 1 Mbit",
                                f"gnb1.{VOLUME}.cell2.delta >= 1 Mbit"]))
    run = cli(tmp_path, "run", "s.yaml", "--lab", "lab.yaml", "--no-pdf", "--progress",
              "lines")
    assert run.returncode in (0, 1, 3), run.stdout + run.stderr
    run_dir = tmp_path / run.stdout.strip().splitlines()[-1]
    trial = json.loads((run_dir / "summary.json").read_text())["trials"][0]
    metrics = trial["metrics"]
    cell1 = metrics[f"gnb1.{VOLUME}.cell1.delta"]["value"]
    cell2 = metrics[f"gnb1.{VOLUME}.cell2.delta"]["value"]
    assert cell1 > 1 and cell2 < 0.5, metrics  # the traffic ran on cell 1 only
    assert f"gnb1.{VOLUME}.delta" not in metrics  # which cell? never a silent pick
    assert "ambiguous" in trial["withheld"][f"gnb1.{VOLUME}.delta"]
    # a core's KPI has no cell: its bare name as before
    assert "core1.RM.RegisteredSubNbrMean.mean" in metrics, metrics
    verdicts = {c["expr"]: c["verdict"] for c in trial["criteria"]}
    assert verdicts == {f"gnb1.{VOLUME}.cell1.delta >= 1 Mbit": "PASS",
                        f"gnb1.{VOLUME}.cell2.delta >= 1 Mbit": "FAIL"}, trial["criteria"]
    assert trial["verdict"] == "FAIL" and run.returncode == 1

    store = SqliteStore(run_dir / "samples.sqlite", create=False, read_only=True)
    try:
        last: dict[str, float] = {}
        for s in store.query(measurement="kpi", tags={"kpi": VOLUME, "trial": "dl"}):
            last[s.tags["cell"]] = float(s.fields["value"])
    finally:
        store.close()
    assert set(last) == {"1", "2"}
    assert last["1"] == pytest.approx(cell1) and last["2"] == pytest.approx(cell2)


def _validate(tmp_path: Path, criteria: list[str], monitor_cells: str = "[1, 2]") -> str:
    _files(tmp_path, _scenario(criteria, monitor_cells))
    proc = cli(tmp_path, "validate", "s.yaml", "--lab", "lab.yaml")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_validate_refuses_the_bare_name_of_a_kpi_on_several_cells(tmp_path: Path) -> None:
    out = _validate(tmp_path, [f"gnb1.{VOLUME}.delta >= 1 Mbit"])
    assert "s.yaml:" in out and "ambiguous" in out and f"gnb1.{VOLUME}.cell1" in out, out


def test_validate_refuses_a_cell_not_monitored(tmp_path: Path) -> None:
    out = _validate(tmp_path, [f"gnb1.{VOLUME}.cell3.delta >= 1 Mbit"])
    assert "not monitored on cell3" in out and "monitor_cells" in out, out
    out = _validate(tmp_path, [f"gnb1.{VOLUME}.cell2.delta >= 1 Mbit"], "null")
    assert "not monitored on cell2" in out, out  # default: the trial's own cell only
    out = _validate(tmp_path, [f"gnb1.{VOLUME}.cell3.delta >= 1 Mbit"], "[1, 3]")
    assert "monitor_cells" in out and "gnb1 has no cell 3" in out, out  # the lab has 1 and 2


def test_one_cell_keeps_the_bare_name_and_a_cell_name_validates(tmp_path: Path) -> None:
    _files(tmp_path, _scenario([f"gnb1.{VOLUME}.delta >= 1 Mbit",
                                f"gnb1.{VOLUME}.cell1.delta >= 1 Mbit"], "null"))
    proc = cli(tmp_path, "validate", "s.yaml", "--lab", "lab.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _poller(cells: list[int], volumes: dict[int, tuple[int, int]]) -> KpiPoller:
    """A poller fed two polls by hand (record() needs no device: `None` is never read)."""
    poller = KpiPoller("gnb1", None, [VOLUME], cells, 1.0, {}, lambda _: None)  # type: ignore[arg-type]
    for i, at in enumerate((1_000_000_000, 2_000_000_000)):
        poller.record([KpiReading(name=VOLUME, cell=c, raw=volumes[c][i], kind="counter64",
                                  unit="Mbit", scale=1.0) for c in cells], at)
    return poller


def test_kpi_metrics_name_each_cell_and_withhold_the_ambiguous_bare_name() -> None:
    metrics: dict[str, Quantity] = {}
    withheld: dict[str, str] = {}
    _kpi_metrics([_poller([1, 2], {1: (0, 50), 2: (0, 3)})], metrics, {}, 1.0, withheld)
    assert metrics[f"gnb1.{VOLUME}.cell1.delta"].value == 50
    assert metrics[f"gnb1.{VOLUME}.cell2.delta"].value == 3
    assert f"gnb1.{VOLUME}.delta" not in metrics
    assert withheld[f"gnb1.{VOLUME}.delta"].startswith("ambiguous: ")

    one: dict[str, Quantity] = {}
    _kpi_metrics([_poller([2], {2: (10, 13)})], one, {}, 1.0, {})
    assert {n: q.value for n, q in one.items()} == {f"gnb1.{VOLUME}.cell2.delta": 3,
                                                    f"gnb1.{VOLUME}.delta": 3}
