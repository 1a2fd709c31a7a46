"""Device snapshots: what every device was before a run, and putting its cells back after.

Before the first trial the runner records each gNodeB's and core's facts, every cell's
configuration and the active alarms. After the last trial — also after Ctrl-C or an error — it
puts every cell back through whatever transport still works: it reads the cell, writes (through
the profile's `set_cell`) every parameter that differs — every settable parameter when the cell
cannot be read — and reads back to verify, up to three tries with backoff (`RestorePolicy`).
Each parameter it could not put back (`failed`), could not set (`not-settable`) or wrote but
could not read back (`unverified`) is a `RestoreProblem` naming the device, the parameter and
both values (wanted, last known); any of them makes the run ERROR. Facts and alarms are
recorded before and after for the report; they are not "restored".
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drivers.capabilities import AlarmSource, CellControl, ProfiledDevice
from harness.base.errors import HarnessError

if TYPE_CHECKING:
    from harness.engine.bench import Bench

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


@dataclass(frozen=True)
class RestorePolicy:
    """How hard the restore tries: `tries` rounds of read–write–verify per cell, waiting
    `delays_s` between them (1 s, then 4 s: with 1–2 s device timeouts, about 10 s in all)."""

    tries: int = 3
    delays_s: tuple[float, ...] = (1.0, 4.0)

    def delay(self, attempt: int) -> float:
        """The wait before try `attempt` (1-based; none before the first)."""
        if attempt <= 1 or not self.delays_s:
            return 0.0
        return self.delays_s[min(attempt - 2, len(self.delays_s) - 1)]


UNKNOWN = "unknown"
"""`last_known` when neither the run nor the restore ever read or wrote the parameter."""


@dataclass(frozen=True)
class RestoreProblem:
    """One cell parameter the restore could not put back (`failed`, `not-settable`), or
    wrote but could not read back (`unverified`); both make the run ERROR."""

    device: str
    cell: int
    parameter: str
    wanted: int | str
    last_known: int | str
    status: str  # failed | unverified | not-settable
    reason: str

    @property
    def message(self) -> str:
        """One line naming the device, the cell parameter and both values."""
        where = f"{self.device}: cell {self.cell} {self.parameter}"
        if self.status == "unverified":
            return (f"{where} restore unverified: wrote {self.wanted!r} (last known "
                    f"{self.last_known!r}) but could not read it back: {self.reason}")
        return (f"{where} not restored: wanted {self.wanted!r}, last known "
                f"{self.last_known!r}: {self.reason}")

    def to_json(self) -> dict[str, Any]:
        """As summary.json's `restore_errors` entries record it."""
        return {"device": self.device, "cell": self.cell, "parameter": self.parameter,
                "wanted": self.wanted, "last_known": self.last_known, "status": self.status,
                "reason": self.reason, "message": self.message}


Targets = dict[str, dict[int, CellConfig]]
"""device → cell → the configuration to put back."""


def restore_targets(before: Mapping[str, DeviceSnapshot],
                    setup_restores: Mapping[tuple[str, int], CellConfig]) -> Targets:
    """What to put back: every cell the snapshot read; for a cell it could not read, the
    values the scenario's setup replaced (as read just before setting them)."""
    targets: Targets = {name: {c: dict(cfg) for c, cfg in snap.cells.items()}
                        for name, snap in before.items() if snap.cells}
    for (name, cell), old in setup_restores.items():
        if cell not in targets.get(name, {}):
            targets.setdefault(name, {})[cell] = dict(old)
    return targets


def known_values(writes: Iterable[tuple[str, int, Mapping[str, int | str]]],
                 reads: Iterable[tuple[str | None, int, Any]]
                 ) -> dict[tuple[str, int], CellConfig]:
    """(device, cell) → the last value of each parameter the run wrote (`writes`: setup
    steps) or read (`reads`: each trial's via device, cell and recorded conditions), in
    order: what a restore error names as `last_known` when the device cannot be read."""
    known: dict[tuple[str, int], CellConfig] = {}
    for device, cell, params in writes:
        known.setdefault((device, cell), {}).update(params)
    for via, cell, conditions in reads:
        if via and isinstance(conditions, Mapping):
            values = {k: v for k, v in conditions.items()
                      if k not in ("cell", "firmware", "source") and isinstance(v, int | str)}
            known.setdefault((via, cell), {}).update(values)
    return known


