"""Helpers for the runner tests: a fast simulated lab, inputs from text, an in-process run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.base.events import Event, EventBus
from harness.base.sinks import RunSink
from harness.engine.inputs import load_inputs
from harness.engine.runner import RunInputs, Runner, RunOptions, RunOutcome

# One simulated gNodeB and core; two UE/DN pairs; SNMP timeouts short so a silent device
# makes a trial ERROR quickly.
FAST_LAB = """\
name: test-lab
defaults:
  snmp: {version: 3, user: harness, auth: {protocol: SHA-256}, priv: {protocol: AES-128},
         timeout: 0.5s, retries: 0}
  ssh: {user: admin, host_key: verify}
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    host: 127.0.0.1
    simulated:
      cells:
        - {id: 1, bandwidth_mhz: 20, scs_khz: 30, tdd: DDDSU, special: "10:2:2",
           layers: {dl: 2, ul: 1}, modulation: {dl: 64qam, ul: 64qam}, plmns: ["452-02"]}
  core1: {role: core, profile: sim-core, host: 127.0.0.1, simulated: {plmns: ["452-02"]}}
  ue1: {role: ue-host, host: 127.0.0.1}
  dn1: {role: dn-host, host: 127.0.0.1}
  ue2: {role: ue-host, host: 127.0.0.1}
  dn2: {role: dn-host, host: 127.0.0.1}
"""


def short_throughput(name: str, monitor: str = "{gnb1: [DRB.UEThpDl]}") -> str:
    """A scenario of one 2 s TCP DL trial through gnb1 with a KPI monitored (for tests of what
    a run writes, not of what it measures)."""
    return f"""\
name: {name}
title: {{vi: "Thử {name}", en: "Test {name}"}}
defaults: {{duration: 2s, kpi_interval: 0.5s}}
trials:
  - id: tput
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    monitor: {monitor}
    criteria: ["throughput.mean >= 1 Mbit/s"]
"""


def write_inputs(tmp: Path, scenario: str, lab: str = FAST_LAB) -> tuple[Path, Path]:
    """The scenario and lab written to files in `tmp`."""
    (tmp / "scenario.yaml").write_text(scenario, encoding="utf-8")
    (tmp / "lab.yaml").write_text(lab, encoding="utf-8")
    return tmp / "scenario.yaml", tmp / "lab.yaml"


def inputs(tmp: Path, scenario: str, lab: str = FAST_LAB) -> RunInputs:
    """Validated inputs for `scenario` on `lab`."""
    return load_inputs(*write_inputs(tmp, scenario, lab))


def run_in_process(run_inputs: RunInputs, out: Path, *, options: RunOptions | None = None,
                   on_event: Callable[[Runner, Event], None] | None = None,
                   timeout_s: float = 90,
                   sinks: Sequence[RunSink] | None = None) -> tuple[RunOutcome, list[Event]]:
    """Run the Runner with asyncio.run; `on_event(runner, event)` sees every event (it may
    schedule work on the running loop, e.g. inject a fault through `runner.bench.sim`)."""
    events: list[Event] = []
    bus = EventBus()
    # report.pdf costs 2-5 s a run: the tests that look at it ask for it (report_pdf=True)
    options = options if options is not None else RunOptions(report_pdf=False)
    runner = Runner(run_inputs, out, bus, options=options, sinks=sinks)

    def seen(event: Event) -> None:
        events.append(event)
        if on_event is not None:
            on_event(runner, event)

    bus.subscribe(seen)

    async def main() -> RunOutcome:
        return await asyncio.wait_for(runner.run(), timeout_s)

    return asyncio.run(main()), events


def later(delay_s: float, work: Callable[[], Any]) -> asyncio.Task[None]:
    """Run the coroutine `work()` after `delay_s` on the running loop (from an event); keep
    the returned task referenced until it is done."""
    async def go() -> None:
        await asyncio.sleep(delay_s)
        await work()
    return asyncio.get_running_loop().create_task(go())


def start_run(scenario: Path, lab: Path, out: Path, *, env: Mapping[str, str], cwd: Path,
              until: str, timeout_s: float = 60) -> tuple[subprocess.Popen[str], str]:
    """`harness run` in a process group of its own (for SIGINT/SIGKILL to the group), line
    progress on stderr; returns once `until` (e.g. "dl #1") appeared there, with what it printed
    so far. AssertionError if it did not within `timeout_s`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(scenario), "--lab", str(lab), "--out",
         str(out), "--progress", "lines"],
        cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    assert proc.stderr is not None
    seen, deadline = "", time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and until not in seen:
            line = proc.stderr.readline()
            if not line:
                break
            seen += line
        assert until in seen, seen
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc, seen
