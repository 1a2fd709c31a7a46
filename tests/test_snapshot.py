"""Snapshot/restore: Ctrl-C mid-run puts every cell back, checked over SSH on the device."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from harness.base.errors import CommandFailed
from harness.engine.snapshot import (
    UNKNOWN,
    DeviceSnapshot,
    RestorePolicy,
    RestoreProblem,
    _CellRestore,
    _restore_cell,
    cell_differences,
    known_values,
    restore_targets,
)
from tests.conftest import require_tool
from tests.runner_helpers import start_run
from tests.sim_equipment import long_dl_scenario, sim_up
from tests.test_e2e_smoke import ROOT, load_run

pytestmark = pytest.mark.e2e

SCENARIO = long_dl_scenario("restore", "Khôi phục", "Restore", setup_mhz=10, kpis=False)


def test_cell_differences() -> None:
    assert cell_differences({"a": 1, "b": "x", "c": 3}, {"a": 1, "b": "y"}) == {"b": "x"}
    assert cell_differences({"a": 20}, {"a": "20"}) == {}


def test_restore_policy_backs_off_within_about_ten_seconds() -> None:
    policy = RestorePolicy()
    waits = [policy.delay(attempt) for attempt in range(1, policy.tries + 1)]
    assert waits == [0.0, 1.0, 4.0] and sum(waits) <= 10


def test_restore_targets_fall_back_on_setup_for_unread_cells() -> None:
    before = {"gnb1": DeviceSnapshot("gnb1", "gnodeb", cells={1: {"bandwidth_mhz": 20}}),
              "gnb2": DeviceSnapshot("gnb2", "gnodeb", errors=["cell configuration: timeout"])}
    setup = {("gnb1", 1): {"bandwidth_mhz": 100}, ("gnb2", 3): {"bandwidth_mhz": 40}}
    assert restore_targets(before, setup) == {"gnb1": {1: {"bandwidth_mhz": 20}},
                                              "gnb2": {3: {"bandwidth_mhz": 40}}}


def test_known_values_last_write_or_read_wins() -> None:
    known = known_values([("gnb1", 1, {"bandwidth_mhz": 50})],
                         [("gnb1", 1, {"bandwidth_mhz": 40, "cell": 1, "firmware": "1.0"}),
                          (None, 1, {"bandwidth_mhz": 1}), ("gnb1", 2, None)])
    assert known == {("gnb1", 1): {"bandwidth_mhz": 40}}


def test_restore_problem_names_device_parameter_and_both_values() -> None:
    problem = RestoreProblem("gnb1", 1, "bandwidth_mhz", 100, 50, "failed", "SSH refused")
    assert problem.message == ("gnb1: cell 1 bandwidth_mhz not restored: wanted 100, "
                               "last known 50: SSH refused")
    entry = problem.to_json()
    assert {k: entry[k] for k in ("device", "cell", "parameter", "wanted", "last_known",
                                  "status")} == {"device": "gnb1", "cell": 1,
                                                 "parameter": "bandwidth_mhz", "wanted": 100,
                                                 "last_known": 50, "status": "failed"}
    unverified = RestoreProblem("gnb1", 1, "layers_dl", 2, UNKNOWN, "unverified", "genErr")
    assert "restore unverified: wrote 2 (last known 'unknown')" in unverified.message


class _IgnoringCell:
    """A fake for a fault the simulated gNodeB cannot produce: a device that accepts every
    `set_cell` and keeps its old value (a read-back shows the write did not take)."""

    def __init__(self) -> None:
        self.config: dict[str, int | str] = {"bandwidth_mhz": 50, "layers_dl": 2}
        self.writes = 0

    async def cell_ids(self) -> list[int]:
        return [1]

    async def cell_config(self, cell: int) -> dict[str, int | str]:
        return dict(self.config)

    async def set_cell(self, cell: int, params: Any) -> None:
        self.writes += 1


class _UnreadableCell(_IgnoringCell):
    """A fake: SNMP answers genErr to every read, SSH writes work (the simulated lab's
    snmp-error; here to count the writes without a lab)."""

    async def cell_config(self, cell: int) -> dict[str, int | str]:
        raise CommandFailed("genErr")

    async def set_cell(self, cell: int, params: Any) -> None:
        self.writes += 1
        self.config.update(params)


def _restore(device: _IgnoringCell, known: dict[str, int | str]) -> list[RestoreProblem]:
    state = _CellRestore("gnb1", 1, {"bandwidth_mhz": 100, "layers_dl": 2}, dict(known))
    asyncio.run(_restore_cell(device, state, {"bandwidth_mhz", "layers_dl"},
                              RestorePolicy(tries=3, delays_s=(0.0,)), lambda *_: None))
    return state.problems()


def test_a_write_the_device_ignores_is_failed_after_every_try() -> None:
    device = _IgnoringCell()
    [problem] = _restore(device, {})
    assert device.writes == 3
    assert (problem.parameter, problem.wanted, problem.last_known, problem.status) == (
        "bandwidth_mhz", 100, 50, "failed")


def test_an_unreadable_cell_is_written_blind_and_reported_unverified() -> None:
    device = _UnreadableCell()
    [problem] = _restore(device, {"bandwidth_mhz": 50})
    assert device.config == {"bandwidth_mhz": 100, "layers_dl": 2}  # every settable value
    assert (problem.parameter, problem.wanted, problem.last_known, problem.status) == (
        "bandwidth_mhz", 100, 50, "unverified")
    # Nothing known to differ: the cell is named with everything written.
    [blind] = _restore(_UnreadableCell(), {})
    assert blind.status == "unverified" and "bandwidth_mhz=100" in str(blind.wanted)


def test_ctrl_c_restores_cells_checked_over_ssh(tmp_path: Path) -> None:
    require_tool("iperf3")
    with sim_up(tmp_path) as sim:
        (tmp_path / "lab.yaml").write_text(sim.lab_text("restore-lab"), encoding="utf-8")
        (tmp_path / "s.yaml").write_text(SCENARIO, encoding="utf-8")
        original = sim.ssh("show cell 1")[0]
        print(original)
        proc, seen = start_run(tmp_path / "s.yaml", tmp_path / "lab.yaml", tmp_path / "out",
                               env=sim.env(), cwd=ROOT, until="long-dl #1")
        try:
            # Mid-trial, someone changes the cell behind the harness's back: not a setup step,
            # so only the snapshot knows what to put back.
            changed = sim.ssh("set cell 1 layers dl 1", "show cell 1")
            assert changed[1] != original
            time.sleep(1.0)
            os.killpg(proc.pid, signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 130, seen + stderr
        _, summary = load_run(stdout)
        assert summary["interrupted"] is True and summary["restore_errors"] == []
        before = summary["snapshot"]["before"]["gnb1"]["cells"]["1"]
        after = summary["snapshot"]["after"]["gnb1"]["cells"]["1"]
        assert before == after and before["bandwidth_mhz"] == 20 and before["layers_dl"] == 2
        assert "bandwidth_mhz" in stderr and "layers_dl" in stderr  # what was put back
        now = sim.ssh("show cell 1")[0]
        assert now == original, (original, now)
