"""`harness sim`: run the simulated lab on its own, and drive it (status, faults, stop).

`sim up` starts the lab detached (it outlives the command) and records its endpoints and
credentials in `STATE_DIR/state.json` (0600); the other commands read that file and talk to the
lab over its control socket. Exit codes: 0 done, 2 bad input (no lab running, unknown device,
a fault the device refuses, a lab file with no simulated device), 1 the lab failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from harness.base.errors import ConfigError, HarnessError
from harness.base.schema import parse_duration
from harness.cli.sim_status import render_status
from harness.simlab import channel
from harness.simlab.state import (
    DEFAULT_STATE_DIR,
    NoSimRunning,
    SimState,
    make_state_dir,
    private_labs,
    process_start_ticks,
    read_state,
    remove_state,
    running_state,
    write_state,
)

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
_STOP_WAIT_S = 10.0
_KILL_WAIT_S = 5.0


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


_state_dir_option = click.option(
    "--state-dir", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_STATE_DIR,
    show_default=True, help="Where the running lab's state file, log and control socket live.")


@click.group("sim")
def sim() -> None:
    """Run the simulated lab on its own, to point snmpwalk, ssh and iperf3 at it (and
    `harness run --attach` on it).

    \b
    Exit codes: 0 done
                1 the lab failed (did not start or stop)
                2 bad input (no lab running, unknown device or fault, a lab file with no
                  simulated device)"""


@sim.command()
@click.option("--lab", "lab_path", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("lab.yaml"), show_default=True, help="The bench description.")
@_state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
def up(lab_path: Path, state_dir: Path, as_json: bool) -> None:
    """Start the lab's simulated devices in the background; prints their endpoints.

    \b
    Exit codes: 0 started
                1 the lab did not start
                2 bad input (lab file, no simulated device, a lab already running)"""
    from harness.base.loader import load_model
    from harness.config.lab import Lab
    from harness.engine.inputs import check_secrets

    try:
        lab = load_model(lab_path, Lab)
        check_secrets(lab, lab_path)
    except ConfigError as exc:
        _fail(str(exc))
    if not lab.simulated:
        _fail(f"{lab_path}: the lab has no simulated devices: add `simulated:` to a gnodeb or "
              "core device (see lab.yaml)")
    try:
        existing = read_state(state_dir)
    except HarnessError as exc:
        _fail(str(exc))
    if existing is not None and existing.alive():
        _fail(f"a simulated lab is already running (pid {existing.pid}, state "
              f"{existing.path}): stop it with `harness sim down` first")
    remove_state(state_dir)
    try:
        data = asyncio.run(_start(lab, lab_path, state_dir))
    except ConfigError as exc:
        _fail(str(exc))
    except HarnessError as exc:
        _fail(str(exc), EXIT_FAILED)
    state = SimState(write_state(state_dir, data), data)
    click.echo(render_status(state, None, as_json=as_json))


async def _start(lab: Any, lab_path: Path, state_dir: Path) -> dict[str, Any]:
    from harness.engine.bench import Bench, add_traffic_hosts, device_settings, sim_lab_spec
    from harness.simlab.control import SimLabProcess

    bench = Bench(lab=lab)
    add_traffic_hosts(bench)
    snmp_cfg, ssh_cfg = device_settings(lab)
    make_state_dir(state_dir)
    spec = dataclasses.replace(sim_lab_spec(lab, state_dir.absolute(), snmp_cfg, ssh_cfg, bench),
                               detached=True)
    process = SimLabProcess(spec)
    await process.start()
    pid = process.detach()
    devices: dict[str, Any] = {}
    for gnb in spec.gnbs:
        ready = process.ready["gnbs"][gnb.name]
        relays = [{"dn": r.dn, "kind": r.kind, "plmn": r.plmn, "cell": r.cell,
                   "host": gnb.host, "port": r.listen_port,
                   "target": {"host": r.target_host, "port": r.target_port}}
                  for r in gnb.relays]
        devices[gnb.name] = _device(ready, gnb.credentials, "gnodeb", core=gnb.core,
                                    relays=relays)
    for core in spec.cores:
        ready = process.ready["cores"][core.name]
        devices[core.name] = _device(ready, core.credentials, "core", plmns=core.plmns,
                                     slices=core.slices, subscribers=core.subscribers)
    return {
        "pid": pid, "start_ticks": process_start_ticks(pid),
        "control": str(process.control_path), "log": str(process.log_path.absolute()),
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lab": {"name": lab.name, "file": str(lab_path.absolute()),
                "sha256": hashlib.sha256(lab_path.read_bytes()).hexdigest()},
        "devices": devices,
        "traffic": {dn: {"host": bench.hosts[dn].address, "port": port,
                         "irtt_port": bench.irtt_ports.get(dn)}
                    for dn, port in bench.traffic_ports.items()},
        "ue_hosts": [name for name, d in lab.devices.items() if d.role == "ue-host"],
    }


def _device(ready: dict[str, Any], creds: Any, role: str, **extra: Any) -> dict[str, Any]:
    snmp_host, snmp_port = ready["snmp"]
    ssh_host, ssh_port = ready["ssh"]
    return {
        "role": role,
        "snmp": {"host": snmp_host, "port": snmp_port, "community": creds.community,
                 "v3": {"user": creds.v3_user, "auth_protocol": "SHA-256",
                        "auth_key": creds.auth_key, "priv_protocol": "AES-128",
                        "priv_key": creds.priv_key}},
        "ssh": {"host": ssh_host, "port": ssh_port, "user": creds.ssh_user,
                "password": creds.ssh_password, "host_key": ready["ssh_host_key"]},
        **extra,
    }


def _running(state_dir: Path) -> SimState:
    try:
        return running_state(state_dir)
    except NoSimRunning as exc:
        private = private_labs()
        if private:  # a `harness run` started its own: say why it is out of reach
            labs = ", ".join(f"pid {lab} of the run pid {run}" for lab, run in private)
            _fail(f"{exc}. A simulated lab is running ({labs}), but it is that `harness "
                  "run`'s own, which `harness sim` cannot reach: to inject faults into a "
                  "run, start the lab with `harness sim up --lab LAB`, then `harness run "
                  "SCENARIO --lab LAB --attach`")
        _fail(str(exc))
    except HarnessError as exc:
        _fail(str(exc))


@sim.command()
@_state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (credentials included).")
def status(state_dir: Path, as_json: bool) -> None:
    """Every virtual device's SNMP and SSH endpoint and credentials, and the traffic path.

    \b
    Exit codes: 0 shown
                2 no lab running"""
    state = _running(state_dir)
    try:
        live: dict[str, Any] | None = asyncio.run(channel.request(state.control, "status",
                                                                  timeout_s=5))
    except HarnessError as exc:
        click.echo(f"warning: the lab did not answer on its control channel: {exc}", err=True)
        live = None
    click.echo(render_status(state, live, as_json=as_json))


@sim.command()
@_state_dir_option
def down(state_dir: Path) -> None:
    """Stop the running simulated lab.

    \b
    Exit codes: 0 stopped
                1 it did not stop
                2 no lab running"""
    state = _running(state_dir)
    with_channel = True
    try:
        asyncio.run(channel.request(state.control, "stop", timeout_s=5))
    except HarnessError as exc:
        click.echo(f"warning: {exc}; stopping the lab with signals", err=True)
        with_channel = False
    if with_channel and _wait_gone(state, _STOP_WAIT_S):
        remove_state(state_dir)
        click.echo(f"simulated lab stopped (pid {state.pid})")
        return
    for sig, wait in ((signal.SIGTERM, _STOP_WAIT_S), (signal.SIGKILL, _KILL_WAIT_S)):
        if state.alive():
            try:
                os.kill(state.pid, sig)
            except ProcessLookupError:
                break
        if _wait_gone(state, wait):
            break
    if state.alive():
        _fail(f"the simulated lab (pid {state.pid}) did not stop", EXIT_FAILED)
    remove_state(state_dir)
    click.echo(f"simulated lab stopped (pid {state.pid})")


def _wait_gone(state: SimState, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not state.alive():
            return True
        time.sleep(0.05)
    return not state.alive()


def _param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint="--param")
    value: Any = raw
    for convert in (int, float):
        try:
            value = convert(raw)
            break
        except ValueError:
            continue
    return key, value


def _device_name(state: SimState, device: str) -> None:
    if device not in state.devices:
        _fail(f"no simulated device {device!r} in the running lab (devices: "
              f"{', '.join(state.devices)})")


@sim.command()
@click.argument("device")
@click.argument("kind")
@click.option("--for", "duration", default=None, metavar="DURATION",
              help="How long the fault lasts (e.g. 10s); default: until cleared.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A parameter of the fault kind (repeatable).")
@_state_dir_option
def fault(device: str, kind: str, duration: str | None, params: tuple[str, ...],
          state_dir: Path) -> None:
    """Inject fault KIND into DEVICE (e.g. `harness sim fault gnb1 snmp-silent --for 10s`).

    An unknown KIND is refused with the list of kinds the device knows.

    \b
    Exit codes: 0 injected
                2 bad input (no lab running, unknown device, a fault the device refuses)"""
    seconds: float | None = None
    if duration is not None:
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            _fail(f"--for: {exc}")
        if seconds <= 0:
            _fail(f"--for: the fault must last longer than 0 s, got {duration!r}")
    values = dict(_param(p) for p in params)
    state = _running(state_dir)
    _device_name(state, device)
    result = _request(state, "fault", device=device, kind=kind, duration_s=seconds,
                      params=values)
    click.echo(_faults_line(device, result))


@sim.command()
@click.argument("device")
@click.argument("kind", required=False)
@_state_dir_option
def clear(device: str, kind: str | None, state_dir: Path) -> None:
    """Clear fault KIND on DEVICE, or all of its faults.

    \b
    Exit codes: 0 cleared
                2 bad input (no lab running, unknown device)"""
    state = _running(state_dir)
    _device_name(state, device)
    result = _request(state, "clear", device=device, kind=kind)
    click.echo(_faults_line(device, result))


def _request(state: SimState, op: str, **fields: Any) -> dict[str, Any]:
    try:
        return asyncio.run(channel.request(state.control, op, timeout_s=10, **fields))
    except channel.ChannelError as exc:
        _fail(str(exc))


def _faults_line(device: str, result: dict[str, Any]) -> str:
    faults = result.get("faults") or []
    if not faults:
        return f"{device}: no active faults"
    parts = []
    for f in faults:
        left = f.get("remaining_s")
        parts.append(f"{f.get('kind')}" + (f" ({left} s left)" if left is not None else ""))
    return f"{device}: active faults: {', '.join(parts)}"
