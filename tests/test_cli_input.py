"""Bad lab and scenario files: file, line and field named, exit code 2, no traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.input_files import GOOD_LAB, GOOD_SCENARIO, line_of, write_input
from tests.test_e2e_smoke import run_harness


def _assert_clean_error(proc: object, pattern: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)  # type: ignore[attr-defined]
    stderr: str = proc.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    assert re.search(pattern, stderr), stderr


def test_wrong_type_names_file_line_field(tmp_path: Path) -> None:
    lab_text = GOOD_LAB.replace("  ue1: {role: ue-host, host: 127.0.0.1}",
                                "  ue1: {role: ue-host, host: 127.0.0.1, traffic_port: abc}")
    lab = write_input(tmp_path, "lab.yaml", lab_text)
    line = line_of(lab_text, "traffic_port: abc")
    proc = run_harness("validate", str(lab))
    _assert_clean_error(proc, rf"lab\.yaml:{line}:\d+: devices\.ue1\.traffic_port: ")


def test_unknown_key_names_it_and_the_allowed_ones(tmp_path: Path) -> None:
    lab_text = GOOD_LAB.replace("    profile: sim-gnb\n", "    profile: sim-gnb\n    proifle: x\n")
    lab = write_input(tmp_path, "lab.yaml", lab_text)
    line = line_of(lab_text, "proifle")
    proc = run_harness("run", "scenarios/smoke.yaml", "--lab", str(lab))
    _assert_clean_error(proc, rf"lab\.yaml:{line}:5: devices\.gnb1\.proifle: .*profile")


def test_duplicate_key(tmp_path: Path) -> None:
    lab_text = GOOD_LAB.replace("    profile: sim-gnb\n", "    profile: sim-gnb\n    profile: x\n")
    lab = write_input(tmp_path, "lab.yaml", lab_text)
    line = line_of(lab_text, "profile: x")
    proc = run_harness("validate", str(lab))
    _assert_clean_error(proc, rf"lab\.yaml:{line}:\d+: .*duplicate key 'profile'")


def test_yaml_syntax_error(tmp_path: Path) -> None:
    scenario = write_input(tmp_path, "s.yaml", GOOD_SCENARIO.replace("streams: 4", "streams: [4"))
    proc = run_harness("run", str(scenario), "--lab", "lab.yaml")
    _assert_clean_error(proc, r"s\.yaml:\d+:\d+: ")


def test_scenario_bad_duration(tmp_path: Path) -> None:
    text = GOOD_SCENARIO.replace("duration: 12s", "duration: thirty")
    scenario = write_input(tmp_path, "s.yaml", text)
    line = line_of(text, "duration: thirty")
    proc = run_harness("validate", "--lab", "lab.yaml", str(scenario))
    _assert_clean_error(
        proc, rf"s\.yaml:{line}:\d+: defaults\.duration: expected a duration like '30s'")


def test_scenario_unknown_device(tmp_path: Path) -> None:
    text = GOOD_SCENARIO.replace("via: gnb1", "via: gnb9")
    scenario = write_input(tmp_path, "s.yaml", text)
    line = line_of(text, "via: gnb9")
    proc = run_harness("run", str(scenario), "--lab", "lab.yaml")
    _assert_clean_error(proc, rf"s\.yaml:{line}:\d+: trials\[0\]\.via: no device 'gnb9'")


def test_scenario_bad_criterion(tmp_path: Path) -> None:
    text = GOOD_SCENARIO.replace('"throughput.mean >= 0.6 * peak(gnb1)"',
                                 '"throughput.mean >= 100 Mbit/z"')
    scenario = write_input(tmp_path, "s.yaml", text)
    line = line_of(text, "Mbit/z")
    proc = run_harness("validate", "--lab", "lab.yaml", str(scenario))
    _assert_clean_error(proc, rf"s\.yaml:{line}:\d+: trials\[0\]\.criteria\[1\]: .*Mbit/z")


def test_missing_file() -> None:
    proc = run_harness("validate", "no-such-lab.yaml")
    _assert_clean_error(proc, r"no-such-lab\.yaml: cannot read file")


@pytest.mark.parametrize("name", ["lab.yaml", "scenarios/smoke.yaml",
                                  "drivers/profiles/sim-gnb.yaml"])
def test_shipped_files_validate(name: str) -> None:
    proc = run_harness("validate", "--lab", "lab.yaml", name)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_secret_reference_never_printed(tmp_path: Path) -> None:
    lab_text = GOOD_LAB.replace(
        "ssh: {user: admin, host_key: verify}",
        'ssh: {user: admin, host_key: verify, password: "${env:RH_TEST_UNSET_PW}", port: 0}')
    lab = write_input(tmp_path, "lab.yaml", lab_text)
    proc = run_harness("validate", str(lab))
    assert proc.returncode == 2
    assert "defaults.ssh.port" in proc.stderr


def test_validate_checks_a_scenario_against_the_lab_given_with_it() -> None:
    """`harness validate LAB SCENARIO` (the README's form) checks the scenario against LAB.
    Old code: against ./lab.yaml, so the MOCN scenario failed ("ue1 has no plmn") next to the
    MOCN lab it is written for."""
    proc = run_harness("validate", "scenarios/labs/mocn-lab.yaml", "scenarios/sharing-mocn.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "scenarios/sharing-mocn.yaml: ok (scenario)" in proc.stdout
    wrong = run_harness("validate", "lab.yaml", "scenarios/sharing-mocn.yaml")
    assert wrong.returncode == 2 and "has no plmn" in wrong.stderr
