"""Traffic hosts over SSH: SshRunner against a real OpenSSH sshd on loopback, running real
iperf3 (server over SSH, client local; traffic stays on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator

import pytest

from drivers.hosts.host import TrafficHost
from drivers.hosts.iperf3 import Iperf3Options
from drivers.hosts.ssh_runner import SshRunner, remote_command
from drivers.transport.ssh import SshTransport
from harness.base.errors import ToolMissing
from tests.conftest import free_port, require_tool
from tests.daemons import Sshd, running_sshd

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("runner")) as server:
        server.write_known_hosts()
        yield server


def _runner(sshd: Sshd) -> SshRunner:
    return SshRunner(SshTransport(sshd.target(), device="dn1"))


def test_every_argument_arrives_verbatim(sshd: Sshd) -> None:
    args = ["a b", "$(touch /tmp/ran-harness-pwned)", "it's", ";echo x", "*", "\"q\"", "", "\\"]

    async def go() -> tuple[int | None, str, str]:
        runner = _runner(sshd)
        try:
            done = await runner.run(["printf", "%s|\\n", *args], timeout_s=10)
        finally:
            await runner.close()
        return done.returncode, done.stdout, done.stderr

    status, out, err = asyncio.run(go())
    assert status == 0 and err == ""
    assert out.splitlines() == [f"{a}|" for a in args]
    assert not os.path.exists("/tmp/ran-harness-pwned")
    assert "'$(touch /tmp/ran-harness-pwned)'" in remote_command(["x", args[1]])


def test_missing_program_is_file_not_found_and_tool_missing(sshd: Sshd) -> None:
    async def go() -> None:
        runner = _runner(sshd)
        try:
            with pytest.raises(FileNotFoundError):
                await runner.run(["no-such-tool-xyz", "--version"], timeout_s=5)
            with pytest.raises(FileNotFoundError):
                await runner.start(["no-such-tool-xyz"])
            host = TrafficHost("dn1", runner=runner, tools={"iperf3": "/nonexistent/iperf3"})
            with pytest.raises(ToolMissing, match="iperf3 not found on host dn1"):
                await host.tool_version("iperf3")
            with pytest.raises(ToolMissing):
                await host.start_iperf3_server(free_port())
        finally:
            await runner.close()

    asyncio.run(go())


def test_timeout_terminates_the_remote_command(sshd: Sshd) -> None:
    marker = f"{37 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"

    async def go() -> tuple[bool, int | None, float]:
        runner = _runner(sshd)
        try:
            started = time.monotonic()
            done = await runner.run(["sleep", marker], timeout_s=0.5, grace_s=1.0)
            return done.timed_out, done.returncode, time.monotonic() - started
        finally:
            await runner.close()

    timed_out, status, took = asyncio.run(go())
    assert timed_out and status is None
    assert took < 4
    assert not _processes_with(["sleep", marker])


def test_tools_over_ssh_match_the_local_ones(sshd: Sshd) -> None:
    require_tool("iperf3")

    async def go() -> tuple[dict[str, str | None], dict[str, str | None]]:
        runner = _runner(sshd)
        try:
            remote = await TrafficHost("dn1", runner=runner).tools()
        finally:
            await runner.close()
        return remote, await TrafficHost("local").tools()

    remote, local = asyncio.run(go())
    assert remote == local
    assert set(remote) == {"iperf3", "irtt", "ping"}
    assert remote["iperf3"] is not None and remote["iperf3"].startswith("3.")
    assert (remote["ping"] is None) == (shutil.which("ping") is None)


def test_iperf3_server_over_ssh_client_local(sshd: Sshd) -> None:
    require_tool("iperf3")
    port = free_port()

    async def go() -> tuple[int, str]:
        runner = _runner(sshd)
        dn = TrafficHost("dn1", runner=runner)
        try:
            async with await dn.start_iperf3_server(port) as server:
                assert server.running
                assert _processes_with(["iperf3", "-s"], str(port))
                opts = Iperf3Options(host="127.0.0.1", port=port, direction="ul", duration_s=2)
                result, _ = await TrafficHost("ue1").run_iperf3_client(opts, timeout_s=15)
                output = server.output()
            assert not server.running
        finally:
            await dn.close()
        return result.bytes_received, output

    received, output = asyncio.run(go())
    assert received > 0
    assert "ranharness-pid" not in output
    assert not _processes_with(["iperf3", "-s"], str(port))


def test_reachability_reports_ssh_and_policy(sshd: Sshd) -> None:
    async def go() -> list[tuple[str, bool, str]]:
        runner = _runner(sshd)
        dead = SshRunner(SshTransport(sshd.target(port=free_port()), device="dn2"))
        try:
            statuses = [*await runner.reachability(), *await dead.reachability()]
        finally:
            await runner.close()
        return [(s.transport, s.ok, s.error) for s in statuses]

    (ok, bad) = asyncio.run(go())
    assert ok == ("ssh", True, "")
    assert bad[:2] == ("ssh", False) and "cannot connect" in bad[2]


def _processes_with(words: list[str], extra: str = "") -> bool:
    """True if a live process has all `words` (and `extra`) among its arguments."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = [a.decode(errors="replace") for a in f.read().split(b"\0")]
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z" or not args or not args[0].endswith(words[0]):
            continue
        if all(w in args for w in words[1:]) and (not extra or extra in args):
            return True
    return False
