"""Fault injection on a virtual gNodeB, for tests and for vendors' resilience scenarios.

The API lives on `VirtualGnb` (which delegates here) and is what the lab's control channel
(`harness sim fault`) calls:

    gnb.inject_fault(kind, duration_s=None, **params) -> None
    gnb.clear_faults(kind=None) -> int          # how many were cleared
    gnb.active_faults() -> list[dict]           # id, kind, params, started, duration_s, remaining_s

Kinds and their parameters (numbers may also be given as strings):

    snmp-silent              the agent drops every request (managers time out)
    snmp-error               the agent answers every request with genErr
    ssh-drop                 every SSH session is closed, new ones right after they open
    ssh-refuse               every SSH login is refused
    cell-outage  [cell]      the cell stops carrying traffic; cell-down alarm (all cells if none)
    degrade      factor [cell]   capacity × factor (0 < factor <= 1, default 0.5)
    loss         ratio [cell]    random packet loss, 0..1 (default 0.02; `percent` also works)
    latency      delay_ms [jitter_ms] [cell]   extra core/transport delay (default 20 ms)
    alarm        [severity] [text] [source]   an arbitrary active alarm (default major)
    overheat     [celsius]   every temperature sensor reads this much higher (default 40)
    link-down                the N3 backhaul goes down: no user plane, link-down alarm
    pm-suspect               a PM file period that ends while it is active is marked suspect

A fault with `duration_s` clears itself when it has run that long (checked on every tick);
without one it stays until `clear_faults`. Faults of one kind add up (two degrades multiply).
Effects on a cell are applied to its configuration (`quality`, `loss`, `core_delay_ms`,
`jitter_ms`) and undone when the last fault touching a field goes, unless the operator changed
that field in the meantime (then the operator's value stays).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.base.errors import ConfigError
from harness.simlab.alarms import Severity

if TYPE_CHECKING:
    from harness.simlab.gnb import VirtualGnb

KINDS = ("snmp-silent", "snmp-error", "ssh-drop", "ssh-refuse", "cell-outage", "degrade",
         "loss", "latency", "alarm", "overheat", "link-down", "pm-suspect")
_CELL_KINDS = frozenset({"cell-outage", "degrade", "loss", "latency"})
# kind -> {param: (parser, default)}; a default of None means "optional, no default".
_Parser = Callable[[str, Any], Any]


def _number(low: float, high: float, *, low_open: bool = False) -> _Parser:
    def parse(name: str, value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"fault parameter {name} must be a number, got {value!r}") from None
        if not math.isfinite(number) or number > high or number < low or (
                low_open and number == low):
            bound = "(" if low_open else "["
            raise ConfigError(f"fault parameter {name} must be in {bound}{low:g}, {high:g}], "
                              f"got {value!r}")
        return number
    return parse


def _text(name: str, value: Any) -> str:
    text = str(value).strip()
    if not text or len(text) > 200:
        raise ConfigError(f"fault parameter {name} must be 1..200 characters")
    return text


def _severity(name: str, value: Any) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _cell(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"fault parameter {name} must be a cell id, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"fault parameter {name} must be a cell id, got {value!r}") from None


_PARAMS: dict[str, dict[str, tuple[_Parser, Any]]] = {
    "cell-outage": {"cell": (_cell, None)},
    "degrade": {"factor": (_number(0.0, 1.0, low_open=True), 0.5), "cell": (_cell, None)},
    "loss": {"ratio": (_number(0.0, 1.0), 0.02), "percent": (_number(0.0, 100.0), None),
             "cell": (_cell, None)},
    "latency": {"delay_ms": (_number(0.0, 10_000.0), 20.0),
                "jitter_ms": (_number(0.0, 10_000.0), 0.0), "cell": (_cell, None)},
    "alarm": {"severity": (_severity, Severity.MAJOR), "text": (_text, "injected alarm"),
              "source": (_text, None)},
    "overheat": {"celsius": (_number(-50.0, 150.0), 40.0)},
}


@dataclass
class Fault:
    """One active fault."""

    id: int
    kind: str
    params: dict[str, Any]
    started: float
    started_at: float
    duration_s: float | None

    def expired(self, now: float) -> bool:
        """Whether it has run its duration."""
        return self.duration_s is not None and now - self.started >= self.duration_s

    def describe(self, now: float) -> dict[str, Any]:
        """A JSON-friendly description (for the control channel and status)."""
        params = {k: (v.name.lower() if isinstance(v, Severity) else v)
                  for k, v in self.params.items()}
        remaining = None if self.duration_s is None else max(
            0.0, round(self.duration_s - (now - self.started), 3))
        return {"id": self.id, "kind": self.kind, "params": params,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
                "duration_s": self.duration_s, "remaining_s": remaining}


@dataclass
class _FieldState:
    baseline: Any
    applied: Any


@dataclass
class _CellEffect:
    down: bool = False
    factor: float = 1.0
    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    fields: dict[str, Callable[[Any], Any]] = field(default_factory=dict)


class FaultController:
    """Active faults of one gNodeB and the effects they have on it."""

    def __init__(self, gnb: VirtualGnb) -> None:
        self._gnb = gnb
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._fields: dict[int, dict[str, _FieldState]] = {}

    # ---- the API --------------------------------------------------------------------------

    def inject(self, kind: str, duration_s: float | None = None, **params: Any) -> Fault:
        """Start a fault (ConfigError for an unknown kind, a bad duration or bad parameters)."""
        if kind not in KINDS:
            raise ConfigError(f"unknown fault kind {kind!r} (kinds: {', '.join(KINDS)})")
        if duration_s is not None and (isinstance(duration_s, bool) or not isinstance(
                duration_s, int | float) or not math.isfinite(duration_s) or duration_s <= 0):
            raise ConfigError(f"fault duration must be a positive number of seconds, "
                              f"got {duration_s!r}")
        parsed = self._parse(kind, params)
        fault = Fault(id=next(self._ids), kind=kind, params=parsed, started=time.monotonic(),
                      started_at=time.time(),
                      duration_s=float(duration_s) if duration_s is not None else None)
        self.check_cells(fault)
        with self._lock:
            self._faults.append(fault)
        self.refresh()
        return fault

    def clear(self, kind: str | None = None) -> int:
        """End every fault (or every fault of `kind`); returns how many ended."""
        if kind is not None and kind not in KINDS:
            raise ConfigError(f"unknown fault kind {kind!r} (kinds: {', '.join(KINDS)})")
        with self._lock:
            kept = [f for f in self._faults if kind is not None and f.kind != kind]
            cleared = len(self._faults) - len(kept)
            self._faults = kept
        if cleared:
            self.refresh()
        return cleared

    def active(self) -> list[dict[str, Any]]:
        """The active faults, oldest first."""
        now = time.monotonic()
        with self._lock:
            return [f.describe(now) for f in self._faults]

    def expire(self) -> int:
        """End the faults that have run their duration; returns how many ended."""
        now = time.monotonic()
        with self._lock:
            kept = [f for f in self._faults if not f.expired(now)]
            ended = len(self._faults) - len(kept)
            self._faults = kept
        if ended:
            self.refresh()
        return ended

    # ---- what the management plane asks -------------------------------------------------------

    def outage_cells(self) -> set[int]:
        """Cells under a cell-outage fault."""
        with self._lock:
            return {c for f in self._faults if f.kind == "cell-outage"
                    for c in self._cells_of(f)}

    def links_down(self) -> set[str]:
        """Links under a link-down fault (`n3`)."""
        return {"n3"} if self._has("link-down") else set()

    def pm_suspect(self) -> bool:
        """Whether a pm-suspect fault is active (the PM file writer marks the period)."""
        return self._has("pm-suspect")

    def overheat_c(self) -> float:
        """Sum of the active overheat offsets."""
        with self._lock:
            return float(sum(f.params["celsius"] for f in self._faults if f.kind == "overheat"))

    def custom_alarms(self) -> list[tuple[int, Severity, str, str]]:
        """(fault id, severity, source, text) of every injected alarm."""
        with self._lock:
            return [(f.id, f.params["severity"], f.params.get("source", ""), f.params["text"])
                    for f in self._faults if f.kind == "alarm"]

    # ---- effects ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Apply the active faults' effects to the servers and cells, then re-evaluate alarms."""
        mgmt = self._gnb.mgmt
        servers = mgmt.servers
        if servers is not None:
            mode = "silent" if self._has("snmp-silent") else (
                "error" if self._has("snmp-error") else "normal")
            servers.set_snmp_mode(mode)
            servers.set_ssh_faults(refuse_auth=self._has("ssh-refuse"),
                                   drop_sessions=self._has("ssh-drop"))
        for cell_id in self._gnb.cells:
            self._apply_cell(cell_id, self._effect(cell_id))
        mgmt.health.set_overheat(self.overheat_c())
        mgmt.evaluate()

    def _has(self, kind: str) -> bool:
        with self._lock:
            return any(f.kind == kind for f in self._faults)

    def _cells_of(self, fault: Fault) -> list[int]:
        cell = fault.params.get("cell")
        return list(self._gnb.cells) if cell is None else [cell]

    def _effect(self, cell_id: int) -> _CellEffect:
        mgmt = self._gnb.mgmt
        effect = _CellEffect(down=mgmt.rebooting or self._has("link-down"))
        with self._lock:
            for fault in self._faults:
                if fault.kind not in _CELL_KINDS or cell_id not in self._cells_of(fault):
                    continue
                p = fault.params
                if fault.kind == "cell-outage":
                    effect.down = True
                elif fault.kind == "degrade":
                    effect.factor *= p["factor"]
                elif fault.kind == "loss":
                    effect.loss = 1 - (1 - effect.loss) * (1 - p["ratio"])
                else:
                    effect.delay_ms += p["delay_ms"]
                    effect.jitter_ms += p["jitter_ms"]
        if effect.down or effect.factor != 1.0:
            factor = 0.0 if effect.down else effect.factor
            effect.fields["quality"] = lambda base: base * factor
        if effect.loss:
            effect.fields["loss"] = lambda base: 1 - (1 - base) * (1 - effect.loss)
        if effect.delay_ms or effect.jitter_ms:
            effect.fields["core_delay_ms"] = lambda base: base + effect.delay_ms
            effect.fields["jitter_ms"] = lambda base: base + effect.jitter_ms
        return effect

    def _apply_cell(self, cell_id: int, effect: _CellEffect) -> None:
        gnb = self._gnb
        with gnb.lock, self._lock:
            runtime = gnb.cells[cell_id]
            config = runtime.config
            states = self._fields.setdefault(cell_id, {})
            changes: dict[str, Any] = {}
            for name in set(states) | set(effect.fields):
                current = getattr(config, name)
                state = states.get(name)
                if state is not None and state.applied != current:
                    state.baseline = current  # the operator changed it meanwhile: theirs stays
                if name in effect.fields:
                    base = current if state is None else state.baseline
                    value = effect.fields[name](base)
                    states[name] = _FieldState(baseline=base, applied=value)
                else:
                    value = states.pop(name).baseline
                if value != current:
                    changes[name] = value
            if changes:
                runtime.apply(dataclasses.replace(config, **changes))

    @staticmethod
    def _parse(kind: str, params: dict[str, Any]) -> dict[str, Any]:
        spec = _PARAMS.get(kind, {})
        unknown = sorted(set(params) - set(spec))
        if unknown:
            allowed = ", ".join(spec) or "none"
            raise ConfigError(f"fault {kind} has no parameter {', '.join(unknown)} "
                              f"(parameters: {allowed})")
        parsed: dict[str, Any] = {}
        for name, (parser, default) in spec.items():
            if name in params:
                parsed[name] = parser(name, params[name])
            elif default is not None:
                parsed[name] = default
        if kind == "loss" and "percent" in parsed:
            parsed["ratio"] = parsed.pop("percent") / 100
        return parsed

    def check_cells(self, fault: Fault) -> None:
        """ConfigError when the fault names a cell the gNodeB does not have."""
        cell = fault.params.get("cell")
        if cell is not None and cell not in self._gnb.cells:
            known = ", ".join(str(c) for c in self._gnb.cells)
            raise ConfigError(f"fault {fault.kind}: no cell {cell} (cells: {known})")


__all__ = ["KINDS", "Fault", "FaultController"]
