"""Trial kinds: each is one module declaring its spec model, the metrics it produces and an
async measurement; a registry (an instance, duplicates refused) maps kind names to them.

Adding a kind = one module with a `KIND = TrialKind(...)`, listed in `_BUILTIN` or published
by a plugin under the entry-point group `ran_harness.kinds`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from harness.base.errors import ConfigError
from harness.kinds.base import KindRun, PlanContext, TrialBase

__all__ = ["MONITOR_METRIC_PREFIXES", "KindRegistry", "KindRun", "TrialBase", "TrialKind",
           "default_registry"]

MONITOR_METRIC_PREFIXES = ("alarms.", "health.", "crosscheck.", "simlab.")
"""Metrics the monitors add to every trial (harness/monitors/); criteria may read them on any
kind, their units are checked when the trial is judged."""

ENTRY_POINT_GROUP = "ran_harness.kinds"


@dataclass(frozen=True)
class TrialKind:
    """One kind of trial: how it is written (spec), measured, and what it produces."""

    name: str
    spec: type[TrialBase]
    measure: Callable[[KindRun], Awaitable[None]]
    metrics: Callable[[TrialBase], Mapping[str, str]]  # metric name → unit, for this spec
    summary: str
    unavailable: str | None = None  # why this kind cannot run here (a validation error)
    needs_hosts: bool = True  # ue and dn are required
    # the kind judges itself (KindRun.acceptance: Y.1564 SAC, RFC 2544 confirmation, firmware
    # come-back): a trial of it may have no criteria; any other kind's trial must have some
    builtin_acceptance: bool = False
    peak_metrics: bool = False  # peak(gnb) makes sense in its criteria (traffic via a gNodeB)
    # checks of the spec against the lab beyond ue/dn/via (e.g. devices named in kind fields):
    # (field path inside the trial, message) per problem, reported with the file's position
    check_lab: Callable[[TrialBase, PlanContext], list[tuple[tuple[str | int, ...], str]]] | None \
        = None
    # the per-sample series a share() may count, by the name criteria use (`throughput` for
    # KindRun.series["throughput.mean"]); the series' unit is that `.mean` metric's
    series: Callable[[TrialBase], Iterable[str]] = lambda spec: ()


class KindRegistry:
    """Kind name → TrialKind; registering a name twice is an error."""

    def __init__(self, kinds: Iterable[TrialKind] = ()) -> None:
        self._kinds: dict[str, TrialKind] = {}
        self._frozen = False
        for kind in kinds:
            self.register(kind)

    def register(self, kind: TrialKind) -> None:
        """Add a kind; ConfigError when its name is taken or the registry is frozen."""
        if self._frozen:
            raise ConfigError(f"cannot register {kind.name!r}: this kind registry is read-only")
        if kind.name in self._kinds:
            raise ConfigError(f"trial kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> TrialKind:
        """The kind called `name`; ConfigError listing the known kinds otherwise."""
        kind = self._kinds.get(name)
        if kind is None:
            raise ConfigError(f"unknown trial kind {name!r} (kinds: {', '.join(self.names())})")
        return kind

    def freeze(self) -> KindRegistry:
        """Refuse further registrations (the shared default registry is read-only)."""
        self._frozen = True
        return self

    def names(self) -> list[str]:
        """Known kind names, in registration order."""
        return list(self._kinds)

    def load_entry_points(self, eps: Iterable[EntryPoint]) -> None:
        """Register the kinds published by `eps`; ConfigError naming a plugin that fails to
        load or publishes something that is not a TrialKind."""
        for ep in eps:
            source = ep.dist.name if ep.dist is not None else ep.value
            try:
                kind = ep.load()
            except Exception as exc:  # a broken plugin must say which one it is
                raise ConfigError(f"cannot load trial kind {ep.name!r} from {source}: "
                                  f"{type(exc).__name__}: {exc}") from None
            if not isinstance(kind, TrialKind):
                raise ConfigError(f"trial kind {ep.name!r} from {source} is not a TrialKind "
                                  f"(got {type(kind).__name__})")
            self.register(kind)


_BUILTIN = ("throughput", "latency", "rfc2544", "y1564", "soak", "sharing", "firmware_upgrade")


@cache
def default_registry() -> KindRegistry:
    """The built-in kinds plus those plugins publish (built once per process, then read-only)."""
    registry = KindRegistry(
        importlib.import_module(f"harness.kinds.{name}").KIND for name in _BUILTIN)
    registry.load_entry_points(entry_points(group=ENTRY_POINT_GROUP))
    return registry.freeze()
