"""Throughput measured before an iperf3 server is killed or the run is cancelled is kept.

iperf3 3.12 reports only when it ends; a client that loses its server or gets SIGTERM/SIGINT
still prints the intervals it finished. The fixtures are real captures (loopback, iperf3 3.12,
a 5 s test stopped at 2.6 s); the live tests use real iperf3 processes and a real
`harness run` on the simulated lab.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.hosts.host import TrafficHost
from drivers.hosts.iperf3 import Iperf3Options
from drivers.hosts.iperf3_partial import Iperf3Incomplete, parse_partial, partial_of
from drivers.hosts.ssh_runner import SshRunner
from drivers.transport.ssh import SshTransport
from harness.base.errors import MeasurementError
from tests.conftest import free_port, require_tool
from tests.daemons import running_sshd

FIXTURES = Path(__file__).parent / "fixtures" / "iperf3"
ROOT = Path(__file__).resolve().parent.parent


def _text(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


# --- pure: captured partial JSON ----------------------------------------------------------------

def test_server_killed_keeps_finished_intervals_once() -> None:
    text = _text("partial-tcp-dl-server-killed")   # -R -P 2, server SIGKILLed at 2.6 s
    doc = json.loads(text)
    assert len(doc["intervals"]) == 3 and doc["end"] == {}  # iperf3 repeats its last interval
    partial = parse_partial(text, direction="dl")
    assert partial is not None
    assert partial.error == "control socket has closed unexpectedly"
    assert partial.receiver
    assert [(round(i.start_s), round(i.end_s)) for i in partial.result.intervals] == [
        (0, 1), (1, 2)]
    assert partial.result.bytes_received == sum(i["sum"]["bytes"] for i in doc["intervals"][:2])
    assert partial.measured_s == pytest.approx(2.0, abs=0.01)
    assert partial.result.bits_per_second_received == pytest.approx(
        partial.result.bytes_received * 8 / partial.measured_s)


def test_interrupted_client_keeps_its_last_short_interval() -> None:
    partial = parse_partial(_text("partial-tcp-dl-client-sigint"), direction="dl")
    assert partial is not None and partial.error == "interrupt - the client has terminated"
    assert len(partial.result.intervals) == 3
    assert partial.measured_s == pytest.approx(2.6, abs=0.05)


def test_uplink_intervals_are_the_senders() -> None:
    partial = parse_partial(_text("partial-tcp-ul-server-killed"), direction="ul")
    assert partial is not None and not partial.receiver
    assert "Connection reset by peer" in partial.error
    assert len(partial.result.intervals) == 2
    old = parse_partial(_text("client-interrupted"), direction="ul")   # SIGTERM at 1.6 s
    assert old is not None and len(old.result.intervals) == 2 and not old.receiver


def test_udp_partial_keeps_packet_counts() -> None:
    partial = parse_partial(_text("partial-udp-dl-server-killed"), direction="dl")
    assert partial is not None and len(partial.result.intervals) == 2
    assert all(i.packets for i in partial.result.intervals)


@pytest.mark.parametrize("name, direction", [
    ("error-connect-refused", "dl"),        # never started: nothing to keep
    ("truncated-tcp-dl", "dl"),             # not JSON at all
    ("partial-tcp-dl-server-killed", "ul"),  # another run than asked for
])
def test_nothing_measured_is_none(name: str, direction: str) -> None:
    assert parse_partial(_text(name), direction=direction) is None


# --- live: real iperf3 --------------------------------------------------------------------------

def _opts(port: int, direction: str = "dl") -> Iperf3Options:
    return Iperf3Options(host="127.0.0.1", port=port, direction=direction, duration_s=6)


def test_killed_server_is_an_error_carrying_the_seconds_before() -> None:
    require_tool("iperf3")
    port = free_port()

    async def go() -> Iperf3Incomplete:
        server = await TrafficHost("dn1").start_iperf3_server(port)
        try:
            client = asyncio.create_task(
                TrafficHost("ue1").run_iperf3_client(_opts(port), timeout_s=30))
            await asyncio.sleep(2.6)
            os.kill(server._command.pid, signal.SIGKILL)  # type: ignore[attr-defined]
            with pytest.raises(MeasurementError) as caught:
                await client
        finally:
            await server.stop()
        assert isinstance(caught.value, Iperf3Incomplete)
        return caught.value

    error = asyncio.run(go())
    assert "control socket has closed unexpectedly" in str(error)
    assert error.partial.receiver and len(error.partial.result.measured_intervals) >= 2
    assert error.partial.result.bytes_received > 0


@pytest.mark.parametrize("direction", ["dl", "ul"])
def test_cancelled_client_is_terminated_and_hands_back_what_it_measured(
        direction: str) -> None:
    require_tool("iperf3")
    port = free_port()

    async def go() -> BaseException:
        async with await TrafficHost("dn1").start_iperf3_server(port):
            client = asyncio.create_task(
                TrafficHost("ue1").run_iperf3_client(_opts(port, direction), timeout_s=30))
            await asyncio.sleep(2.6)
            client.cancel()
            started = time.monotonic()
            try:
                await client
            except asyncio.CancelledError as exc:
                assert time.monotonic() - started < 3.0  # TERM answered, no grace wait
                return exc
        raise AssertionError("the client was not cancelled")

    partial = partial_of(asyncio.run(go()))
    assert partial is not None, "SIGTERM (not SIGKILL) lets iperf3 print what it measured"
    assert partial.error == "interrupt - the client has terminated"
    assert len(partial.result.measured_intervals) >= 2
    assert partial.receiver == (direction == "dl")


@pytest.mark.interop
def test_cancelled_client_over_ssh_hands_back_what_it_measured(tmp_path: Path) -> None:
    require_tool("iperf3")
    port = free_port()

    async def go() -> BaseException:
        with running_sshd(tmp_path) as sshd:
            sshd.write_known_hosts()
            runner = SshRunner(SshTransport(sshd.target(), device="ue1"))
            try:
                async with await TrafficHost("dn1").start_iperf3_server(port):
                    client = asyncio.create_task(TrafficHost("ue1", runner=runner)
                                                 .run_iperf3_client(_opts(port), timeout_s=30))
                    await asyncio.sleep(3.0)
                    client.cancel()
                    try:
                        await client
                    except asyncio.CancelledError as exc:
                        return exc
            finally:
                await runner.close()
        raise AssertionError("the client was not cancelled")

    partial = partial_of(asyncio.run(go()))
    assert partial is not None, "kill -TERM over SSH lets iperf3 print what it measured"
    assert partial.error == "interrupt - the client has terminated"
    assert len(partial.result.measured_intervals) >= 2


# --- end to end: harness run on the simulated lab -----------------------------------------------

SCENARIO = """\
name: partial
title: {vi: "Phép đo bị dừng", en: "Stopped trial"}
defaults: {duration: 8s}
trials:
  - id: stopped-dl
    kind: throughput
    ue: ue1
    dn: dn1
    via: gnb1
    criteria: ["throughput.mean >= 1 Mbit/s"]
