"""What `harness validate` checks of the profiles a lab and a scenario use, without touching a
device: every profile loads (known name, valid schema, MIB names resolvable); every KPI a
trial monitors is in its device's profile; peak() only where the profile reads the cell
parameters it needs; actions a scenario uses (set_cell, install_firmware) in the profile."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from drivers.mibs import MibResolver
from drivers.profile import Profile, load_profile
from drivers.profile_values import missing_peak_params
from harness.base.errors import ConfigError
from harness.base.loader import error_at, load_yaml
from harness.config.lab import Lab
from harness.config.scenario import Scenario
from harness.judge.criteria import parse_criterion
from harness.kinds.planned import PlannedTrial

FieldPath = tuple[str | int, ...]
ErrorAt = Callable[[FieldPath, str], ConfigError]

# What a trial kind asks of its gNodeB's profile beyond KPIs: the action it runs.
KIND_ACTIONS = {"firmware_upgrade": "install_firmware"}


def lab_profiles(lab: Lab, lab_path: Path) -> dict[str, Profile]:
    """Every device's profile loaded as a run would load it (device name → profile); an
    unknown name is an error at the device's `profile:` line, a bad profile at its own line.
    Devices with their own driver are left to the driver."""
    profiles: dict[str, Profile] = {}
    loaded: dict[str, Profile] = {}
    for name, dev in lab.devices.items():
        if dev.profile is None:
            continue
        if dev.profile not in loaded:
            try:
                loaded[dev.profile] = load_profile(
                    dev.profile, [Path(lab.profiles)] if lab.profiles else None,
                    mibs=MibResolver([Path(lab.mibs)]) if lab.mibs else None)
            except ConfigError as exc:
                if exc.file is not None:
                    raise  # positioned in the profile file itself
                _, index = load_yaml(lab_path)
                raise error_at(lab_path, index, ("devices", name, "profile"),
                               exc.reason) from None
        if dev.driver is None:
            profiles[name] = loaded[dev.profile]
    return profiles


def check_trials(scenario: Scenario, trials: list[PlannedTrial],
                 profiles: dict[str, Profile], at: ErrorAt) -> None:
    """Every planned trial's KPIs, peak() references and actions against the profiles."""
    for t in trials:
        where: FieldPath = ("trials", trial_index(scenario, t.id))
        raw = scenario.trials[where[1]]  # type: ignore[index]
        for device, kpis in t.monitor.items():
            profile = profiles.get(device)
            if profile is None:
                continue
            known = profile.kpi_names()  # SNMP KPIs and those from PM files
            for k, kpi in enumerate(kpis):
                if kpi not in known:
                    raise at((*where, "monitor", device, k),
                             f"{device}'s profile {profile.name} has no KPI {kpi!r} "
                             f"(it has: {', '.join(known) or 'none'})")
        for criterion in t.criteria:
            for device in sorted(criterion.device_refs):
                profile = profiles.get(device)
                missing = missing_peak_params(profile.cell_params) if profile else []
                if profile is not None and missing:
                    raise at((*where, "criteria", _criterion_index(raw, criterion.expr)),
                             f"peak({device}) reads the cell's parameters, and {device}'s "
                             f"profile {profile.name} has no {', '.join(missing)}: add them "
                             "under cell_params (docs/writing-a-profile.md, 'Cell "
                             "parameters'), or drop peak()")
        action = KIND_ACTIONS.get(t.kind)
        profile = profiles.get(t.via or "")
        if action is not None and profile is not None and action not in profile.actions:
            raise at((*where, "kind"), f"a {t.kind} trial runs the {action} action, and "
                     f"{t.via}'s profile {profile.name} has none: add actions.{action}")
        for i, step in enumerate(t.spec.setup):
            _needs_set_cell(profiles.get(step.device), step.device,
                            (*where, "setup", i, "action"), at)
            _writable(profiles.get(step.device), step.params, (*where, "setup", i), at)


def check_scenario_actions(scenario: Scenario, profiles: dict[str, Profile],
                           at: ErrorAt) -> None:
    """The scenario's own setup/teardown set_cell steps need a set_cell action."""
    for section in ("setup", "teardown"):
        for i, action in enumerate(getattr(scenario, section)):
            _needs_set_cell(profiles.get(action.device), action.device,
                            (section, i, "action"), at)
            _writable(profiles.get(action.device), action.params, (section, i), at)


def _writable(profile: Profile | None, params: Mapping[str, object], where: FieldPath,
              at: ErrorAt) -> None:
    """Each set_cell value has a device spelling in the parameter's write encoding (a
    value map that lacks it would fail only when the run applies it)."""
    if profile is None:
        return
    for name, value in params.items():
        spec = profile.cell_params.get(name)  # type: ignore[call-overload]
        if spec is None or not isinstance(value, int | str):
            continue
        try:
            spec.written(name, value)
        except ValueError as exc:
            raise at((*where, "params", name), f"profile {profile.name}: {exc}") from None


def _needs_set_cell(profile: Profile | None, device: str, field: FieldPath,
                    at: ErrorAt) -> None:
    if profile is not None and "set_cell" not in profile.actions:
        raise at(field, f"set_cell needs the set_cell action, and {device}'s profile "
                 f"{profile.name} has none: add actions.set_cell")


def trial_index(scenario: Scenario, trial_id: str) -> int:
    """The scenario trial a planned trial came from (its id, with matrix placeholders)."""
    for index, raw in enumerate(scenario.trials):
        pattern = re.sub(r"\\\{[A-Za-z_][A-Za-z0-9_]*\\\}", ".+", re.escape(str(raw.get("id"))))
        if re.fullmatch(pattern, trial_id):
            return index
    return 0


def _criterion_index(raw: dict[str, object], expr: str) -> int:
    """Where a criterion stands in the trial's `criteria:` list (a preset's: the preset)."""
    items = raw.get("criteria")
    if not isinstance(items, list):
        return 0
    for i, item in enumerate(items):
        if isinstance(item, str):
            try:
                if parse_criterion(item).expr == expr:
                    return i
            except ConfigError:
                continue
    for i, item in enumerate(items):
        if not isinstance(item, str):
            return i
    return 0


def check_profile_file(path: Path) -> Profile:
    """A profile file checked alone: its schema, and its MIB names resolved with the `mibs/`
    folder beside it and the shipped MIBs (a name no MIB defines is an error)."""
    return load_profile(path.stem, [path.parent])
