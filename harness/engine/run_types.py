"""What a run is given and what it gives back: inputs, options, outcome, and its id."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.base.verdict import Verdict
from harness.config.lab import Lab
from harness.config.scenario import Scenario
from harness.engine.attach import Attach
from harness.engine.resume import ResumeState
from harness.kinds import KindRegistry, default_registry
from harness.kinds.planned import PlannedTrial
from harness.report.i18n import Lang

__all__ = ["RunInputs", "RunOptions", "RunOutcome", "file_sha256", "new_run_id"]


@dataclass(frozen=True)
class RunInputs:
    """What a run needs: the validated files, their paths, and the planned trials."""

    lab: Lab
    lab_path: Path
    scenario: Scenario
    scenario_path: Path
    trials: list[PlannedTrial]
    kinds: KindRegistry = field(default_factory=default_registry)  # the one the plan used


@dataclass(frozen=True)
class RunOptions:
    """How to run: retries of ERROR trials, a cap on parallel trials, a run to resume."""

    retries: int = 0
    max_parallel: int | None = None  # None: the scenario's max_parallel
    resume: ResumeState | None = None
    report_lang: Lang = "both"  # the report's language(s): vi, en or both
    report_pdf: bool = True  # report.pdf beside report.html
    attach: Attach | None = None  # run on the lab `harness sim up` runs (`--attach`)


@dataclass
class RunOutcome:
    """Where a run landed and how it ended."""

    run_dir: Path
    verdict: Verdict
    interrupted: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    storage_error: str | None = None  # the first run file that could not be written, and why
    summary_path: Path | None = None  # where summary.json went (None: nowhere could take it)


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file: how summary.json names the scenario and lab it ran."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_run_id(scenario: str) -> str:
    """`20261128T150102Z-smoke-3f9a`: sortable, readable, unique."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario}-{secrets.token_hex(2)}"
