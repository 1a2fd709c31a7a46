"""contrib/ci/: the GitLab CI and GitHub Actions examples' own commands (not the CI servers),
run on the simulated lab: a first pipeline (no baseline yet), then a second one that finds the
first as its `last-pass` baseline through the cached reports directory; artifacts published,
the run directory verified, the job's exit code the verdict's. Also `harness run --json`."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_tool
from tests.runner_helpers import FAST_LAB

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "contrib" / "ci"
EXIT = {"PASS": 0, "FAIL": 1, "ERROR": 3, "INCONCLUSIVE": 3}
pytestmark = pytest.mark.e2e


def gitlab_script() -> list[str]:
    """The script lines of the GitLab job."""
    config = yaml.safe_load((CI / "gitlab-ci.yml").read_text(encoding="utf-8"))
    job = config["firmware-regression"]
    assert job["artifacts"]["reports"]["junit"] == "ci-artifacts/junit.xml"
    return [str(line) for line in job["script"]]


def github_script() -> list[str]:
    """The lines of the GitHub workflow's step that runs the harness."""
    config = yaml.safe_load((CI / "github-actions.yml").read_text(encoding="utf-8"))
    steps = config["jobs"]["firmware-regression"]["steps"]
    step = next(s for s in steps if s.get("name") == "Firmware regression on the simulated lab")
    assert any(str(s.get("uses", "")).startswith("actions/upload-artifact") for s in steps)
    return str(step["run"]).splitlines()


def _workspace(tmp: Path) -> dict[str, str]:
    """A checkout-like directory (the repository's lab and scenarios) and the job's env."""
    for name in ("lab.yaml", "scenarios"):
        (tmp / name).symlink_to(ROOT / name)
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp / ".ci-config")}


def _run_job(lines: list[str], tmp: Path, env: dict[str, str]) -> tuple[int, str, dict[str, Any]]:
    proc = subprocess.run(["bash", "-eo", "pipefail", "-c", "\n".join(lines)], cwd=tmp,
                          env=env, capture_output=True, text=True, timeout=420, check=False)
    summary = json.loads((tmp / "ci-artifacts" / "summary.json").read_text(encoding="utf-8"))
    return proc.returncode, proc.stdout + proc.stderr, summary


def _check_artifacts(tmp: Path, summary: dict[str, Any], output: str, code: int) -> None:
    from tests.test_junit_ci import _valid

    assert code == EXIT[summary["verdict"]], output
    assert summary["scenario"]["name"] == "firmware-regression"
    assert (tmp / "ci-artifacts" / "report.html").is_file()
    if importlib.util.find_spec("harness.report.pdf") is not None:  # once PDF reports exist
        assert (tmp / "ci-artifacts" / "report.pdf").is_file()
    _valid(tmp / "ci-artifacts" / "junit.xml")
    assert f"verified: {summary['run_dir']}" in output, output
    assert summary["signing"]["fingerprint"] in output


def test_the_examples_name_what_a_vendor_pipeline_needs() -> None:
    for lines in (gitlab_script(), github_script()):
        text = "\n".join(lines)
        assert "harness run scenarios/firmware-regression.yaml" in text
        assert "--baseline last-pass" in text and "--junit ci-artifacts/junit.xml" in text
        assert "harness verify" in text and "exit $status" in text
        for artifact in ("report.html", "report.pdf", "junit.xml"):
            assert artifact in text
    assert gitlab_script() == [line for line in github_script() if line.strip()]


def test_the_ci_examples_run_on_the_simulated_lab(tmp_path: Path) -> None:
    require_tool("iperf3")
    env = _workspace(tmp_path)
    code, output, first = _run_job(gitlab_script(), tmp_path, env)
    _check_artifacts(tmp_path, first, output, code)
    assert "baseline" not in first or first["baseline"].get("run_id") is None
    # the next pipeline: the reports directory comes back from the cache
    for old in (tmp_path / "ci-artifacts").iterdir():
        old.unlink()
    code, output, second = _run_job(github_script(), tmp_path, env)
    _check_artifacts(tmp_path, second, output, code)
    if first["verdict"] == "PASS":
        assert second["baseline"]["run_id"] == first["run_id"]


SCENARIO = """\
name: json-out
title: {vi: "Đầu ra JSON", en: "JSON output"}
defaults: {duration: 2s}
trials:
  - id: tput
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    min_samples: 1                 # an exact observation: no interval needed
    criteria: ["throughput.max >= 100 Gbit/s"]
"""


def test_run_json_prints_the_summary_with_the_verdicts_exit_code(tmp_path: Path) -> None:
    require_tool("iperf3")
    (tmp_path / "lab.yaml").write_text(FAST_LAB, encoding="utf-8")
    (tmp_path / "s.yaml").write_text(SCENARIO, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "s.yaml", "--lab", "lab.yaml",
                           "--out", "reports", "--json", "-q"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    summary = json.loads(proc.stdout)
    assert summary["verdict"] == "FAIL" and proc.returncode == 1, proc.stderr
    assert Path(tmp_path / summary["run_dir"], "summary.json").is_file()
    stored = json.loads((tmp_path / summary["run_dir"] / "summary.json").read_text("utf-8"))
    assert {k: v for k, v in summary.items() if k != "run_dir"} == stored
    bad = subprocess.run([sys.executable, "-m", "harness", "run", "missing.yaml", "--lab",
                          "lab.yaml", "--json"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert bad.returncode == 2 and bad.stdout == "" and "missing.yaml" in bad.stderr