"""


def _start_run(tmp_path: Path, marker: str) -> subprocess.Popen[str]:
    scenario = tmp_path / "partial.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAN_HARNESS_TEST_MARKER": marker}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(scenario), "--lab", "lab.yaml",
         "--out", str(tmp_path / "out")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def _wait_for_trial(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    seen, deadline = "", time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "stopped-dl #1" in line or not line:
            break
    assert "stopped-dl #1" in seen, seen
    return seen


def _iperf3_servers(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in environ and argv[0].endswith(b"iperf3") and b"-s" in argv:
            found.append(int(entry.name))
    return found


def _throughput_samples(run_dir: Path) -> list[dict[str, object]]:
    db = sqlite3.connect(run_dir / "samples.sqlite")
    try:
        rows = db.execute("SELECT fields FROM samples WHERE measurement='throughput'").fetchall()
    finally:
        db.close()
    return [json.loads(r[0]) for r in rows]


def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.e2e
def test_run_with_killed_iperf3_server_is_error_with_partial_samples(tmp_path: Path) -> None:
    require_tool("iperf3")
    marker = f"partial-kill-{os.getpid()}-{time.monotonic_ns()}"
    proc = _start_run(tmp_path, marker)
    try:
        seen = _wait_for_trial(proc)
        time.sleep(3.5)
        servers = _iperf3_servers(marker)
        assert len(servers) == 1, servers
        os.kill(servers[0], signal.SIGKILL)
    finally:
        stdout, stderr = _finish(proc)
    assert proc.returncode == 3, seen + stderr
    run_dir = Path(stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    trial = summary["trials"][-1]
    assert trial["verdict"] == "ERROR"
    assert "control socket has closed unexpectedly" in trial["error"]
    assert trial["criteria"] == []  # nothing judged on a partial figure
    assert "throughput.mean" not in trial["metrics"]
    assert trial["metrics"]["partial.throughput.mean"]["value"] > 0
    assert trial["metrics"]["partial.throughput.samples"]["value"] >= 2
    assert trial["partial"]["dl"]["side"] == "receiver"
    assert any(n.startswith("partial: iperf3 stopped after") for n in trial["notes"])
    samples = _throughput_samples(run_dir)
    assert len(samples) >= 2 and all(s["partial"] is True for s in samples)
    assert all(float(str(s["bits_per_second"])) > 0 for s in samples)


@pytest.mark.e2e
def test_sigint_to_the_harness_keeps_throughput_samples(tmp_path: Path) -> None:
    require_tool("iperf3")
    marker = f"partial-sigint-{os.getpid()}-{time.monotonic_ns()}"
    proc = _start_run(tmp_path, marker)
    try:
        seen = _wait_for_trial(proc)
        time.sleep(3.5)
        proc.send_signal(signal.SIGINT)  # the harness alone: it must stop iperf3 itself
    finally:
        stdout, stderr = _finish(proc)
    assert proc.returncode == 130, seen + stderr
    assert "Traceback" not in seen + stderr
    run_dir = Path(stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is True and summary["verdict"] == "ERROR"
    samples = _throughput_samples(run_dir)
    assert len(samples) >= 2, "the seconds measured before Ctrl-C are kept"
    assert all(s["partial"] is True for s in samples)
    raw = list((run_dir / "raw").glob("stopped-dl-r1.iperf3.json"))
    assert raw and "interrupt - the client has terminated" in raw[0].read_text()
