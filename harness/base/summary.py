"""The typed model of `summary.json`, with flent-style format versioning.

Every writer serialises the run's summary through `WrittenSummary` (`summary_json`: the full
contract) and every reader goes through `read_summary` / `parse_summary` (`Summary`: what
readers rely on): a summary written by a newer ran-harness is
refused ("upgrade ran-harness"), an older one is upgraded step by step (`UPGRADES`) before it is
validated. The model types what readers rely on and keeps every other key as written
(`extra="allow"`), so a field added by a newer minor version survives a round trip.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.base import jsonio
from harness.base.errors import ConfigError

__all__ = [
    "SUMMARY_FORMAT_VERSION",
    "UPGRADES",
    "CriterionEntry",
    "DeviceEntry",
    "Summary",
    "SummaryError",
    "TrialEntry",
    "WrittenSummary",
    "parse_summary",
    "read_summary",
    "summary_json",
]

SUMMARY_FORMAT_VERSION = 1
"""The summary.json format this build writes; older ones are upgraded when read."""

VerdictName = Literal["PASS", "FAIL", "ERROR", "INCONCLUSIVE", "SKIPPED"]


class SummaryError(ConfigError):
    """A summary.json that cannot be read: unreadable, not a summary, or from a newer build."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")


class FileRef(_Part):
    """The scenario or lab file a run used."""

    name: str | None = None
    sha256: str | None = None
    file: str | None = None


class DeviceEntry(_Part):
    """One device's facts as the run found them."""

    name: str
    role: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None


class Value(_Part):
    """A figure with its unit."""

    value: float | None
    unit: str


class CriterionEntry(_Part):
    """One judged criterion."""

    expr: str
    observed: Value | None = None
    threshold: Value | None = None
    verdict: VerdictName | None = None
    source: str | None = None


class TrialEntry(_Part):
    """One trial repetition's result."""

    id: str
    repetition: int
    kind: str | None = None
    verdict: VerdictName | None = None
    metrics: dict[str, Value] = {}
    criteria: list[CriterionEntry] = []
    error: str | None = None
    started: str | None = None
    finished: str | None = None
    void: list[str] = []  # why its figures are the test equipment's (its criteria INCONCLUSIVE)


class Summary(_Part):
    """A run's summary.json as readers take it: every part they read is typed and checked
    when present; what a test or an older tool left out reads as absent, and every key the
    writer wrote is kept as it is."""

    format_version: int
    run_id: str
    verdict: VerdictName | None = None
    harness_version: str | None = None
    scenario: FileRef | None = None
    lab: FileRef | None = None
    started: str | None = None
    finished: str | None = None
    interrupted: bool = False
    complete: bool = False
    devices: list[DeviceEntry] = []
    trials: list[TrialEntry] = []
    setup_error: str | None = None
    restore_errors: list[Any] = []
    aggregates: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready mapping, every key as written (extra keys included)."""
        return self.model_dump(mode="json", exclude_unset=True)


class WrittenFileRef(FileRef):
    """A file reference as a run writes it."""

    name: str
    sha256: str


class WrittenDevice(DeviceEntry):
    """A device as a run writes it: "" for a fact the device could not give (`error` says)."""

    role: str
    vendor: str
    model: str
    serial: str
    firmware: str


class WrittenCriterion(CriterionEntry):
    """A criterion as a run writes it."""

    verdict: VerdictName
    source: str | None


class WrittenTrial(TrialEntry):
    """A trial entry as a run writes it."""

    verdict: VerdictName
    metrics: dict[str, Value]
    criteria: list[WrittenCriterion]  # type: ignore[assignment]
    error: str | None


class WrittenSummary(Summary):
    """What `harness run` writes: the DESIGN.md contract, every part present."""

    verdict: VerdictName
    harness_version: str
    scenario: WrittenFileRef
    lab: WrittenFileRef
    started: str
    finished: str | None
    devices: list[WrittenDevice]  # type: ignore[assignment]
    trials: list[WrittenTrial]  # type: ignore[assignment]


def _from_unversioned(data: dict[str, Any]) -> dict[str, Any]:
    """Format 0 (development builds before the format was numbered) → 1: same keys, numbered."""
    return {**data, "format_version": 1}


UPGRADES: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _from_unversioned}
"""format N → the function that turns a format-N summary into format N + 1."""


def parse_summary(data: object, *, where: str = "summary.json",
                  model: type[Summary] = Summary) -> Summary:
    """Validate a loaded summary, upgrading an older format; SummaryError says what is wrong.
    `model=WrittenSummary` holds it to the full contract (what a run must write)."""
    if not isinstance(data, dict):
        raise SummaryError(f"{where}: not a run summary (a JSON object is expected)")
    raw = data.get("format_version", 0)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise SummaryError(f"{where}: format_version {raw!r} is not a format number")
    if raw > SUMMARY_FORMAT_VERSION:
        raise SummaryError(f"{where}: written by a newer ran-harness (summary format {raw}; "
                           f"this one reads up to {SUMMARY_FORMAT_VERSION}): upgrade ran-harness")
    version, upgraded = raw, dict(data)
    while version < SUMMARY_FORMAT_VERSION:
        upgraded = UPGRADES[version](upgraded)
        version += 1
    try:
        return model.model_validate(upgraded)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise SummaryError(f"{where}: not a valid run summary: {place}: {first['msg']} "
                           f"({exc.error_count()} problem(s))") from None


def read_summary(path: Path) -> Summary:
    """Read and validate `path` (a summary.json, or a run directory holding one)."""
    if path.is_dir():
        path = path / "summary.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SummaryError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SummaryError(f"{path}: unreadable: {exc}") from None
    return parse_summary(data, where=str(path))


def summary_json(summary: Mapping[str, Any] | Summary) -> str:
    """The text of summary.json: validated through the model (a writer cannot produce a
    summary its readers refuse), strict JSON, keys as written."""
    model = summary if isinstance(summary, Summary) else parse_summary(
        dict(summary), model=WrittenSummary)
    return jsonio.dumps(model.as_dict(), what="summary.json", indent=2, ensure_ascii=False)
