"""`firmware_upgrade`: upload, install, wait for the device to come back, verify the version,
then (optionally) run a named scenario again on the new firmware: a regression after upgrade.

The procedure is harness/measure/firmware.py, through the gNodeB's `FirmwareControl`. A
refused image or a wrong version after the upgrade is measured (metrics `firmware.refused`,
`firmware.version_ok`…) and judged by the criteria, FAIL rather than ERROR; the device's
message is in the notes. What stops the procedure from being measured (image missing, upload
failed, device unreachable before the install) makes the trial ERROR.

`regression: NAME` names a scenario (`NAME.yaml` next to this scenario file, else in its
parent directory: a quick variant finds `scenarios/smoke.yaml`). It is planned against the
same lab when the scenario is validated, and its trials run on the same bench after a
successful upgrade, each under the id `THIS-TRIAL.regression.ITS-ID`. Their entries are kept
under this trial's `regression` key; metrics `regression.trials`, `regression.pass`,
`regression.failed` (trials not PASS; all of them when the upgrade failed and the regression
could not run), and the trial is also judged by `regression.failed == 0` unless a criterion
of its own reads a `regression.` metric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import Field, ValidationInfo, field_validator, model_validator

from drivers.capabilities import FirmwareControl
from harness.config.lab import Lab
from harness.config.types import Duration, FieldError, Identifier, NonEmptyStr
from harness.errors import ConfigError
from harness.kinds import TrialKind
from harness.kinds.base import KindRun, TrialBase
from harness.measure.firmware import DEFAULT_CRITERIA, UpgradeOptions, upgrade_firmware
from harness.units import Quantity
from harness.verdict import Verdict

if TYPE_CHECKING:
    from harness.plan import PlannedTrial

REGRESSION_CRITERION = "regression.failed == 0"

_UNITS = {"firmware.version_ok": "", "firmware.refused": "", "firmware.old_version_kept": "",
          "firmware.came_back": "", "firmware.upload_s": "s", "firmware.downtime_s": "s",
          "firmware.back_after_s": "s"}
_REGRESSION_UNITS = {"regression.trials": "", "regression.pass": "", "regression.failed": ""}


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, Mapping) else {}
    base = context.get("base_dir")
    return Path(base) if base is not None else Path.cwd()


class FirmwareUpgradeSpec(TrialBase):
    """Upgrade one gNodeB's firmware (and run a regression scenario after it)."""

    kind: Literal["firmware_upgrade"]
    device: Identifier
    image: NonEmptyStr  # relative to the scenario file; stored resolved
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    version: NonEmptyStr | None = None  # None: any version other than the old one
    come_back_timeout: Duration = 600.0
    regression: NonEmptyStr | None = None  # scenario name; stored as its resolved path

    @field_validator("image")
    @classmethod
    def _image(cls, value: str, info: ValidationInfo) -> str:
        path = Path(value)
        path = path if path.is_absolute() else _base_dir(info) / path
        if not path.is_file():
            raise ValueError(f"firmware image {path} does not exist: give the image file's "
                             "path relative to the scenario file")
        return str(path.resolve())

    @field_validator("regression")
    @classmethod
    def _regression(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if "/" in value or value.endswith(".yaml"):
            candidates = [_base_dir(info) / value]
        else:
            base = _base_dir(info)
            candidates = [base / f"{value}.yaml", base.parent / f"{value}.yaml"]
        for path in candidates:
            if path.is_file():
                return str(path.resolve())
        raise ValueError(f"no regression scenario {value!r} (looked for "
                         f"{', '.join(str(p) for p in candidates)})")

    @model_validator(mode="before")
    @classmethod
    def _default_criteria(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("criteria") is not None and not isinstance(data["criteria"], list):
            return data  # not a list: the field's own validation says so, with its position
        criteria = list(data.get("criteria") or DEFAULT_CRITERIA)
        reads_regression = any(isinstance(c, str) and "regression." in c for c in criteria)
        if data.get("regression") and not reads_regression:
            criteria.append(REGRESSION_CRITERION)
        return {**data, "criteria": criteria}

    @model_validator(mode="after")
    def _checks(self) -> FirmwareUpgradeSpec:
        if not self.come_back_timeout > 0:
            raise FieldError("expected a duration > 0", at=("come_back_timeout",))
        return self

    def devices(self) -> set[str]:
        """The upgraded device (and whatever the base fields name)."""
        return super().devices() | {self.device}


def firmware_units(spec: TrialBase) -> Mapping[str, str]:
    """Metrics of a firmware_upgrade trial (regression ones when it runs a regression)."""
    s = cast(FirmwareUpgradeSpec, spec)
    return {**_UNITS, **(_REGRESSION_UNITS if s.regression else {})}


def plan_regression(spec: FirmwareUpgradeSpec, lab: Lab) -> list[PlannedTrial]:
    """The regression scenario's trials planned against `lab` (ConfigError when it does not
    validate, or itself runs a regression)."""
    from harness.config.loader import load_model, load_yaml
    from harness.config.scenario import Scenario
    from harness.plan import FileSource, plan

    path = Path(cast(str, spec.regression))
    scenario = load_model(path, Scenario)
    _, index = load_yaml(path)
    trials = plan(scenario, lab, FileSource(path, index))
    for t in trials:
        if isinstance(t.spec, FirmwareUpgradeSpec) and t.spec.regression is not None:
            raise ConfigError(f"{path}: trial {t.id} runs a regression itself: a regression "
                              "scenario cannot nest another")
    return trials


def check_lab(spec: TrialBase, lab: Lab) -> list[tuple[tuple[str | int, ...], str]]:
    """The device is a gNodeB of the lab; the regression scenario plans against the lab."""
    s = cast(FirmwareUpgradeSpec, spec)
    device = lab.devices.get(s.device)
    if device is None:
        return [(("device",), f"no device '{s.device}' in the lab "
                              f"(devices: {', '.join(lab.devices)})")]
    if device.role != "gnodeb":
        return [(("device",), f"device '{s.device}' is a {device.role}, not a gnodeb")]
    if s.regression is not None:
        try:
            plan_regression(s, lab)
        except ConfigError as exc:
            return [(("regression",), f"the regression scenario does not validate: {exc}")]
    return []


async def measure(run: KindRun) -> None:
    """Upgrade, then run the regression scenario on the new firmware when the upgrade worked."""
    spec = cast(FirmwareUpgradeSpec, run.spec)
    gnb = run.bench.gnbs.get(spec.device)
    if gnb is None or not isinstance(gnb, FirmwareControl):
        raise ConfigError(f"{spec.device}: its driver cannot upgrade firmware (no "
                          "FirmwareControl): use a profile with firmware upload and install")
    opts = UpgradeOptions(image=Path(spec.image), expected_version=spec.version,
                          expected_sha256=spec.sha256,
                          come_back_timeout_s=spec.come_back_timeout)
    result = await upgrade_firmware(gnb, opts)
    run.metrics.update(result.metrics())
    run.notes.append(f"{result.device}: {result.old_version} → {result.new_version or '?'}")
    run.notes.append(result.error if result.error is not None else result.message.strip())
    run.extra["firmware"] = {"old_version": result.old_version,
                             "new_version": result.new_version,
                             "image_sha256": result.image_sha256, "polls": result.polls}
    if spec.regression is not None:
        await _regression(run, spec, ok=result.error is None and result.version_ok)


async def _regression(run: KindRun, spec: FirmwareUpgradeSpec, *, ok: bool) -> None:
    from harness.trial import TrialRun

    trials = plan_regression(spec, run.bench.lab)
    entries: list[dict[str, Any]] = []
    if ok:
        for sub in trials:
            renamed = dataclasses.replace(sub, id=f"{run.trial.id}.regression.{sub.id}")
            tags = {k: v for k, v in run.tags.items()
                    if k not in ("trial", "repetition", "kind", "direction", "protocol")}
            entry = await TrialRun(renamed, run.bench, run_tags=tags, raw_dir=run.raw_dir,
                                   emit=run.emit).run()
            entries.append(entry)
            run.notes.append(f"regression {sub.id} r{sub.repetition}: {entry['verdict']}"
                             + (f" ({entry['error']})" if entry.get("error") else ""))
    else:
        run.notes.append(f"regression {Path(cast(str, spec.regression)).stem} not run: the "
                         "upgrade did not succeed")
    passed = sum(1 for e in entries if e["verdict"] == Verdict.PASS.value)
    run.metrics["regression.trials"] = Quantity(float(len(trials)), "")
    run.metrics["regression.pass"] = Quantity(float(passed), "")
    run.metrics["regression.failed"] = Quantity(float(len(trials) - passed), "")
    run.extra["regression"] = {"scenario": spec.regression, "ran": ok, "trials": entries}


KIND = TrialKind(
    name="firmware_upgrade", spec=FirmwareUpgradeSpec, measure=measure,
    metrics=firmware_units, needs_hosts=False, check_lab=check_lab,
    summary="firmware upload, install, come-back and version check, then a regression run")
