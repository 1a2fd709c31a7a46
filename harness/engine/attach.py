"""`harness run --attach`: run on the simulated lab `harness sim up` started, not on one of
the run's own, so `harness sim fault gnb1 …` reaches the equipment the run measures.

The lab's state file (`harness.simlab.state`) has every virtual device's endpoints and
credentials, the relays and the DN hosts' traffic ports; `attach_sim` points the bench at
them exactly as `open_bench` does at a lab it started itself, and leaves the lab running when
the run ends. The state must come from the same lab file (same sha256): a lab edited since
`sim up` could name devices, cells or relays the running lab does not have.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.base.errors import ConfigError, HarnessError
from harness.base.secrets import Secret
from harness.simlab import channel
from harness.simlab.state import SimState, running_state

if TYPE_CHECKING:
    from harness.engine.bench import Bench


@dataclass(frozen=True)
class Attach:
    """Run on the lab running for `state_dir` (`harness sim up --state-dir`)."""

    state_dir: Path
    lab_file: Path | None = None  # the run's lab file, checked against the one `sim up` read


def attached_state(attach: Attach, simulated: list[str]) -> SimState:
    """The running lab's state, checked against the run's lab; ConfigError saying what to do
    when there is none, it is another lab, or it lacks a simulated device of the run's."""
    try:
        state = running_state(attach.state_dir)
    except HarnessError as exc:
        raise ConfigError(f"--attach: {exc}") from None
    recorded = state.data.get("lab") or {}
    if attach.lab_file is not None and recorded.get("sha256"):
        digest = hashlib.sha256(attach.lab_file.read_bytes()).hexdigest()
        if digest != recorded["sha256"]:
            raise ConfigError(
                f"--attach: the running simulated lab was started from {recorded.get('file')}, "
                f"which is not {attach.lab_file} as it is now (sha256 differs): run `harness "
                f"sim down` and `harness sim up --lab {attach.lab_file}`, or run without "
                "--attach")
    missing = [name for name in simulated if name not in state.devices]
    if missing:
        raise ConfigError(f"--attach: the running simulated lab has no {', '.join(missing)} "
                          f"(it runs {', '.join(state.devices) or 'nothing'})")
    return state


def attach_sim(bench: Bench, state: SimState, snmp_cfg: dict[str, dict[str, Any]],
               ssh_cfg: dict[str, dict[str, Any]], known_hosts: Path) -> None:
    """Point the bench's simulated devices at the running lab: ports, credentials (its own,
    as `sim up` recorded them), host keys, relays and the DN hosts' traffic ports."""
    control = state.control

    async def lab_status() -> dict[str, Any]:
        return await channel.request(control, "status")

    bench.lab_status = lab_status
    lines = []
    for name, dev in state.devices.items():
        if name not in snmp_cfg:
            continue
        snmp, ssh = dev["snmp"], dev["ssh"]
        v3 = snmp.get("v3") or {}
        snmp_cfg[name].update(port=int(snmp["port"]), community=Secret(snmp["community"]),
                              user=v3.get("user") or "harness",
                              auth_key=Secret(v3["auth_key"]), priv_key=Secret(v3["priv_key"]))
        ssh_cfg[name].update(port=int(ssh["port"]), user=ssh["user"],
                             password=Secret(ssh["password"]), known_hosts=str(known_hosts))
        lines.append(f"[{ssh['host']}]:{ssh['port']} {ssh['host_key']}")
        relays = dev.get("relays") or []
        plmns = _cell_plmns(bench, name)
        for relay in relays:
            address = (str(relay["host"]), int(relay["port"]))
            plmn = relay.get("plmn") or plmns.get(int(relay["cell"]), "")
            bench.relay_paths.setdefault((name, relay["dn"], plmn, relay["kind"]), address)
            if relay["kind"] == "traffic":
                bench.paths.setdefault((name, relay["dn"]), address)
        if relays and plmns:
            bench.default_plmns[name] = next(iter(plmns.values()))
    known_hosts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for dn, traffic in (state.data.get("traffic") or {}).items():
        if dn in bench.traffic_ports:  # the relays forward to the ports `sim up` chose
            bench.traffic_ports[dn] = int(traffic["port"])
            if traffic.get("irtt_port"):
                bench.irtt_ports[dn] = int(traffic["irtt_port"])


def _cell_plmns(bench: Bench, name: str) -> dict[int, str]:
    """Each cell's first PLMN, in the lab's cell order (a relay with no PLMN serves it)."""
    simulated = bench.lab.devices[name].simulated
    cells = getattr(simulated, "cells", None) or []
    return {int(c.id): str(c.plmns[0]) for c in cells if c.plmns}
