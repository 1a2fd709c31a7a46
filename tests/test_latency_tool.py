"""Latency honesty: irtt is the tool; a missing irtt is ERROR with the install hint, never a
silent fall-back to ping (which bypasses the simulated gNodeB's user plane); ping only when the
scenario says `tool: ping`, and then the trial says which path it measured. Fails on the old
code: `tool: auto` (the default) measured with ping when irtt was missing, and PASSed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.kinds.latency import LatencySpec
from tests.conftest import require_tool
from tests.runner_helpers import inputs, run_in_process

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: latency-tools
title: {vi: "Công cụ đo trễ", en: "Latency tools"}
defaults: {duration: 1s, omit: 0s}
trials:
  - id: default-tool
    kind: latency
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["rtt.mean <= 50 ms"]
  - id: auto-tool
    kind: latency
    ue: ue1
    dn: dn1
    via: gnb1
    tool: auto
    criteria: ["rtt.mean <= 50 ms"]
  - id: asked-ping
    kind: latency
    ue: ue1
    dn: dn1
    via: gnb1
    tool: ping
    interval: 0.2s
    criteria: ["rtt.mean <= 50 ms"]
"""


def _path_without_irtt(tmp_path: Path) -> str:
    """A PATH holding every tool the run needs (iperf3, ping) but irtt."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("iperf3", "ping"):
        found = shutil.which(tool)
        assert found is not None
        (bindir / tool).symlink_to(found)
    return str(bindir)


def test_default_tool_is_irtt_and_auto_an_alias() -> None:
    spec = LatencySpec(id="l", kind="latency", ue="ue1", dn="dn1")
    assert spec.tool == "irtt"


def test_missing_irtt_is_error_with_hint_and_ping_only_when_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("ping")
    require_tool("iperf3")
    run_inputs = inputs(tmp_path, SCENARIO)
    monkeypatch.setenv("PATH", _path_without_irtt(tmp_path) + os.pathsep + "/nonexistent")
    outcome, _ = run_in_process(run_inputs, tmp_path / "out")
    by_id = {t["id"]: t for t in outcome.summary["trials"]}
    for trial_id in ("default-tool", "auto-tool"):
        entry = by_id[trial_id]
        assert entry["verdict"] == "ERROR", entry
        assert "irtt not found on host" in entry["error"], entry["error"]
        assert "apt-get install irtt" in entry["error"] and "tool: ping" in entry["error"]
        assert not any(m.startswith("rtt.") for m in entry["metrics"]), entry["metrics"]
        assert "latency" not in entry, entry
    ping = by_id["asked-ping"]
    assert ping["latency"]["tool"] == "ping", ping
    assert "bypasses gnb1's user plane" in ping["latency"]["path"]
    assert any(n.startswith("tool: ping: measured ICMP echo to the DN host's address")
               for n in ping["notes"]), ping["notes"]
    assert ping["metrics"]["rtt.mean"]["value"] > 0
