"""Every scenario of the library validates (`harness validate`) against the lab it is meant for,
has bilingual titles and cites references; every long scenario has a quick variant."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
MOCN_LAB = SCENARIOS / "labs" / "mocn-lab.yaml"
LIBRARY = ("smoke", "commercial-trial", "rfc2544", "y1564", "latency-under-load",
           "sharing-mocn", "firmware-regression", "soak-24h")
LONG = tuple(name for name in LIBRARY if name != "smoke")
def validate(*args: str) -> tuple[int, str]:
    """`harness validate ARGS`, in process: exit code and everything it printed."""
    result = CliRunner().invoke(cli, ["validate", *args], catch_exceptions=False)
    return result.exit_code, result.output


def scenario_files() -> list[Path]:
    """Every scenario of the library, quick variants included (not the labs)."""
    return sorted([*SCENARIOS.glob("*.yaml"), *(SCENARIOS / "quick").glob("*.yaml")])


def lab_for(path: Path) -> Path:
    """The MOCN lab for the sharing scenarios, the default lab for the rest."""
    return MOCN_LAB if path.stem.startswith("sharing") else ROOT / "lab.yaml"


def test_the_library_is_complete() -> None:
    names = {p.stem for p in SCENARIOS.glob("*.yaml")}
    assert set(LIBRARY) <= names
    quick = {p.stem for p in (SCENARIOS / "quick").glob("*.yaml")}
    assert set(LONG) <= quick


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_scenario_validates(path: Path) -> None:
    code, output = validate(str(path), "--lab", str(lab_for(path)))
    assert code == 0, output
    assert f"{path}: ok (scenario)" in output


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_scenario_has_bilingual_title_and_references(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["title"]["vi"] and doc["title"]["en"]
    assert doc["title"]["vi"] != doc["title"]["en"]
    assert doc.get("references"), f"{path.name} cites no reference"


def test_mocn_lab_validates() -> None:
    code, output = validate(str(MOCN_LAB))
    assert code == 0, output
