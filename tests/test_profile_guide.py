"""docs/writing-a-profile.md's complete example profile, taken VERBATIM from the markdown, runs
the smoke scenario on the simulated gNodeB: what the guide teaches works as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drivers.profile import load_profile
from tests.conftest import require_tool
from tests.input_files import GOOD_LAB, write_input
from tests.test_e2e_smoke import ROOT, load_run, run_harness

GUIDE = ROOT / "docs" / "writing-a-profile.md"
MARKER = "<!-- guide-example-profile:"


def guide_profile() -> str:
    """The yaml block right after the guide's example marker, as it stands in the guide."""
    text = GUIDE.read_text(encoding="utf-8")
    after = text[text.index(MARKER):]
    match = re.search(r"```yaml\n(.*?)```", after, re.S)
    assert match is not None, "the guide lost its example profile block"
    return match.group(1)


def _lab(folder: Path) -> Path:
    (folder / "profiles").mkdir()
    write_input(folder / "profiles", "guide-gnb.yaml", guide_profile())
    text = GOOD_LAB.replace("name: sim-lab\n", "name: sim-lab\nprofiles: profiles\n")
    return write_input(folder, "lab.yaml", text.replace("profile: sim-gnb", "profile: guide-gnb"))


def test_the_guides_profile_loads_with_every_section(tmp_path: Path) -> None:
    _lab(tmp_path)
    profile = load_profile("guide-gnb", [tmp_path / "profiles"])
    assert profile.cell_index is not None and profile.cell_params["bandwidth_mhz"].map
    assert {"set_cell", "install_firmware", "set_trap_target"} <= set(profile.actions)
    assert profile.alarms is not None and profile.alarm_table is not None


@pytest.mark.e2e
def test_the_guides_profile_runs_the_smoke_scenario(tmp_path: Path) -> None:
    require_tool("iperf3")
    lab = _lab(tmp_path)
    checked = run_harness("validate", str(lab), "scenarios/smoke.yaml", "--lab", str(lab))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    proc = run_harness("run", "scenarios/smoke.yaml", "--lab", str(lab), "--out",
                       str(tmp_path / "reports"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _, summary = load_run(proc.stdout)
    trial = summary["trials"][0]
    assert summary["verdict"] == "PASS" and trial["verdict"] == "PASS", trial.get("error")
    assert trial["conditions"]["bandwidth_mhz"] == 100  # read as 273 PRB, mapped to MHz
    assert trial["peaks"]["gnb1/dl"]["value"] > 0
    assert any("peak(gnb1)" in c["expr"] for c in trial["criteria"])
