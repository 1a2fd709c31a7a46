"""Loading a run's inputs: lab and scenario validated, trials planned — or positioned errors."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from harness.base.errors import ConfigError
from harness.base.loader import PositionIndex, error_at, load_model, load_yaml
from harness.base.schema import secret_fields
from harness.config.lab import Lab
from harness.config.scenario import Scenario
from harness.engine.plan import FieldPath, FileSource, plan, scenario_context
from harness.engine.profile_checks import check_scenario_actions, check_trials, lab_profiles
from harness.engine.runner import RunInputs
from harness.kinds import KindRegistry, default_registry


def check_secrets(lab: Lab, lab_path: Path) -> None:
    """Every `${env:..}`/`${file:..}` in the lab resolves now, before any device is touched."""
    _, index = load_yaml(lab_path)
    for field, secret in secret_fields(lab):
        try:
            secret.reveal()
        except ConfigError as exc:
            raise error_at(lab_path, index, field, exc.reason) from None


def input_warnings(lab: Lab) -> list[str]:
    """What a run should show on the console before it starts: SSH host keys that are not
    verified (`host_key: accept-new|ignore`) and inline secrets the lab allows."""
    warnings: list[str] = []
    default = lab.defaults.ssh.host_key or "verify"
    loose: dict[str, list[str]] = {}
    for name, dev in lab.devices.items():
        ssh = dev.ssh
        policy = (ssh.host_key if ssh is not None else None) or default
        uses_ssh = dev.role in ("gnodeb", "core") or dev.connection == "ssh"
        if uses_ssh and policy != "verify":
            loose.setdefault(policy, []).append(name)
        if ssh is not None and ssh.jump is not None and (ssh.jump.host_key or policy) != "verify":
            loose.setdefault(ssh.jump.host_key or policy, []).append(f"{name} (jump host)")
    for key, names in sorted(loose.items()):
        what = ("trusted on first use, not verified" if key == "accept-new"
                else "NOT verified: anyone on the path can impersonate the device")
        warnings.append(f"SSH host keys of {', '.join(names)} are {what} (host_key: {key})")
    inline = [".".join(str(p) for p in path) for path, secret in secret_fields(lab)
              if secret.inline]
    if inline:
        warnings.append(f"the lab holds {len(inline)} inline secret(s) "
                        f"(allow_inline_secrets: true): {', '.join(inline)}")
    return warnings


def known_secrets(lab: Lab) -> list[str]:
    """The values of every secret the lab gives (resolvable ones): what error bodies and
    messages from servers are masked with."""
    values: list[str] = []
    for _, secret in secret_fields(lab):
        try:
            values.append(secret.reveal())
        except ConfigError:
            continue
    return values


def load_inputs(scenario_path: Path, lab_path: Path,
                kinds: KindRegistry | None = None) -> RunInputs:
    """Validate both files and plan the trials with `kinds` (default: the built-in kinds and
    the plugins'); raises ConfigError naming file, line and field."""
    kinds = kinds or default_registry()
    lab = load_model(lab_path, Lab)
    check_secrets(lab, lab_path)
    scenario = load_model(scenario_path, Scenario, context=scenario_context(kinds))
    _, index = load_yaml(scenario_path)

    def at(field: FieldPath, message: str) -> ConfigError:
        return error_at(scenario_path, index, field, message)

    check_hosts(lab, lab_path)
    for i, action in enumerate([*scenario.setup, *scenario.teardown]):
        section = "setup" if i < len(scenario.setup) else "teardown"
        pos = i if section == "setup" else i - len(scenario.setup)
        device = lab.devices.get(action.device)
        if device is None:
            raise at((section, pos, "device"), f"no device '{action.device}' in the lab "
                     f"(devices: {', '.join(lab.devices)})")
        if device.role != "gnodeb":
            raise at((section, pos, "device"),
                     f"{action.action} needs a gnodeb; '{action.device}' is a {device.role}")
    profiles = lab_profiles(lab, lab_path)
    check_scenario_actions(scenario, profiles, at)
    check_setup_params(lab, scenario, at)
    trials = plan(scenario, lab, FileSource(scenario_path, index), kinds)
    check_trials(scenario, trials, profiles, at)
    return RunInputs(lab=lab, lab_path=lab_path, scenario=scenario, scenario_path=scenario_path,
                     trials=trials, kinds=kinds)


def check_hosts(lab: Lab, lab_path: Path) -> None:
    """Every device host name of a real (not simulated) device resolves now: a typo is a
    positioned error before the run, not a socket error in the middle of it."""
    index: PositionIndex | None = None
    for name, dev in lab.devices.items():
        if dev.simulated is not None:
            continue
        hosts: list[tuple[FieldPath, str]] = [(("devices", name, "host"), dev.host)]
        if dev.ssh is not None and dev.ssh.jump is not None:
            hosts.append((("devices", name, "ssh", "jump", "host"), dev.ssh.jump.host))
        for field, host in hosts:
            try:
                socket.getaddrinfo(host.strip("[]"), None)
            except (OSError, UnicodeError) as exc:
                if index is None:
                    _, index = load_yaml(lab_path)
                reason = getattr(exc, "strerror", None) or str(exc)
                raise error_at(lab_path, index, field, f"cannot resolve host {host!r} "
                               f"({reason}): fix the name or give an IP address") from None


def check_setup_params(lab: Lab, scenario: Scenario,
                       at: Callable[[FieldPath, str], ConfigError]) -> None:
    """Every `set_cell` parameter of the scenario's setup, teardown and trial setups is one
    the device's profile can set (checked here when the profile is known; a device with its
    own driver is checked when the run applies it)."""
    steps: list[tuple[FieldPath, object, object]] = []
    for section in ("setup", "teardown"):
        for i, action in enumerate(getattr(scenario, section)):
            steps.append(((section, i), action.device, action.params))
    for t, raw in enumerate(scenario.trials):
        setup = raw.get("setup")
        for i, step in enumerate(setup if isinstance(setup, list) else []):
            if isinstance(step, dict):
                steps.append((("trials", t, "setup", i), step.get("device"), step.get("params")))
    settable: dict[str, list[str] | None] = {}
    for where, device, params in steps:
        dev = lab.devices.get(device) if isinstance(device, str) else None
        if dev is None or dev.profile is None or dev.driver is not None or \
                not isinstance(params, dict):
            continue
        if dev.profile not in settable:
            settable[dev.profile] = _settable(lab, dev.profile)
        can = settable[dev.profile]
        if can is None:
            continue
        for param in params:
            if param not in can:
                raise at((*where, "params", param),
                         f"profile {dev.profile} cannot set {param!r} on a cell of {device} "
                         f"(it can set: {', '.join(can)})")


def _settable(lab: Lab, profile: str) -> list[str] | None:
    """The cell parameters a profile's set_cell can set; None when that is not known here."""
    from drivers.profile import load_profile

    try:
        loaded = load_profile(profile, [Path(lab.profiles)] if lab.profiles else None)
    except ConfigError:
        return None  # the run reports a profile that does not load, where it is used
    action = loaded.actions.get("set_cell")
    return None if action is None or action.commands is None else list(action.commands)


def detect_kind(path: Path) -> str:
    """'lab', 'scenario', 'profile' or 'campaign', from the file's top-level keys."""
    data, _ = load_yaml(path)
    if isinstance(data, dict):
        if "devices" in data:
            return "lab"
        if "trials" in data:
            return "scenario"
        if "facts" in data or "kpis" in data:
            return "profile"
        if "runs" in data and "archive" in data:
            return "campaign"
    raise ConfigError("cannot tell what this file is: a lab has 'devices', a scenario 'trials', "
                      "a vendor profile 'facts', a campaign 'runs' and 'archive'",
                      file=str(path), line=1, column=1)
