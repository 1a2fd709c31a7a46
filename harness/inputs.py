"""Loading a run's inputs: lab and scenario validated, trials planned — or positioned errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from harness.config.lab import Lab
from harness.config.loader import error_at, load_model, load_yaml
from harness.config.scenario import Scenario
from harness.config.secrets import Secret
from harness.errors import ConfigError
from harness.plan import FieldPath, FileSource, plan
from harness.runner import RunInputs


def _secret_fields(value: object, path: FieldPath) -> Iterator[tuple[FieldPath, Secret]]:
    if isinstance(value, Secret):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_fields(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_fields(item, (*path, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _secret_fields(item, (*path, i))


def check_secrets(lab: Lab, lab_path: Path) -> None:
    """Every `${env:..}`/`${file:..}` in the lab resolves now, before any device is touched."""
    _, index = load_yaml(lab_path)
    for field, secret in _secret_fields(lab, ()):
        try:
            secret.reveal()
        except ConfigError as exc:
            raise error_at(lab_path, index, field, exc.reason) from None


def load_inputs(scenario_path: Path, lab_path: Path) -> RunInputs:
    """Validate both files and plan the trials; raises ConfigError naming file, line and field."""
    lab = load_model(lab_path, Lab)
    check_secrets(lab, lab_path)
    scenario = load_model(scenario_path, Scenario)
    _, index = load_yaml(scenario_path)

    def at(field: FieldPath, message: str) -> ConfigError:
        return error_at(scenario_path, index, field, message)

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
    trials = plan(scenario, lab, FileSource(scenario_path, index))
    return RunInputs(lab=lab, lab_path=lab_path, scenario=scenario, scenario_path=scenario_path,
                     trials=trials)


def detect_kind(path: Path) -> str:
    """'lab', 'scenario' or 'profile', from the file's top-level keys."""
    data, _ = load_yaml(path)
    if isinstance(data, dict):
        if "devices" in data:
            return "lab"
        if "trials" in data:
            return "scenario"
        if "facts" in data or "kpis" in data:
            return "profile"
    raise ConfigError("cannot tell what this file is: a lab has 'devices', a scenario 'trials', "
                      "a vendor profile 'facts'", file=str(path), line=1, column=1)
