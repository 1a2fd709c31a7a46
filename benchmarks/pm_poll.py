"""KPI polling CPU: PM files over SFTP vs SNMP GET, 20 KPIs × 10 cells, in the same run.

    .venv/bin/python benchmarks/pm_poll.py [--polls 30] [--json]

One simulated gNodeB (its own process) with 10 cells. SNMP: `Gnb.read_kpis` of 20 KPIs of the
sim-gnb profile for the 10 cells (one GET of 200 varbinds per poll, SNMPv2c). PM files: the
same driver with a `pm_files:` profile section of the same 20 counters; before each poll one
new TS 32.435 file (20 counters × 10 cells, plus per-PLMN objects) is dropped in the device's
SFTP folder, and the poll lists the folder, fetches the file and parses it. CPU is this
process's user+system time around the polls only (the lab's CPU is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.gnb import Gnb
from drivers.profile import Profile, load_profile
from drivers.transport.snmp import SnmpTarget, SnmpTransport
from drivers.transport.ssh import SshTarget, SshTransport
from harness import __version__
from harness.base.ports import free_port
from harness.base.secrets import Secret
from harness.simlab.control import SimLabProcess
from harness.simlab.gnb import CellConfig, GnbIdentity, VirtualGnb
from harness.simlab.lifecycle import flash_dir
from harness.simlab.oids import PM_COLUMNS
from harness.simlab.pm_writer import PmFileWriter
from harness.simlab.spec import SimCell, SimCredentials, SimGnbSpec, SimLabSpec

GNB, CELLS, KPIS = "gnb1", 10, 20
LOCAL = "127.0.0.1"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _spec(state: Path, creds: SimCredentials) -> SimLabSpec:
    import socket

    cells = [SimCell(id=i, bandwidth_mhz=100, scs_khz=30, tdd="DDDSU", special="10:2:2",
                     layers_dl=4, layers_ul=1, modulation_dl="256qam", modulation_ul="64qam",
                     plmns=["452-02"], pci=i) for i in range(1, CELLS + 1)]
    gnb = SimGnbSpec(name=GNB, host=LOCAL, snmp_port=free_port(LOCAL, socket.SOCK_DGRAM),
                     ssh_port=free_port(LOCAL), credentials=creds, cells=cells, relays=[],
                     serial="SIM-B", firmware="1.0.0", model="SimGNB-1")
    return SimLabSpec(gnbs=[gnb], state_dir=str(state))


def _profiles() -> tuple[Profile, Profile, list[str]]:
    base = load_profile("sim-gnb").model_dump()
    # the 18 per-cell counters of PM_COLUMNS and 2 of the first PLMN: 20 in both profiles
    cell_kpis = [n for n in PM_COLUMNS if n in base["kpis"]]
    names = [*cell_kpis, "DRB.PdcpSduVolumeDL.PLMN1", "DRB.PdcpSduVolumeUL.PLMN1"][:KPIS]
    snmp = dict(base, kpis={n: base["kpis"][n] for n in names})
    pm_kpis: dict[str, dict[str, str]] = {}
    for n in names:
        counter, _, plmn = n.partition(".PLMN")
        kind = "counter" if base["kpis"][n]["type"].startswith("counter") else "gauge"
        pm_kpis[n] = {"counter": counter, "type": kind, **({"plmn": "452-02"} if plmn else {})}
    pm = dict(base, kpis={}, pm_files={"directory": "/pm", "pattern": "A*.xml*",
                                       "kpis": pm_kpis})
    return Profile.model_validate(snmp), Profile.model_validate(pm), names


async def measure(polls: int) -> dict[str, Any]:
    creds = SimCredentials(community=secrets.token_hex(8), v3_user="bench",
                           auth_key=secrets.token_hex(8), priv_key=secrets.token_hex(8),
                           ssh_user="admin", ssh_password=secrets.token_hex(8))
    snmp_profile, pm_profile, names = _profiles()
    cells = list(range(1, CELLS + 1))
    with tempfile.TemporaryDirectory(prefix="ran-harness-pm-bench-") as tmp:
        spec = _spec(Path(tmp), creds)
        # the files dropped in: what the same gNodeB would write, one period each
        source_gnb = VirtualGnb(GnbIdentity(GNB), [CellConfig(id=i) for i in cells])
        writer = PmFileWriter(source_gnb, flash_dir(Path(tmp), GNB) / "pm", 60.0)
        async with SimLabProcess(spec) as lab:
            ep = lab.gnbs[GNB]
            known = Path(tmp) / "known_hosts"
            known.write_text(f"[{ep.ssh[0]}]:{ep.ssh[1]} {ep.ssh_host_key}\n")
            target = SnmpTarget(host=ep.snmp[0], port=ep.snmp[1], version="2c",
                                community=Secret(creds.community), max_varbinds=250)
            ssh = SshTarget(host=ep.ssh[0], port=ep.ssh[1], user=creds.ssh_user,
                            password=Secret(creds.ssh_password), known_hosts=str(known))
            by_snmp = Gnb(GNB, snmp_profile, snmp=SnmpTransport(target, device=GNB), ssh=None)
            by_pm = Gnb(GNB, pm_profile, snmp=SnmpTransport(target, device=GNB),
                        ssh=SshTransport(ssh, device=GNB))
            await by_snmp.read_kpis(names, cells)  # warm-up: sessions open
            await by_pm.read_kpis(names, cells)  # baseline: takes stock of the folder
            snmp_cpu = pm_cpu = 0.0
            snmp_values = pm_values = 0
            start = time.time()
            for i in range(polls):
                t0 = _cpu()
                snmp_values += len(await by_snmp.read_kpis(names, cells))
                snmp_cpu += _cpu() - t0
                writer.write(start + 60 * i, start + 60 * (i + 1))  # a new period's file
                t0 = _cpu()
                pm_values += len(await by_pm.read_kpis(names, cells))
                pm_cpu += _cpu() - t0
            await by_snmp.close()
            await by_pm.close()
    return {"format_version": 1, "harness": __version__, "kpis": KPIS, "cells": CELLS,
            "polls": polls, "snmp_values": snmp_values, "pm_values": pm_values,
            "snmp_cpu_ms_per_poll": round(snmp_cpu / polls * 1000, 2),
            "pm_cpu_ms_per_poll": round(pm_cpu / polls * 1000, 2),
            "pm_over_snmp": round(pm_cpu / snmp_cpu, 2) if snmp_cpu else None}


def main() -> int:
    """Run the benchmark; print a line (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(measure(args.polls))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{KPIS} KPIs x {CELLS} cells, {args.polls} polls: SNMP "
              f"{result['snmp_cpu_ms_per_poll']} ms CPU/poll, PM files "
              f"{result['pm_cpu_ms_per_poll']} ms CPU/poll (ratio PM/SNMP "
              f"{result['pm_over_snmp']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
