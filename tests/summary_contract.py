"""The summary.json contract from DESIGN.md, as pydantic models (extra keys allowed)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

VerdictName = Literal["PASS", "FAIL", "ERROR", "INCONCLUSIVE", "SKIPPED"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Named(_Model):
    name: str
    sha256: str


class Device(_Model):
    name: str
    role: str
    vendor: str
    model: str
    serial: str
    firmware: str


class Value(_Model):
    value: float
    unit: str


class CriterionEntry(_Model):
    expr: str
    observed: Value | None
    threshold: Value | None
    verdict: VerdictName
    source: str | None


class TrialEntry(_Model):
    id: str
    repetition: int
    verdict: VerdictName
    metrics: dict[str, Value]
    criteria: list[CriterionEntry]
    error: str | None


class Summary(_Model):
    format_version: int
    harness_version: str
    run_id: str
    verdict: VerdictName
    scenario: Named
    lab: Named
    started: str
    finished: str
    devices: list[Device]
    trials: list[TrialEntry]
