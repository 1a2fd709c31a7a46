"""`firmware_upgrade`: upload, install, wait for the device to come back, verify the version,
then (optionally) run a named scenario again on the new firmware: a regression after upgrade.

The procedure is harness/kinds/firmware_steps.py, through the gNodeB's `FirmwareControl`.
Built-in acceptance (part of the verdict with or without criteria): with `expect: upgraded`
(the default) the device came back after the install (FAIL otherwise) and runs the expected
version (FAIL otherwise); with `expect: refused` (a negative test, e.g. a corrupt image) the
device refused the image and kept its old version. The device's message is in the notes.
What stops the procedure from being measured (image missing, upload failed, device
unreachable before the install) makes the trial ERROR. Metrics `firmware.refused`,
`firmware.version_ok`… stay for criteria.

`regression: NAME` names a scenario (`NAME.yaml` next to this scenario file, else in its
parent directory: a quick variant finds `scenarios/smoke.yaml`). It is planned against the
same lab when the scenario is validated, and its trials run on the same bench after a
successful upgrade, each under the id `THIS-TRIAL.regression.ITS-ID`. Their entries are kept
under this trial's `regression` key; metrics `regression.trials`, `regression.pass`,
`regression.failed` (trials not PASS; all of them when the upgrade failed and the regression
could not run). The worst verdict of the regression's trials is an acceptance result of this
trial, so a regression FAIL (or ERROR, INCONCLUSIVE) reaches its verdict; a regression that
could not run (the upgrade failed) is INCONCLUSIVE. The summary's `firmware.timeline` lists
every call the procedure made to the device (facts polls, upload, install) with its start, end
and outcome, for the report's upgrade timeline.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast

from pydantic import Field, ValidationInfo, field_validator, model_validator

from drivers.capabilities import DeviceFacts, FirmwareControl, UploadedImage
from harness.base.errors import ConfigError
from harness.base.schema import Duration, FieldError, Identifier, NonEmptyStr
from harness.base.units import Quantity
from harness.base.verdict import Verdict, worst
from harness.config.lab import Lab
from harness.judge.criteria import CriterionResult
from harness.kinds import TrialKind
from harness.kinds.base import KindRun, PlanContext, ScenarioPlanner, TrialBase
from harness.kinds.firmware_steps import (
    UpgradableDevice,
    UpgradeOptions,
    UpgradeResult,
    upgrade_firmware,
)

if TYPE_CHECKING:
    from harness.kinds.planned import PlannedTrial

_SOURCE = "firmware upgrade procedure (DESIGN.md: firmware come-back and version check)"

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
    expect: Literal["upgraded", "refused"] = "upgraded"  # refused: a negative test

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


def plan_regression(spec: FirmwareUpgradeSpec, lab: Lab,
                    plan_file: ScenarioPlanner) -> list[PlannedTrial]:
    """The regression scenario's trials planned against `lab` (ConfigError when it does not
    validate, or itself runs a regression)."""
    path = Path(cast(str, spec.regression))
    trials = plan_file(path, lab)
    for t in trials:
        if isinstance(t.spec, FirmwareUpgradeSpec) and t.spec.regression is not None:
            raise ConfigError(f"{path}: trial {t.id} runs a regression itself: a regression "
                              "scenario cannot nest another")
    return trials


def check_lab(spec: TrialBase, ctx: PlanContext) -> list[tuple[tuple[str | int, ...], str]]:
    """The device is a gNodeB of the lab; the regression scenario plans against the lab."""
    s, lab = cast(FirmwareUpgradeSpec, spec), ctx.lab
    device = lab.devices.get(s.device)
    if device is None:
        return [(("device",), f"no device '{s.device}' in the lab "
                              f"(devices: {', '.join(lab.devices)})")]
    if device.role != "gnodeb":
        return [(("device",), f"device '{s.device}' is a {device.role}, not a gnodeb")]
    if s.regression is not None:
        try:
            plan_regression(s, lab, ctx.plan_file)
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
    timed = _Timed(gnb)
    result = await upgrade_firmware(timed, opts)
    run.metrics.update(result.metrics())
    run.exact |= {"firmware.", "regression."}  # checks and timings (harness/judge/estimates.py)
    run.notes.append(f"{result.device}: {result.old_version} → {result.new_version or '?'}")
    run.notes.append(result.error if result.error is not None else result.message.strip())
    run.extra["firmware"] = {"old_version": result.old_version,
                             "new_version": result.new_version,
                             "image_sha256": result.image_sha256, "polls": result.polls,
                             "timeline": timed.steps}
    run.acceptance.extend(upgrade_acceptance(result, spec.expect))
    if spec.regression is not None:
        await _regression(run, spec, ok=result.error is None and result.version_ok)


_T = TypeVar("_T")


class _Timed:
    """The device as the upgrade procedure sees it, recording each call's start and end
    (seconds since the first call) and outcome, for the report's upgrade timeline."""

    def __init__(self, device: UpgradableDevice) -> None:
        self._device = device
        self._t0: float | None = None
        self.steps: list[dict[str, Any]] = []

    @property
    def name(self) -> str:
        """The device's name."""
        return self._device.name

    async def _call(self, step: str, call: Awaitable[_T]) -> _T:
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        entry: dict[str, Any] = {"step": step, "start_s": round(now - self._t0, 4)}
        try:
            value = await call
        except BaseException:
            entry.update(end_s=round(time.monotonic() - self._t0, 4), ok=False)
            self.steps.append(entry)
            raise
        entry.update(end_s=round(time.monotonic() - self._t0, 4), ok=True)
        if isinstance(value, DeviceFacts):
            entry["firmware"] = value.firmware
        self.steps.append(entry)
        return value

    async def facts(self) -> DeviceFacts:
        """The device's facts (each poll recorded)."""
        return await self._call("facts", self._device.facts())

    async def upload_firmware(self, image: Path, *,
                              expected_sha256: str | None = None) -> UploadedImage:
        """Upload the image (recorded)."""
        return await self._call("upload", self._device.upload_firmware(
            image, expected_sha256=expected_sha256))

    async def install_firmware(self, remote: str) -> str:
        """Install the uploaded image (recorded)."""
        return await self._call("install", self._device.install_firmware(remote))