@dataclass
class _CellRestore:
    """The state of one cell's restore across its tries."""

    name: str
    cell: int
    target: CellConfig
    known: CellConfig  # per parameter: the last value read (or written by the run's setup)
    verified: bool = False
    written: bool = False  # the last try's write went through
    unsettable: set[str] = field(default_factory=set)
    pending: CellConfig = field(default_factory=dict)  # what the last try tried to write
    reason: str = ""

    def problems(self) -> list[RestoreProblem]:
        out = [self._problem(p, "not-settable", "the profile cannot set it")
               for p in sorted(self.unsettable)]
        if self.verified:
            return out
        status = "unverified" if self.written else "failed"
        differing = [p for p in self.pending if p not in self.unsettable and p in self.known
                     and str(self.known[p]) != str(self.target[p])]
        if not differing:  # a blind write (cell never read): name the cell and what was sent
            return [*out, RestoreProblem(self.name, self.cell, "(every settable parameter)",
                                         ", ".join(f"{k}={v}" for k, v in self.pending.items()),
                                         UNKNOWN, status, self.reason)]
        return [*out, *(self._problem(p, status, self.reason) for p in differing)]

    def _problem(self, param: str, status: str, reason: str) -> RestoreProblem:
        return RestoreProblem(self.name, self.cell, param, self.target[param],
                              self.known.get(param, UNKNOWN), status, reason)


async def _restore_cell(device: CellControl, state: _CellRestore, settable: set[str],
                        policy: RestorePolicy, notify: Callable[[str, str], None]) -> None:
    """Read, write what differs (everything settable when the read fails), read back; up to
    `policy.tries` times."""
    for attempt in range(1, max(1, policy.tries) + 1):
        await asyncio.sleep(policy.delay(attempt))
        state.written = False
        try:
            now = await device.cell_config(state.cell)
        except HarnessError as exc:
            state.reason = f"cell not readable: {exc}"
            write = {k: v for k, v in state.target.items() if k in settable}
        else:
            state.known.update(now)
            changed = cell_differences(state.target, now)
            state.unsettable = set(changed) - settable
            write = {k: v for k, v in changed.items() if k in settable}
            if not write:
                state.verified = True
                return
        state.pending = write
        try:
            await device.set_cell(state.cell, write)
        except HarnessError as exc:
            state.reason = f"could not set it (try {attempt} of {policy.tries}): {exc}"
            continue
        state.written = True  # `known` keeps the last value read: the write is not verified yet
        notify(f"{state.name}: restored cell {state.cell} {write}", "info")
        try:
            now = await device.cell_config(state.cell)
        except HarnessError as exc:
            state.reason = f"read-back failed (try {attempt} of {policy.tries}): {exc}"
            continue
        state.known.update(now)
        left = cell_differences(state.target, now)
        state.unsettable = set(left) - settable
        if not set(left) & settable:
            state.verified = True
            return
        state.written = False  # read back, and not as wanted: failed, not unverified
        state.reason = f"read back {({k: now[k] for k in left})} (try {attempt})"


async def restore_snapshot(bench: Bench, targets: Targets, notify: Callable[[str, str], None],
                           *, known: Mapping[tuple[str, int], CellConfig] | None = None,
                           policy: RestorePolicy | None = None
                           ) -> tuple[dict[str, DeviceSnapshot], list[RestoreProblem]]:
    """Put every cell of `targets` back, through whatever transport still works: the values
    are written even when the cell cannot be read, then read back to verify; each cell is
    tried `policy.tries` times with backoff. `known` holds the last values the run read or
    wrote (for the report when the device cannot be read). Returns the snapshot after and
    one problem per parameter not restored (or not verified)."""
    policy = policy or RestorePolicy()
    known = known or {}
    problems: list[RestoreProblem] = []
    equipment = _equipment(bench)
    for name, cells in targets.items():
        device = equipment.get(name)
        if device is None or not isinstance(device, CellControl):
            continue
        settable = _settable(device)
        for cell, target in cells.items():
            state = _CellRestore(name, cell, dict(target), dict(known.get((name, cell), {})))
            await _restore_cell(device, state, settable, policy, notify)
            problems += state.problems()
    after = await take_snapshot(bench)
    named = {(p.device, p.cell, p.parameter) for p in problems}
    for name, cells in targets.items():
        now = after.get(name)
        for cell, target in cells.items():
            if now is None or cell not in now.cells:
                continue  # not readable after: said above, or in now.errors
            for param, value in cell_differences(target, now.cells[cell]).items():
                if (name, cell, param) not in named:
                    problems.append(RestoreProblem(name, cell, param, value,
                                                   now.cells[cell][param], "failed",
                                                   "changed again after the restore"))
    for problem in problems:
        notify(problem.message, "warning")
    return after, problems
