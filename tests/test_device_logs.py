"""Every device of a run gets its command log (issue 14 item 6): the traffic hosts' argv and
exit codes, the gNodeB's and core's SNMP requests, secrets masked. A real simulated lab, real
iperf3."""

from __future__ import annotations

import asyncio
from pathlib import Path

from harness.base.loader import load_model
from harness.base.ports import free_port
from harness.config.lab import Lab
from harness.engine.bench import open_bench
from tests.conftest import require_tool
from tests.test_sim_cli import LAB


def test_every_device_log_has_its_commands_and_no_secret(tmp_path: Path) -> None:
    """Fails on the old code: ue1.log, dn1.log and core1.log stayed empty (a traffic host
    logged to no device logger; SNMP requests were logged nowhere)."""
    require_tool("iperf3")
    (tmp_path / "lab.yaml").write_text(LAB.replace("DN_PORT", str(free_port())),
                                       encoding="utf-8")
    lab = load_model(tmp_path / "lab.yaml", Lab)
    logs = tmp_path / "devices"

    async def use_every_device() -> list[str]:
        bench = await open_bench(lab, tmp_path, run_id="r1", log_dir=logs)
        try:
            assert bench.sim is not None
            creds = [bench.sim.spec.gnbs[0].credentials, bench.sim.spec.cores[0].credentials]
            await bench.gnbs["gnb1"].facts()
            await bench.cores["core1"].facts()
            assert await bench.hosts["ue1"].tool_version("iperf3")
            async with await bench.hosts["dn1"].start_iperf3_server(free_port()):
                pass
        finally:
            await bench.close()
        return [s for c in creds for s in (c.community, c.auth_key, c.priv_key,
                                           c.ssh_password)]

    secrets = asyncio.run(use_every_device())
    text = {name: (logs / f"{name}.log").read_text(encoding="utf-8")
            for name in ("gnb1", "core1", "ue1", "dn1")}
    for name in ("gnb1", "core1"):
        assert "snmp get 1.3.6.1." in text[name] and "value(s) in" in text[name], text[name]
        assert f"[{name} run=r1]" in text[name]
    assert "run> iperf3 --version" in text["ue1"] and "run iperf3 -> exit 0" in text["ue1"]
    assert "start& iperf3 -s -p" in text["dn1"] and "stopped iperf3 -> exit" in text["dn1"]
    for name, body in text.items():
        for secret in secrets:
            assert secret not in body, f"a secret in {name}.log"