def upgrade_acceptance(result: UpgradeResult, expect: str) -> list[CriterionResult]:
    """The built-in judgement of the upgrade itself (see the module docstring)."""
    dev, seen = result.device, f"{result.old_version} → {result.new_version or '?'}"
    if expect == "refused":
        ok = result.refused and result.new_version == result.old_version
        return [CriterionResult(
            f"firmware_upgrade {dev}: image refused, old version kept", None, None,
            Verdict.PASS if ok else Verdict.FAIL, _SOURCE,
            f"expect: refused; refused={result.refused}, version {seen}"
            + (f"; {result.error}" if result.error else ""))]
    back = CriterionResult(
        f"firmware_upgrade {dev}: came back after the install",
        None if result.back_after_s is None else Quantity(result.back_after_s, "s"), None,
        Verdict.PASS if result.came_back and not result.refused else Verdict.FAIL, _SOURCE,
        "refused the image: " + (result.error or result.message.strip()) if result.refused
        else (f"answered again {result.back_after_s:.1f} s after the install"
              if result.came_back and result.back_after_s is not None
              else result.error or "did not come back"))
    want = result.expected_version or f"any version but {result.old_version}"
    version = CriterionResult(
        f"firmware_upgrade {dev}: version check", None, None,
        Verdict.PASS if result.version_ok else Verdict.FAIL, _SOURCE,
        f"expected {want}; running {result.new_version or 'unknown'} ({seen})")
    return [back, version]


async def _regression(run: KindRun, spec: FirmwareUpgradeSpec, *, ok: bool) -> None:
    if run.plan_file is None or run.run_trial is None:
        raise ConfigError("a firmware_upgrade with a regression needs the engine's planner")
    trials = plan_regression(spec, run.bench.lab, run.plan_file)
    entries: list[dict[str, Any]] = []
    if ok:
        for sub in trials:
            renamed = dataclasses.replace(sub, id=f"{run.trial.id}.regression.{sub.id}")
            tags = {k: v for k, v in run.tags.items()
                    if k not in ("trial", "repetition", "kind", "direction", "protocol")}
            entry = await run.run_trial(renamed, tags)
            entries.append(entry)
            run.notes.append(f"regression {sub.id} r{sub.repetition}: {entry['verdict']}"
                             + (f" ({entry['error']})" if entry.get("error") else ""))
    else:
        run.notes.append(f"regression {Path(cast(str, spec.regression)).stem} not run: the "
                         "upgrade did not succeed")
    passed = sum(1 for e in entries if e["verdict"] == Verdict.PASS.value)
    name = Path(cast(str, spec.regression)).stem
    if ok:
        verdicts = [Verdict(e["verdict"]) for e in entries]
        bad = [f"{e['id']} r{e['repetition']}: {e['verdict']}" for e in entries
               if e["verdict"] != Verdict.PASS.value]
        verdict = worst(verdicts) if verdicts else Verdict.INCONCLUSIVE
        detail = (f"{passed} of {len(entries)} trial(s) PASS"
                  + (f"; {', '.join(bad)}" if bad else ""))
    else:
        verdict, detail = Verdict.INCONCLUSIVE, "not run: the upgrade did not succeed"
    run.acceptance.append(CriterionResult(
        f"firmware_upgrade regression {name}: worst verdict of its trials", None, None,
        verdict, "regression after upgrade: the scenario's trials on the new firmware",
        detail))
    run.metrics["regression.trials"] = Quantity(float(len(trials)), "")
    run.metrics["regression.pass"] = Quantity(float(passed), "")
    run.metrics["regression.failed"] = Quantity(float(len(trials) - passed), "")
    run.extra["regression"] = {"scenario": spec.regression, "ran": ok, "trials": entries}


KIND = TrialKind(
    name="firmware_upgrade", spec=FirmwareUpgradeSpec, measure=measure,
    metrics=firmware_units, needs_hosts=False, check_lab=check_lab,
    builtin_acceptance=True,
    summary="firmware upload, install, come-back and version check, then a regression run")
