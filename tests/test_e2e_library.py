"""The scenario library's quick variants run end to end on the simulated lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.test_e2e_smoke import load_run, run_harness

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("scenario", "expected_ids"), [
    ("scenarios/quick/commercial-trial.yaml",
     {"tcp-dl-40mhz", "tcp-ul-40mhz", "tcp-dl-100mhz", "tcp-ul-100mhz", "udp-dl-40mhz",
      "udp-dl-100mhz", "udp-ul-40mhz", "udp-ul-100mhz", "latency-idle", "latency-loaded-dl"}),
    ("scenarios/quick/latency-under-load.yaml", None),
])
def test_quick_library_scenario_passes(tmp_path: Path, scenario: str,
                                       expected_ids: set[str] | None) -> None:
    require_tool("iperf3")
    require_tool("irtt")
    proc = run_harness("run", scenario, "--lab", "lab.yaml", "--out", str(tmp_path),
                       "--progress", "lines", timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, summary = load_run(proc.stdout)
    assert summary["verdict"] == "PASS"
    ids = {t["id"] for t in summary["trials"]}
    if expected_ids is not None:
        assert ids == expected_ids
    for trial in summary["trials"]:
        assert trial["verdict"] == "PASS", trial
        assert trial["criteria"], f"{trial['id']} was judged by no criterion"
        assert trial["metrics"], f"{trial['id']} measured nothing"
    # Every QCVN 126 criterion cites its source.
    cited = [c for t in summary["trials"] for c in t["criteria"]
             if (c["source"] or "").startswith("QCVN 126:2021")]
    assert cited, "the commercial-trial pack judges against QCVN 126:2021"
