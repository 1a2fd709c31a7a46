"""The control channel into a running simulated lab: core faults observable from outside and
cleared, refused requests, the fault book, the socket path."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.base.errors import AuthFailed, HarnessError
from harness.simlab.channel import ChannelError, control_socket_path
from harness.simlab.control import SimLabProcess
from harness.simlab.core_server import FaultBook
from tests.test_simlab_core import ROOT, SYS_NAME, core_ssh, lab, net_snmp

__all__ = ["lab"]  # the module-scoped running lab, shared with test_simlab_core


def test_fault_book_kinds_expiry_and_clear() -> None:
    book = FaultBook({"a": "", "b": ""}, "dev")
    with pytest.raises(HarnessError, match="kinds: a, b"):
        book.add("c", None, {})
    with pytest.raises(HarnessError, match="positive"):
        book.add("a", 0, {})
    with pytest.raises(HarnessError, match="no parameter x"):
        book.add("a", None, {"x": 1})
    book.add("a", 0.05, {})
    book.add("b", None, {})
    assert [(f["id"], f["kind"], f["duration_s"]) for f in book.to_json()] == [
        (1, "a", 0.05), (2, "b", None)]
    time.sleep(0.08)
    assert book.expire() == ["a"] and book.active("b") and not book.active("a")
    assert book.remove(None) == 1 and book.to_json() == []


def test_control_socket_falls_back_to_a_short_path_when_too_long(tmp_path: Path) -> None:
    short = control_socket_path(tmp_path)
    assert short == tmp_path.absolute() / "control.sock"
    deep = tmp_path / ("d" * 120)
    fallback = control_socket_path(deep)
    assert len(str(fallback)) < 108 and fallback != deep / "control.sock"
    assert control_socket_path(deep) == fallback  # stable, so clients find it


@pytest.mark.e2e
def test_core_faults_through_the_control_channel(lab: SimLabProcess, tmp_path: Path) -> None:
    port = lab.cores["core1"].snmp[1]

    def answered() -> bool:
        return net_snmp("snmpget", port, SYS_NAME, timeout_s=0.5).returncode == 0

    async def scenario() -> None:
        try:
            # snmp-silent: the agent drops requests (snmpget times out), then answers again.
            result = await lab.fault("core1", "snmp-silent")
            assert [f["kind"] for f in result["faults"]] == ["snmp-silent"]
            silent = await asyncio.to_thread(net_snmp, "snmpget", port, SYS_NAME, timeout_s=0.5)
            assert silent.returncode != 0 and "Timeout" in silent.stderr
            await lab.clear("core1", "snmp-silent")
            assert await asyncio.to_thread(answered)
            # A timed fault ends by itself.
            await lab.fault("core1", "snmp-silent", duration_s=0.6)
            assert not await asyncio.to_thread(answered)
            await asyncio.sleep(0.6)
            assert await asyncio.to_thread(answered)
            # snmp-error: an answer, but genErr.
            await lab.fault("core1", "snmp-error")
            err = await asyncio.to_thread(net_snmp, "snmpget", port, SYS_NAME)
            assert "genErr" in err.stdout + err.stderr
            await lab.clear("core1")
            # amf-down: every UE deregisters; they come back once it clears.
            await lab.fault("core1", "amf-down", duration_s=30)
            status = await lab.status()
            assert status["devices"]["core1"]["registered"] == 0
            await lab.clear("core1", "amf-down")
            status = await lab.status()
            assert status["devices"]["core1"]["registered"] == 8
            assert status["devices"]["core1"]["faults"] == []
            # ssh-refuse: the login fails; after clearing it works.
            await lab.fault("core1", "ssh-refuse")
            with pytest.raises(AuthFailed):
                async with core_ssh(lab, tmp_path) as ssh:
                    await ssh.run("show version")
            await lab.clear("core1", "ssh-refuse")
            async with core_ssh(lab, tmp_path) as ssh:
                assert (await ssh.run("show version")).ok
            # ssh-drop: sessions are closed as they open.
            await lab.fault("core1", "ssh-drop", duration_s=30)
            with pytest.raises(HarnessError):
                async with core_ssh(lab, tmp_path) as ssh:
                    await ssh.run("show version")
            await lab.clear("core1", "ssh-drop")
            async with core_ssh(lab, tmp_path) as ssh:
                assert (await ssh.run("show version")).ok
        finally:
            await lab.clear("core1")

    asyncio.run(scenario())


@pytest.mark.e2e
def test_control_channel_refuses_bad_requests(lab: SimLabProcess) -> None:
    async def scenario() -> list[str]:
        errors = []
        for call in (lab.fault("gnb9", "snmp-silent"), lab.fault("core1", "melt-down"),
                     lab.fault("core1", "snmp-silent", duration_s=-1),
                     lab.clear("core1", "melt-down")):
            try:
                await call
            except ChannelError as exc:
                errors.append(str(exc))
        return errors

    errors = asyncio.run(scenario())
    assert len(errors) == 4
    assert "no simulated device 'gnb9'" in errors[0] and "gnb1, core1" in errors[0]
    assert "no fault kind 'melt-down'" in errors[1] and "snmp-silent" in errors[1]
    assert "positive" in errors[2]
    assert "melt-down" in errors[3]


@pytest.mark.e2e
def test_gnodeb_cell_outage_deregisters_the_cores_ues(lab: SimLabProcess) -> None:
    async def registered() -> int:
        status = await lab.status()
        count: int = status["devices"]["core1"]["registered"]
        return count

    async def until(expected: int, timeout_s: float = 3.0) -> int:
        deadline = time.monotonic() + timeout_s
        while (count := await registered()) != expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return count

    async def scenario() -> tuple[int, int, int]:
        before = await registered()
        try:
            await lab.fault("gnb1", "cell-outage")
            during = await until(0)
        finally:
            await lab.clear("gnb1")
        return before, during, await until(before)

    before, during, after = asyncio.run(scenario())
    assert (before, during, after) == (8, 0, 8)


OWNER = """
import asyncio, sys, time
from pathlib import Path
from harness.simlab.control import SimLabProcess
from tests.test_simlab_core import lab_spec
from tests.conftest import free_port

lab = SimLabProcess(lab_spec(Path(sys.argv[1]), free_port()))
asyncio.run(lab.start())
print(lab.pid, flush=True)
if sys.argv[2] == "hang":
    time.sleep(60)
"""


def _gone(pid: int, timeout_s: float) -> bool:
    """Whether `pid` has ended (a zombie counts as ended) within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
                return True
        except OSError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["killed", "exits"])
def test_a_lab_does_not_outlive_the_harness_that_started_it(tmp_path: Path, how: str) -> None:
    """Killed (SIGKILL: the lab sees its parent go) or exiting without stop() (the owner's
    guard ends it): either way no lab is left running."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path / "lab"), "hang" if how == "killed" else ""],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        text=True)
    lab_pid = None
    try:
        assert owner.stdout is not None
        lab_pid = int(owner.stdout.readline())
        if how == "killed":
            owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=20)
        assert _gone(lab_pid, 5), f"lab {lab_pid} outlived its owner ({how})"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if lab_pid is not None and not _gone(lab_pid, 0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(lab_pid, signal.SIGKILL)
