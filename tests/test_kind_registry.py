"""One kind registry from validation to the trial, and kind plugins that fail to load say which.

Regression tests for issue 11: the planner took a registry but scenario validation and the
trial runner used the process-global default, so a kind registered only in the run's registry
was refused as unknown (or measured by another kind of the same name); a broken kind plugin
gave a bare ImportError traceback.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from harness.base.errors import ConfigError
from harness.base.units import Quantity
from harness.engine.inputs import load_inputs
from harness.engine.trial import TrialRun
from harness.kinds import ENTRY_POINT_GROUP, KindRegistry, TrialKind, default_registry
from harness.kinds.base import KindRun, TrialBase

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "lab.yaml"


def _echo_units(spec: TrialBase) -> Mapping[str, str]:
    return {"echo.value": "ms"}


async def _echo(run: KindRun) -> None:
    run.metrics["echo.value"] = Quantity(4.0, "ms")
    run.exact.add("echo.value")


ECHO = TrialKind(name="echo", spec=TrialBase, measure=_echo, metrics=_echo_units,
                 summary="a test kind that reports 4 ms", needs_hosts=False)


def _scenario(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"""\
name: t
title: {{vi: "Thử", en: "Test"}}
defaults: {{duration: 1s, repetitions: 1}}
trials:
  - id: e
    kind: {kind}
    criteria: ["echo.value <= 5 ms"]
""", encoding="utf-8")
    return path


def _registry() -> KindRegistry:
    return KindRegistry([*(default_registry().get(n) for n in default_registry().names()), ECHO])


def test_the_runs_registry_validates_plans_and_measures(tmp_path: Path) -> None:
    registry = _registry()
    assert "echo" not in default_registry().names()
    inputs = load_inputs(_scenario(tmp_path, "echo"), LAB, kinds=registry)
    assert inputs.kinds is registry
    (trial,) = inputs.trials
    assert trial.kind == "echo"
    bench = SimpleNamespace(gnbs={}, cores={}, hosts={}, lab=inputs.lab)
    run = TrialRun(trial, cast(Any, bench), run_tags={}, raw_dir=tmp_path, emit=lambda s: None,
                   kinds=inputs.kinds)
    entry = asyncio.run(run.run())
    assert entry["error"] is None, entry
    assert entry["metrics"]["echo.value"]["value"] == 4.0
    assert entry["verdict"] == "PASS"


def test_unknown_kind_lists_the_runs_registry(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"s\.yaml:6:\d+: trials\[0\]\.kind: unknown trial "
                       r"kind 'warp' \(kinds: .*echo\)"):
        load_inputs(_scenario(tmp_path, "warp"), LAB, kinds=_registry())
    with pytest.raises(ConfigError, match=r"unknown trial kind 'echo'"):
        load_inputs(_scenario(tmp_path, "echo"), LAB)  # the default registry has no echo


def test_broken_kind_plugin_says_which() -> None:
    broken = importlib.metadata.EntryPoint(name="broken", value="no_such_module_k:KIND",
                                           group=ENTRY_POINT_GROUP)
    with pytest.raises(ConfigError, match=r"cannot load trial kind 'broken' from "
                       r"no_such_module_k:KIND: ModuleNotFoundError"):
        KindRegistry().load_entry_points([broken])
    odd = importlib.metadata.EntryPoint(name="odd", value="math:pi", group=ENTRY_POINT_GROUP)
    with pytest.raises(ConfigError, match=r"trial kind 'odd' from math:pi is not a TrialKind "
                       r"\(got float\)"):
        KindRegistry().load_entry_points([odd])
