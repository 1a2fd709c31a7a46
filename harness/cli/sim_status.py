"""What `harness sim up` / `harness sim status` print: endpoints, credentials, traffic commands.

The credentials are the simulated equipment's own and are shown on purpose: users need them to
point snmpwalk and ssh at the lab. Values that go into a printed command are shell-quoted.
"""

from __future__ import annotations

import shlex
from typing import Any

from harness.base import jsonio
from harness.simlab.state import SimState


def traffic_commands(state: SimState) -> list[dict[str, Any]]:
    """For each gNodeB relay: the server command for the DN host and the client command for
    the UE side ("traffic" relays carry iperf3 TCP and UDP, "irtt" relays irtt)."""
    commands: list[dict[str, Any]] = []
    ue_hosts = state.data.get("ue_hosts") or ["the UE side"]
    dns = state.data.get("traffic", {})
    q = shlex.quote
    for gnb, dev in state.devices.items():
        for relay in dev.get("relays") or []:
            dn = dns.get(relay["dn"])
            if dn is None:
                continue
            relay_at = f"{q(str(relay['host']))}"
            if relay["kind"] == "irtt":
                if dn.get("irtt_port") is None:
                    continue
                server = f"irtt server -b {q(dn['host'])}:{dn['irtt_port']}"
                client = f"irtt client -i 10ms -d 10s {relay_at}:{relay['port']}"
            else:
                server = f"iperf3 -s -B {q(dn['host'])} -p {dn['port']}"
                client = f"iperf3 -c {relay_at} -p {relay['port']}"
            commands.append({"dn": relay["dn"], "via": gnb, "plmn": relay.get("plmn"),
                             "kind": relay["kind"], "ue": ue_hosts[0], "server": server,
                             "client": client})
    return commands


def _snmp_commands(snmp: dict[str, Any]) -> list[str]:
    target = f"{snmp['host']}:{snmp['port']}"
    v3 = snmp["v3"]
    q = shlex.quote
    return [
        f"snmpwalk -v2c -c {q(snmp['community'])} {target} 1.3.6.1.4.1.32473",
        f"snmpwalk -v3 -l authPriv -u {q(v3['user'])} -a SHA-256 -A {q(v3['auth_key'])} "
        f"-x AES -X {q(v3['priv_key'])} {target} 1.3.6.1.4.1.32473",
    ]


def _live_line(name: str, live: dict[str, Any] | None) -> list[str]:
    if live is None:
        return []
    dev = live.get("devices", {}).get(name)
    if dev is None:
        return []
    lines = []
    if dev.get("role") == "core":
        lines.append(f"  AMF/SMF  {dev['registered']} of {dev['subscribers']} UEs registered, "
                     f"{dev['sessions']} PDU sessions")
        upf = dev["upf"]
        lines.append(f"  UPF N3   in {upf['in_packets']} packets / {upf['in_octets']} octets, "
                     f"out {upf['out_packets']} packets / {upf['out_octets']} octets")
    for cid, cell in (dev.get("cells") or {}).items():
        lines.append(f"  cell {cid}   carried {cell['dl_packets']} DL / {cell['ul_packets']} UL "
                     f"packets; the relay's own loss {cell.get('relay_lost', 0)}, sent late "
                     f"{cell.get('relay_late', 0)} (the simulator's, not the cell's)")
    faults = dev.get("faults") or []
    kinds = ", ".join(str(f.get("kind")) for f in faults) or "none"
    lines.append(f"  faults   {kinds}")
    return lines


def render_status(state: SimState, live: dict[str, Any] | None, *, as_json: bool) -> str:
    """The running lab as text (for people) or JSON (for scripts)."""
    data = state.data
    if as_json:
        out = {**data, "state_file": str(state.path), "commands": traffic_commands(state)}
        if live is not None:
            out["live"] = live
        return jsonio.dumps(out, indent=2)
    lines = [f"Simulated lab '{data['lab']['name']}' running: pid {data['pid']}, since "
             f"{data['started']}", f"  log {data['log']}", f"  state {state.path}"]
    if live is not None and live.get("udp_relay"):
        lines.append(f"  UDP relay {live['udp_relay']}")
    lines.append("")
    for name, dev in state.devices.items():
        snmp, ssh = dev["snmp"], dev["ssh"]
        lines.append(f"{name} ({dev['role']})")
        lines.append(f"  snmp     udp {snmp['host']}:{snmp['port']}  v2c community "
                     f"{snmp['community']}")
        v3 = snmp["v3"]
        lines.append(f"           v3 user {v3['user']}  auth {v3['auth_protocol']} "
                     f"{v3['auth_key']}  priv {v3['priv_protocol']} {v3['priv_key']}")
        lines.extend(f"           {cmd}" for cmd in _snmp_commands(snmp))
        lines.append(f"  ssh      {ssh['host']}:{ssh['port']}  user {ssh['user']}  password "
                     f"{ssh['password']}")
        lines.append(f"           ssh -p {ssh['port']} {shlex.quote(ssh['user'])}@{ssh['host']}")
        lines.append(f"           known_hosts: [{ssh['host']}]:{ssh['port']} {ssh['host_key']}")
        for relay in dev.get("relays") or []:
            lines.append(f"  relay    {relay['host']}:{relay['port']} -> {relay['dn']} "
                         f"({relay['kind']}, PLMN {relay.get('plmn') or '-'}, "
                         f"cell {relay.get('cell')})")
        if dev.get("core"):
            lines.append(f"  core     {dev['core']}")
        lines.extend(_live_line(name, live))
        lines.append("")
    commands = traffic_commands(state)
    if commands:
        lines.append("Traffic (UE side -> gNodeB relay -> DN side):")
        for c in commands:
            lines.append(f"  on {c['dn']}: {c['server']}")
            lines.append(f"  on {c['ue']}: {c['client']}    (through {c['via']}, PLMN "
                         f"{c['plmn'] or '-'}; iperf3 -u works too)" if c["kind"] != "irtt"
                         else f"  on {c['ue']}: {c['client']}    (through {c['via']}, "
                         f"PLMN {c['plmn'] or '-'})")
    return "\n".join(lines).rstrip() + "\n"
