"""Device snapshots: what every device was before a run, and putting its cells back after.

Before the first trial the runner records each gNodeB's and core's facts, every cell's
configuration and the active alarms. After the last trial — also after Ctrl-C or an error — it
reads the cells again, sets back every parameter that differs (through the profile's
`set_cell`), reads once more to verify, and reports each difference it could not undo. Facts
and alarms are recorded before and after for the report; they are not "restored".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drivers.capabilities import AlarmSource, CellControl, ProfiledDevice
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.bench import Bench

CellConfig = dict[str, int | str]


@dataclass
class DeviceSnapshot:
    """One device at one moment; `errors` says what could not be read."""

    name: str
    role: str
    facts: dict[str, Any] | None = None
    cells: dict[int, CellConfig] = field(default_factory=dict)
    alarms: list[dict[str, Any]] | None = None
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """As summary.json's `snapshot.before/after.DEVICE` records it."""
        return {"role": self.role, "facts": self.facts,
                "cells": {str(c): dict(cfg) for c, cfg in self.cells.items()},
                "alarms": self.alarms, "errors": list(self.errors)}


def _equipment(bench: Bench) -> dict[str, ProfiledDevice]:
    return {**bench.gnbs, **bench.cores}


async def snapshot_device(name: str, device: ProfiledDevice) -> DeviceSnapshot:
    """Facts, cell configurations and active alarms of one device (what can be read)."""
    snap = DeviceSnapshot(name, device.profile.role)
    try:
        snap.facts = {k: v for k, v in dataclasses.asdict(await device.facts()).items()
                      if k != "uptime_s"}
    except HarnessError as exc:
        snap.errors.append(f"facts: {exc}")
    if isinstance(device, CellControl) and device.profile.cell_params:
        try:
            for cell in await device.cell_ids():
                snap.cells[cell] = await device.cell_config(cell)
        except HarnessError as exc:
            snap.errors.append(f"cell configuration: {exc}")
    if isinstance(device, AlarmSource) and device.profile.alarm_table is not None:
        try:
            snap.alarms = [{"severity": a.severity, "source": a.source, "text": a.text,
                            "id": a.alarm_id} for a in await device.active_alarms()]
        except HarnessError as exc:
            snap.errors.append(f"active alarms: {exc}")
    return snap


async def take_snapshot(bench: Bench) -> dict[str, DeviceSnapshot]:
    """Every gNodeB's and core's snapshot, in lab order."""
    return {name: await snapshot_device(name, dev) for name, dev in _equipment(bench).items()}


def cell_differences(before: Mapping[str, int | str], now: Mapping[str, int | str]) -> CellConfig:
    """The parameters whose value changed: name → the value to put back (pure)."""
    return {k: v for k, v in before.items() if k in now and str(now[k]) != str(v)}


def _settable(device: ProfiledDevice) -> set[str]:
    action = device.profile.actions.get("set_cell")
    return set(action.commands or {}) if action is not None else set()


async def restore_snapshot(bench: Bench, before: Mapping[str, DeviceSnapshot],
                           notify: Callable[[str, str], None]
                           ) -> tuple[dict[str, DeviceSnapshot], list[str]]:
    """Put every cell back as `before` recorded it; returns the snapshot after, and one
    message per difference that remains (or could not be checked)."""
    problems: list[str] = []
    equipment = _equipment(bench)
    for name, snap in before.items():
        device = equipment.get(name)
        if device is None or not snap.cells or not isinstance(device, CellControl):
            continue
        for cell, config in snap.cells.items():
            try:
                changed = cell_differences(config, await device.cell_config(cell))
            except HarnessError as exc:
                problems.append(f"{name}: cell {cell} not checked after the run: {exc}")
                continue
            if not changed:
                continue
            fixable = {k: v for k, v in changed.items() if k in _settable(device)}
            for param in sorted(set(changed) - set(fixable)):
                problems.append(f"{name}: cell {cell} {param} is not back to {changed[param]!r}:"
                                f" profile {device.profile.name} cannot set it")
            if fixable:
                try:
                    await device.set_cell(cell, fixable)
                    notify(f"{name}: restored cell {cell} {fixable}", "info")
                except HarnessError as exc:
                    problems.append(f"{name}: could not restore cell {cell} {fixable}: {exc}")
    after = await take_snapshot(bench)
    for name, snap in before.items():
        now = after.get(name)
        if now is None:
            continue
        for cell, config in snap.cells.items():
            if cell not in now.cells:
                continue  # not readable after: reported above or in now.errors
            for param, value in cell_differences(config, now.cells[cell]).items():
                message = (f"{name}: cell {cell} {param} is {now.cells[cell][param]!r}, "
                           f"was {value!r} before the run")
                if not any(f"cell {cell} {param}" in p for p in problems):
                    problems.append(message)
    for problem in problems:
        notify(problem, "warning")
    return after, problems
