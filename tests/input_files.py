"""Input files for the bad-input tests: the repository's good lab and scenario to break, a
file written from text, and the line a piece of text stands on (to predict `FILE:LINE:COL`)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOOD_LAB = (ROOT / "lab.yaml").read_text(encoding="utf-8")
GOOD_SCENARIO = (ROOT / "scenarios" / "smoke.yaml").read_text(encoding="utf-8")


def write_input(folder: Path, name: str, text: str) -> Path:
    """`text` written to `folder/name` (UTF-8); its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the first line of `text` holding `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")
