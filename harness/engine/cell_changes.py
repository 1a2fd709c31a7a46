"""What a run changes on the gNodeBs' cells, and putting it back: scenario setup actions are
remembered (the values they overwrite, read first), teardown actions run, then every cell goes
back as the snapshot found it — also after Ctrl-C (the restore is shielded) or an error."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from harness.base.errors import HarnessError
from harness.config.scenario import DeviceAction
from harness.engine.bench import Bench
from harness.engine.snapshot import (
    UNKNOWN,
    CellConfig,
    DeviceSnapshot,
    RestoreProblem,
    known_values,
    restore_snapshot,
    restore_targets,
)

if TYPE_CHECKING:
    from harness.engine.runner import RunInputs

__all__ = ["CellChanges"]


class CellChanges:
    """The cell changes of one run and their restoration."""

    def __init__(self, inputs: RunInputs, notify: Callable[[str, str], None]) -> None:
        self.inputs = inputs
        self.notify = notify
        self.restore: list[tuple[str, DeviceAction]] = []  # (device, action putting it back)

    async def apply(self, bench: Bench, action: DeviceAction, *, remember: bool) -> None:
        """Set cell parameters; with `remember`, first read what they were, to put it back."""
        gnb = bench.gnbs.get(action.device)
        if gnb is None:
            raise HarnessError(f"{action.device} is not a gNodeB of this lab")
        if remember:
            before = await gnb.cell_config(action.cell)
            old = {k: before[k] for k in action.params if k in before}
            self.restore.append((action.device, DeviceAction(
                device=action.device, action=action.action, cell=action.cell, params=old)))
        await gnb.set_cell(action.cell, action.params)
        self.notify(f"{action.device}: {action.action} cell {action.cell} "
                    f"{dict(action.params)}", "info")

    async def teardown(self, bench: Bench, snapshot: Mapping[str, DeviceSnapshot],
                       results: Mapping[int, Mapping[str, Any]],
                       summary: dict[str, Any]) -> list[dict[str, Any]]:
        """Scenario teardown; then every cell back as the snapshot found it (what setup
        changed, for cells the snapshot could not read); each parameter not put back, or
        not verified, as a structured entry (summary.json's `restore_errors`)."""
        problems: list[RestoreProblem] = []
        known = self.known_values(results)
        for action in self.inputs.scenario.teardown:
            if not action.params:
                continue
            try:
                await asyncio.shield(self.apply(bench, action, remember=False))
            except (HarnessError, asyncio.CancelledError) as exc:
                for param, value in action.params.items():
                    problems.append(RestoreProblem(
                        action.device, action.cell, param, value,
                        known.get((action.device, action.cell), {}).get(param, UNKNOWN),
                        "failed", f"teardown step failed: {exc}"))
                    self.notify(problems[-1].message, "warning")
        setup_restores: dict[tuple[str, int], CellConfig] = {}
        for name, action in self.restore:  # the first read of a cell is what it was before
            setup_restores.setdefault((name, action.cell), dict(action.params))
        targets = restore_targets(snapshot, setup_restores)
        if targets or snapshot:
            task = asyncio.ensure_future(restore_snapshot(bench, targets, self.notify,
                                                          known=known))
            try:
                after, left = await asyncio.shield(task)
            except asyncio.CancelledError:  # a second Ctrl-C: still let the restore finish
                after, left = await task
            summary["snapshot"]["after"] = {n: s.to_json() for n, s in after.items()}
            problems += left
        return [p.to_json() for p in problems]

    def known_values(self, results: Mapping[int, Mapping[str, Any]]
                     ) -> dict[tuple[str, int], CellConfig]:
        """The last cell values the run wrote (setup) or read (each trial's conditions)."""
        trials = self.inputs.trials
        return known_values(
            [(a.device, a.cell, a.params) for a in self.inputs.scenario.setup],
            [(trials[i].via, trials[i].cell, results[i].get("conditions"))
             for i in sorted(results)])
