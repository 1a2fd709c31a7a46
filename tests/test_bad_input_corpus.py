"""The bad-input corpus (issue 12, "Bad input" and "Path traversal"): every case exits 2 with
`FILE:LINE:COL: field: message` (or a clear CLI message), no traceback, within seconds, and
writes nothing. Each case runs the real CLI in a subprocess, so a hang is a timeout, not a
stuck test run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.input_files import GOOD_LAB, GOOD_SCENARIO, ROOT, line_of, write_input
from tests.test_store import make_run

SSH_DEFAULTS = "  ssh: {user: admin, host_key: verify}"
RUN_ID = "20261128T100000Z-smoke-aaaa"
CASE_TIMEOUT_S = 30.0
QUICK_S = 15.0  # a refusal must come this fast (the 10^7-trial matrix, the FIFO)


@dataclass(frozen=True)
class Call:
    """One CLI call of a case and what its stderr must match."""

    argv: list[str]
    pattern: str
    untouched: Path | None = None  # must not exist afterwards (nothing written)
    hidden: str | None = None  # must appear nowhere in the output (a secret)


Case = Callable[[Path], Call]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn
    return register


def _lab_case(tmp: Path, old: str, new: str, field: str, message: str,
              needle: str | None = None, hidden: str | None = None) -> Call:
    assert old in GOOD_LAB, old
    text = GOOD_LAB.replace(old, new, 1)
    lab = write_input(tmp, "lab.yaml", text)
    line = line_of(text, needle or new.strip().splitlines()[-1])
    return Call(["validate", str(lab)], rf"lab\.yaml:{line}:\d+: {field}: {message}",
                hidden=hidden)


def _scenario_case(tmp: Path, old: str, new: str, field: str, message: str,
                   needle: str | None = None) -> Call:
    assert old in GOOD_SCENARIO, old
    text = GOOD_SCENARIO.replace(old, new, 1)
    scenario = write_input(tmp, "s.yaml", text)
    line = line_of(text, needle or new.strip().splitlines()[-1])
    return Call(["validate", "--lab", str(ROOT / "lab.yaml"), str(scenario)],
                rf"s\.yaml:{line}:\d+: {field}: {message}")


def _secret_case(tmp: Path, value: str, message: str) -> Call:
    return _lab_case(tmp, SSH_DEFAULTS,
                     f'  ssh: {{user: admin, host_key: verify, password: "{value}"}}',
                     r"defaults\.ssh\.password", message, needle="password:")


# ------------------------------------------------------------------------------ files


@case("lab-is-dev-zero")
def _dev_zero(tmp: Path) -> Call:
    return Call(["validate", "/dev/zero"], r"/dev/zero: .*not a regular file")


@case("lab-is-fifo")
def _fifo(tmp: Path) -> Call:
    fifo = tmp / "lab.yaml"
    os.mkfifo(fifo)
    return Call(["validate", str(fifo)], r"lab\.yaml: .*not a regular file")


@case("scenario-is-fifo")
def _scenario_fifo(tmp: Path) -> Call:
    fifo = tmp / "s.yaml"
    os.mkfifo(fifo)
    return Call(["run", str(fifo), "--lab", str(ROOT / "lab.yaml"), "--out",
                 str(tmp / "reports")], r"s\.yaml: .*not a regular file",
                untouched=tmp / "reports")


@case("lab-too-large")
def _huge(tmp: Path) -> Call:
    path = tmp / "lab.yaml"
    path.write_bytes(b"# " + b"x" * (20 << 20) + b"\n")
    return Call(["validate", str(path)], r"lab\.yaml: .*larger than")


# ------------------------------------------------------------------------------ lab


@case("traps-listen-port-out-of-range")
def _traps(tmp: Path) -> Call:
    return _lab_case(tmp, "devices:\n", 'traps: {listen: "127.0.0.1:99999"}\ndevices:\n',
                     r"traps\.listen", r".*port.*1 to 65535", needle="traps:")


@case("secret-unknown-scheme")
def _vault(tmp: Path) -> Call:
    return _secret_case(tmp, "${vault:x}", r".*unknown secret scheme 'vault'")


@case("secret-empty-env-name")
def _env_empty(tmp: Path) -> Call:
    return _secret_case(tmp, "${env:}", r".*\$\{env:\} needs a variable name")


@case("secret-inline-without-opt-in")
def _inline(tmp: Path) -> Call:
    call = _secret_case(tmp, "hunter2-inline", r".*inline secret.*allow_inline_secrets")
    return Call(call.argv, call.pattern, hidden="hunter2-inline")


@case("secret-file-outside-lab-dir")
def _file_up(tmp: Path) -> Call:
    return _secret_case(tmp, "${file:../../etc/passwd}", r".*outside the lab's directory")


@case("secret-file-absolute")
def _file_abs(tmp: Path) -> Call:
    return _secret_case(tmp, "${file:/etc/passwd}", r".*outside the lab's directory")


@case("snmp-timeout-zero")
def _snmp_timeout(tmp: Path) -> Call:
    return _lab_case(tmp, "timeout: 2s", "timeout: 0s", r"defaults\.snmp\.timeout",
                     r".*at least", needle="timeout: 0s")


@case("ssh-timeout-zero")
def _ssh_timeout(tmp: Path) -> Call:
    return _lab_case(tmp, SSH_DEFAULTS, "  ssh: {user: admin, host_key: verify, timeout: 0s}",
                     r"defaults\.ssh\.timeout", r".*at least")


@case("plmn-arabic-indic-digits")
def _plmn(tmp: Path) -> Call:
    return _lab_case(tmp, 'plmns: ["452-02"]}', 'plmns: ["\u0664\u0665\u0662-02"]}',
                     r"devices\.gnb1\.simulated\.cells\[0\]\.plmns\[0\]", r".*",
                     needle="\u0664")


@case("ue-plmn-arabic-indic-digits")
def _ue_plmn(tmp: Path) -> Call:
    return _lab_case(tmp, "ue1: {role: ue-host, host: 127.0.0.1}",
                     'ue1: {role: ue-host, host: 127.0.0.1, plmn: "452-\u0660\u0662"}',
                     r"devices\.ue1\.plmn", r".*")


@case("non-finite-number")
def _nan(tmp: Path) -> Call:
    return _lab_case(tmp, "plmns: [\"452-02\"]}", "plmns: [\"452-02\"], quality: .nan}",
                     r"devices\.gnb1\.simulated\.cells\[0\]\.quality", r".*finite",
                     needle="quality: .nan")


@case("device-name-path")
def _device_name(tmp: Path) -> Call:
    return _lab_case(tmp, "  dn1: {role: dn-host", '  "../dn1": {role: dn-host',
                     r"devices\['\.\./dn1'\]", r".*expected a name", needle="../dn1")


# ------------------------------------------------------------------------------ scenario


@case("trial-id-traversal")
def _id_up(tmp: Path) -> Call:
    text = GOOD_SCENARIO.replace("id: throughput-dl-tcp", 'id: "../../../../x"')
    scenario = write_input(tmp, "s.yaml", text)
    line = line_of(text, "../../../../x")
    return Call(["run", str(scenario), "--lab", str(ROOT / "lab.yaml"), "--out",
                 str(tmp / "reports")], rf"s\.yaml:{line}:\d+: trials\[0\]\.id: ",
                untouched=tmp / "reports")


@case("trial-id-absolute")
def _id_abs(tmp: Path) -> Call:
    text = GOOD_SCENARIO.replace("id: throughput-dl-tcp", f'id: "{tmp}/abs"')
    scenario = write_input(tmp, "s.yaml", text)
    line = line_of(text, f"{tmp}/abs")
    return Call(["run", str(scenario), "--lab", str(ROOT / "lab.yaml"), "--out",
                 str(tmp / "reports")], rf"s\.yaml:{line}:\d+: trials\[0\]\.id: ",
                untouched=tmp / "reports")


@case("trial-id-traversal-from-matrix")
def _id_matrix(tmp: Path) -> Call:
    text = GOOD_SCENARIO.replace("trials:\n", 'matrix: {d: ["../../y"]}\ntrials:\n').replace(
        "id: throughput-dl-tcp", 'id: "t-{d}"')
    scenario = write_input(tmp, "s.yaml", text)
    line = line_of(text, "t-{d}")
    return Call(["run", str(scenario), "--lab", str(ROOT / "lab.yaml"), "--out",
                 str(tmp / "reports")], rf"s\.yaml:{line}:\d+: trials\[0\]\.id: .*t-\.\./\.\./y",
                untouched=tmp / "reports")


@case("matrix-10-million-trials")
def _matrix(tmp: Path) -> Call:
    dims = {f"d{i}": list(range(10)) for i in range(7)}
    matrix = "{" + ", ".join(f"{k}: {v}" for k, v in dims.items()) + "}"
    ident = "t" + "".join(f"-{{{k}}}" for k in dims)
    text = GOOD_SCENARIO.replace("trials:\n", f"matrix: {matrix}\ntrials:\n").replace(
        "id: throughput-dl-tcp", f'id: "{ident}"')
    scenario = write_input(tmp, "s.yaml", text)
    line = line_of(text, "matrix:")
    return Call(["validate", "--lab", str(ROOT / "lab.yaml"), str(scenario)],
                rf"s\.yaml:{line}:\d+: matrix: .*10000000 trials.*at most")


@case("criterion-20000-terms")
def _terms(tmp: Path) -> Call:
    expr = "throughput.mean >= " + " + ".join(["1 Mbit/s"] * 20_000)
    return _scenario_case(tmp, '"throughput.mean >= 0.6 * peak(gnb1)"', f'"{expr}"',
                          r"trials\[0\]\.criteria\[1\]", r".*", needle="1 Mbit/s + 1")


@case("firmware-criteria-int")
def _fw_criteria(tmp: Path) -> Call:
    text = (ROOT / "scenarios" / "quick" / "firmware-regression.yaml").read_text(
        encoding="utf-8").replace(
        'criteria: ["firmware.refused == 1", "firmware.old_version_kept == 1"]',
        "criteria: 5")
    scenario = write_input(tmp, "s.yaml", text)
    line = line_of(text, "criteria: 5")
    return Call(["validate", "--lab", str(ROOT / "lab.yaml"), str(scenario)],
                rf"s\.yaml:{line}:\d+: trials\[0\]\.criteria: expected a list")


@case("kpi-interval-1ns")
def _kpi(tmp: Path) -> Call:
    return _scenario_case(tmp, "kpi_interval: 1s}", "kpi_interval: 0.000000001}",
                          r"defaults\.kpi_interval", r".*at least 0\.1 s", needle="kpi_interval")


@case("duration-fraction-of-second")
def _duration(tmp: Path) -> Call:
    return _scenario_case(tmp, "duration: 12s,", "duration: 0.3s,", r"defaults\.duration",
                          r".*whole seconds", needle="duration: 0.3s")


@case("trial-duration-fraction")
def _trial_duration(tmp: Path) -> Call:
    return _scenario_case(tmp, "    protocol: tcp\n", "    protocol: tcp\n    duration: 1.5s\n",
                          r"trials\[0\]\.duration", r".*whole seconds")


@case("timeout-zero")
def _timeout(tmp: Path) -> Call:
    return _scenario_case(tmp, "kpi_interval: 1s}", "kpi_interval: 1s, timeout: 0s}",
                          r"defaults\.timeout", r".*at least", needle="timeout: 0s")


@case("infinite-threshold")
def _inf(tmp: Path) -> Call:
    return _scenario_case(tmp, '"throughput.mean >= 0.6 * peak(gnb1)"',
                          '"throughput.mean >= 1e308 Tbit/s"', r"trials\[0\]\.criteria\[1\]",
                          r".*finite", needle="1e308")


@case("infinite-preset-param")
def _inf_param(tmp: Path) -> Call:
    return _scenario_case(tmp, "- \"throughput.mean >= 100 Mbit/s\"",
                          "- {preset: ts38306-peak-fraction, params: {fraction: .inf}}",
                          r"trials\[0\]\.criteria\[0\]\.params\.fraction", r".*finite",
                          needle="fraction")


@case("parallel-yes")
def _parallel(tmp: Path) -> Call:
    return _scenario_case(tmp, "trials:\n", "parallel: yes\ntrials:\n", "parallel",
                          r"expected true or false, got 'yes'", needle="parallel: yes")


@case("setup-param-device-lacks")
def _setup_param(tmp: Path) -> Call:
    return _scenario_case(
        tmp, "trials:\n",
        "setup:\n  - {device: gnb1, action: set_cell, cell: 1, params: {warp_drive: 9}}\n"
        "trials:\n", r"setup\[0\]\.params\.warp_drive", r".*cannot set 'warp_drive'",
        needle="warp_drive")


@case("traffic-host-unresolvable")
def _unresolvable(tmp: Path) -> Call:
    lab_text = GOOD_LAB.replace("ue1: {role: ue-host, host: 127.0.0.1}",
                                "ue1: {role: ue-host, host: no-such-host.invalid}")
    lab = write_input(tmp, "lab.yaml", lab_text)
    line = line_of(lab_text, "no-such-host.invalid")
    return Call(["run", str(ROOT / "scenarios" / "smoke.yaml"), "--lab", str(lab), "--out",
                 str(tmp / "reports")],
                rf"lab\.yaml:{line}:\d+: devices\.ue1\.host: .*cannot resolve",
                untouched=tmp / "reports")


# ------------------------------------------------------------------------------ CLI


def _reports(tmp: Path) -> Path:
    reports = tmp / "reports"
    make_run(reports, RUN_ID)
    return reports


@case("cli-influx-url-malformed")
def _influx_url(tmp: Path) -> Call:
    return Call(["run", str(ROOT / "scenarios" / "smoke.yaml"), "--lab", str(ROOT / "lab.yaml"),
                 "--out", str(tmp / "reports"), "--influx-url", "http://[::1"],
                r"--influx-url.*http://\[::1", untouched=tmp / "reports")


@case("cli-export-to-missing-dir")
def _export_dir(tmp: Path) -> Call:
    reports = _reports(tmp)
    return Call(["export", RUN_ID, "--out", str(reports), "-o", "/no/such/dir/x.csv"],
                r"/no/such/dir/x\.csv")


@case("cli-export-to-proc")
def _export_proc(tmp: Path) -> Call:
    reports = _reports(tmp)
    return Call(["export", RUN_ID, "--out", str(reports), "-o", "/proc/version"],
                r"/proc/version")


@case("cli-alpha-out-of-range")
def _alpha(tmp: Path) -> Call:
    reports = _reports(tmp)
    return Call(["compare", RUN_ID, RUN_ID, "--out", str(reports), "--alpha", "2"],
                r"--alpha.*2")


@case("cli-push-negative-timeout")
def _push_timeout(tmp: Path) -> Call:
    reports = _reports(tmp)
    return Call(["push", RUN_ID, "--out", str(reports), "--timeout", "-5"], r"--timeout.*-5")


@case("cli-show-empty-run-id")
def _show_empty(tmp: Path) -> Call:
    reports = _reports(tmp)
    return Call(["show", "", "--out", str(reports)], r"RUN.*empty|run id")


@case("cli-show-run-id-path")
def _show_path(tmp: Path) -> Call:
    reports = _reports(tmp)
    return Call(["show", "../../etc", "--out", str(reports)], r"run id")


@case("cli-baseline-run-id-path")
def _baseline_path(tmp: Path) -> Call:
    return Call(["run", str(ROOT / "scenarios" / "smoke.yaml"), "--lab", str(ROOT / "lab.yaml"),
                 "--out", str(tmp / "reports"), "--baseline", "../x"], r"--baseline.*run id",
                untouched=tmp / "reports")


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_cleanly(name: str, tmp_path: Path) -> None:
    call = CASES[name](tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("INFLUX_TOKEN", None)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness", *call.argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=CASE_TIMEOUT_S, check=False)
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert re.search(call.pattern, proc.stderr), proc.stderr[-3000:]
    assert elapsed < QUICK_S, f"took {elapsed:.1f} s"
    if call.untouched is not None:
        assert not call.untouched.exists(), sorted(call.untouched.rglob("*"))
    if call.hidden is not None:
        assert call.hidden not in output
