"""SNMP-only equipment, from recordings of REAL equipment (issue 14: "pointed at recordings of
real equipment served by snmpsim, `harness devices` reported SNMP ok but every fact null and
the device unreachable, because it also tried SSH on port 22"): snmpsim (a simulator no one
here wrote) serves the walks of real devices that ship with it — a Linux host's full walk — and
the generic-snmp profile, with no SSH settings in the lab, reads them: reachable over SNMP
alone, facts as recorded, IF-MIB counters polled through the profile."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import snmpsim

from harness.base.loader import load_model
from harness.base.snmprec import load_snmprec
from harness.config.lab import Lab
from harness.engine.bench import open_bench
from tests.input_files import ROOT
from tests.snmpsim_daemon import running_snmpsim

pytestmark = [pytest.mark.interop]

RECORDED = Path(snmpsim.__file__).parent / "data" / "recorded"
LAB = """\
name: real-recordings
devices:
  host1:
    role: gnodeb
    profile: generic-snmp
    host: 127.0.0.1
    snmp: {{version: 2c, community: "${{env:RH_TEST_REC_COMMUNITY}}", port: {port}}}
"""


def test_a_real_linux_hosts_walk_is_read_over_snmp_alone(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RH_TEST_REC_COMMUNITY", "linux-full-walk")  # snmpsim: the file's name
    source = RECORDED / "linux-full-walk.snmprec"
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(source, data / source.name)
    records = {".".join(map(str, r.oid)): r.value for r in load_snmprec(source)}
    with running_snmpsim(data, tmp_path, "linux-full-walk") as port:
        lab = tmp_path / "lab.yaml"
        lab.write_text(LAB.format(port=port), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "harness", "devices", "--lab", str(lab),
                               "--json"], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        row: dict[str, Any] = json.loads(done.stdout)["devices"][0]
        assert row["reachable"] and row["error"] is None, row
        assert set(row["transports"]) == {"snmp"}, row["transports"]  # no SSH tried
        assert row["facts"]["description"] == records["1.3.6.1.2.1.1.1.0"].decode()
        assert row["facts"]["description"].startswith("Linux cray")

        async def poll() -> dict[str, float | int]:
            bench = await open_bench(load_model(lab, Lab), tmp_path / "work")
            try:
                readings = await bench.gnbs["host1"].read_kpis(["IF.HCInOctets"], [1])
            finally:
                await bench.close()
            return {r.name: r.raw for r in readings}

        polled = asyncio.run(poll())
    assert polled == {"IF.HCInOctets": records["1.3.6.1.2.1.31.1.1.1.6.1"]}
