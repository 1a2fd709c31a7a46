"""A trial that nothing judges (no criteria after preset expansion, and a kind without built-in
acceptance) is refused at validation with the file's position, never run to a PASS without
evidence. Fails on the old code: such a trial planned, and ran to PASS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.base.errors import ConfigError
from harness.engine.inputs import load_inputs
from harness.kinds import default_registry
from tests.test_cli_input import run_harness

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "lab.yaml"

HEAD = """\
name: t
title: {vi: "Thử", en: "Test"}
defaults: {duration: 2s}
trials:
  - id: first
    kind: latency
    ue: ue1
    dn: dn1
    criteria: ["rtt.mean <= 50 ms"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_inputs(_write(tmp_path, text), LAB)
    return str(info.value)


def test_throughput_trial_without_criteria_is_refused_with_position(tmp_path: Path) -> None:
    text = HEAD + "  - id: bare\n    kind: throughput\n    ue: ue1\n    dn: dn1\n"
    message = _error(tmp_path, text)
    assert re.match(r".*s\.yaml:10:\d+: trials\[1\]\.criteria: a dl throughput trial needs "
                    r"criteria: nothing else judges it \(add e\.g\. \"- preset: qcvn-126-2021\""
                    r" or \"throughput\.mean >= 100 Mbit/s\"\)", message), message


def test_empty_criteria_list_is_refused(tmp_path: Path) -> None:
    text = HEAD + "  - {id: bare, kind: latency, ue: ue1, dn: dn1, criteria: []}\n"
    message = _error(tmp_path, text)
    assert re.search(r"s\.yaml:10:\d+: trials\[1\]\.criteria: a latency trial needs criteria",
                     message), message


def test_preset_that_gives_nothing_says_so(tmp_path: Path) -> None:
    text = HEAD + ("  - id: both\n    kind: throughput\n    ue: ue1\n    dn: dn1\n"
                   "    direction: bidir\n    criteria:\n      - preset: qcvn-126-2021\n")
    message = _error(tmp_path, text)
    assert "trials[1].criteria: preset qcvn-126-2021 gives no criteria for a bidir throughput " \
           "trial" in message, message
    assert re.search(r"s\.yaml:16:\d+:", message), message


def test_kinds_with_builtin_acceptance_need_no_criteria() -> None:
    kinds = default_registry()
    judged = {n for n in kinds.names() if kinds.get(n).builtin_acceptance}
    assert judged == {"y1564", "rfc2544", "firmware_upgrade"}


def test_cli_validate_refuses_an_unjudged_trial(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "  - {id: bare, kind: throughput, ue: ue1, dn: dn1}\n")
    proc = run_harness("validate", "--lab", str(LAB), str(path))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert re.search(r"s\.yaml:10:\d+: trials\[1\]\.criteria: a dl throughput trial needs "
                     r"criteria", proc.stderr), proc.stderr
