"""SshTransport against real OpenSSH sshd instances on free loopback ports: exec, host keys,
key/agent/password auth, jump host, keepalive, SFTP with SHA-256, and the per-device log."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.transport.devlog import DeviceLog, DeviceLogFiles
from drivers.transport.ssh import CommandResult, HostKeyMismatch, SshTarget, SshTransport
from harness.base.errors import AuthFailed, CommandFailed, DeviceUnreachable
from harness.base.secrets import Secret
from tests.conftest import free_port, require_tool
from tests.daemons import Sshd, keygen, running_sshd

pytestmark = pytest.mark.interop

_keygen = keygen


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """Key-only sshd with internal-sftp."""
    tmp = tmp_path_factory.mktemp("sshd")
    with running_sshd(tmp, extra="Subsystem sftp internal-sftp") as server:
        yield server


def _run(target: SshTarget, *commands: str, timeout_s: float | None = None) -> list[CommandResult]:
    async def go() -> list[CommandResult]:
        async with SshTransport(target, device="dut") as transport:
            return [await transport.run(c, timeout_s=timeout_s) for c in commands]
    return asyncio.run(go())


def test_echo_with_key_and_verified_host_key(sshd: Sshd, caplog: pytest.LogCaptureFixture) -> None:
    known = sshd.write_known_hosts()
    caplog.set_level(logging.DEBUG, logger="drivers.device.dut")
    results = _run(sshd.target(known_hosts=str(known)), "echo hi", "echo again")
    assert [r.stdout for r in results] == ["hi\n", "again\n"]
    assert all(r.exit_status == 0 and r.stderr == "" and r.ok for r in results)
    assert any("echo hi" in rec.getMessage() and "exit 0" in rec.getMessage()
               for rec in caplog.records if rec.name == "drivers.device.dut")


def test_failing_command_gives_status_and_stderr(sshd: Sshd) -> None:
    sshd.write_known_hosts()
    (result,) = _run(sshd.target(), "echo out; echo oops >&2; exit 3")
    assert result.exit_status == 3
    assert result.stdout == "out\n"
    assert result.stderr == "oops\n"
    assert not result.ok


def test_large_output_is_complete(sshd: Sshd) -> None:
    sshd.write_known_hosts()
    (result,) = _run(sshd.target(), "seq 1 100000")
    lines = result.stdout.splitlines()
    assert len(lines) == 100000 and lines[-1] == "100000"


def test_unknown_host_key_under_verify_is_refused(sshd: Sshd) -> None:
    known = sshd.tmp / "empty_known_hosts"
    known.write_text("")
    with pytest.raises(HostKeyMismatch) as info:
        _run(sshd.target(known_hosts=str(known)), "echo hi")
    assert not info.value.changed
    assert isinstance(info.value, AuthFailed)
    assert "ssh-keyscan -p" in str(info.value) and "accept-new" in str(info.value)
    assert known.read_text() == ""


def test_missing_known_hosts_file_under_verify_is_refused(sshd: Sshd) -> None:
    known = sshd.tmp / "no_such_dir" / "known_hosts"
    with pytest.raises(HostKeyMismatch):
        _run(sshd.target(known_hosts=str(known)), "echo hi")
    assert not known.exists()


def test_accept_new_records_key_then_refuses_a_changed_one(sshd: Sshd) -> None:
    known = sshd.tmp / "fresh" / "known_hosts"
    (result,) = _run(sshd.target(host_key="accept-new", known_hosts=str(known)), "echo hi")
    assert result.stdout == "hi\n"
    assert known.read_text().strip() == f"[127.0.0.1]:{sshd.port} {sshd.host_pub}"
    # Now trusted under verify too.
    (result,) = _run(sshd.target(host_key="verify", known_hosts=str(known)), "echo ok")
    assert result.stdout == "ok\n"
    # Pretend the device was re-keyed: the file now holds a different ed25519 key.
    _keygen(sshd.tmp / "other_host_key")
    other = (sshd.tmp / "other_host_key.pub").read_text().split()
    known.write_text(f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    for mode in ("accept-new", "verify"):
        with pytest.raises(HostKeyMismatch) as info:
            _run(sshd.target(host_key=mode, known_hosts=str(known)), "echo hi")
        assert info.value.changed
        assert "ssh-keygen -R" in str(info.value)
    assert known.read_text() == f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n"


def test_ignore_skips_host_key_check(sshd: Sshd) -> None:
    known = sshd.tmp / "never_written"
    (result,) = _run(sshd.target(host_key="ignore", known_hosts=str(known)), "true")
    assert result.exit_status == 0
    assert not known.exists()


def test_wrong_key_is_auth_failed(sshd: Sshd) -> None:
    sshd.write_known_hosts()
    wrong = sshd.tmp / "wrong_key"
    if not wrong.exists():
        _keygen(wrong)
    with pytest.raises(AuthFailed) as info:
        _run(sshd.target(key_file=str(wrong)), "echo hi")
    assert not isinstance(info.value, HostKeyMismatch)
    assert "key_file" in str(info.value)


def test_password_not_logged_and_refused(sshd: Sshd, caplog: pytest.LogCaptureFixture) -> None:
    sshd.write_known_hosts()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthFailed) as info:
        _run(sshd.target(key_file=None, password=Secret("s3cr3t-pw")), "echo hi")
    assert "s3cr3t-pw" not in str(info.value)
    assert "s3cr3t-pw" not in caplog.text


def test_closed_port_is_unreachable() -> None:
    port = free_port()
    target = SshTarget(host="127.0.0.1", port=port, host_key="ignore", timeout_s=2.0)
    with pytest.raises(DeviceUnreachable) as info:
        _run(target, "echo hi")
    assert f"127.0.0.1:{port}" in str(info.value)


def test_not_an_ssh_server_is_unreachable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        target = SshTarget(host="127.0.0.1", port=port, host_key="ignore", timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(DeviceUnreachable):
            _run(target, "echo hi")
        assert time.monotonic() - started < 5


def test_command_timeout_is_command_failed_and_transport_recovers(sshd: Sshd) -> None:
    sshd.write_known_hosts()

    async def go() -> CommandResult:
        async with SshTransport(sshd.target(), device="dut") as transport:
            started = time.monotonic()
            with pytest.raises(CommandFailed) as info:
                await transport.run("sleep 5", timeout_s=0.5)
            assert time.monotonic() - started < 3
            assert "sleep 5" in str(info.value)
            return await transport.run("echo after")

    assert asyncio.run(go()).stdout == "after\n"


def test_concurrent_commands_share_one_connection(sshd: Sshd) -> None:
    sshd.write_known_hosts()

    async def go() -> list[CommandResult]:
        async with SshTransport(sshd.target(), device="dut") as transport:
            return list(await asyncio.gather(*(transport.run(f"echo {i}") for i in range(5))))

    assert [r.stdout for r in asyncio.run(go())] == [f"{i}\n" for i in range(5)]


def test_host_key_policy_is_exposed(sshd: Sshd) -> None:
    assert SshTransport(sshd.target(), device="dut").host_key_policy == "verify"
    assert SshTransport(sshd.target(host_key="ignore"), device="d").host_key_policy == "ignore"
    jumped = sshd.target(jump=sshd.target(host_key="accept-new"))
    assert jumped.host_key_policy == f"verify (jump 127.0.0.1:{sshd.port}: accept-new)"


# --- password and agent authentication ------------------------------------------------------

def test_password_auth_against_openssh(tmp_path: Path) -> None:
    password = "Pw-" + os.urandom(6).hex()
    with running_sshd(tmp_path / "pw", password=password) as server:
        server.write_known_hosts()
        (result,) = _run(server.target(key_file=None, password=Secret(password)), "echo in")
        assert result.stdout == "in\n"
        with pytest.raises(AuthFailed, match="tried: password") as info:
            _run(server.target(key_file=None, password=Secret(password + "x")), "true")
        assert password not in str(info.value)


@pytest.fixture
def agent_socket(tmp_path: Path, sshd: Sshd) -> Iterator[str]:
    """A private ssh-agent holding the client key; its socket path."""
    agent_bin, add_bin = require_tool("ssh-agent"), require_tool("ssh-add")
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen([agent_bin, "-D", "-a", sock], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.02)
        subprocess.run([add_bin, str(sshd.client_key)], env={**os.environ, "SSH_AUTH_SOCK": sock},
                       check=True, capture_output=True, timeout=10)
        yield sock
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_agent_auth(sshd: Sshd, agent_socket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sshd.write_known_hosts()
    monkeypatch.setenv("SSH_AUTH_SOCK", agent_socket)
    (result,) = _run(sshd.target(key_file=None, agent=True), "echo agent")
    assert result.stdout == "agent\n"


def test_agent_required_but_absent(sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> None:
    sshd.write_known_hosts()
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(AuthFailed, match="SSH_AUTH_SOCK"):
        _run(sshd.target(key_file=None, agent=True), "true")


# --- jump host and keepalive ---------------------------------------------------------------

@pytest.fixture(scope="module")
def jump_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sshd, Sshd]]:
    """A device sshd on 127.0.0.2 and a jump sshd on 127.0.0.1 that may forward only to it."""
    tmp = tmp_path_factory.mktemp("jump")
    with (running_sshd(tmp / "device", host="127.0.0.2") as device,
          running_sshd(tmp / "jump", log_level="DEBUG1",
                       extra=f"AllowTcpForwarding yes\nPermitOpen 127.0.0.2:{device.port}"
                       ) as jump):
        yield jump, device


def test_jump_host_carries_the_connection(jump_pair: tuple[Sshd, Sshd]) -> None:
    jump, device = jump_pair
    jump.write_known_hosts()
    device.write_known_hosts()
    target = device.target(jump=jump.target())
    (result,) = _run(target, "echo $SSH_CONNECTION")
    client_ip, client_port, server_ip, server_port = result.stdout.split()
    assert (server_ip, int(server_port)) == ("127.0.0.2", device.port)
    # The jump sshd opened the connection to the device: its log shows the forward.
    log = jump.log_text()
    assert "direct-tcpip" in log and f"127.0.0.2 port {device.port}" in log
    # ...and the device saw a client port that belongs to no socket of this process.
    assert int(client_port) not in _my_local_ports()
    assert client_ip.startswith("127.")


def test_jump_host_refusing_to_forward_is_unreachable(jump_pair: tuple[Sshd, Sshd]) -> None:
    jump, device = jump_pair
    jump.write_known_hosts()
    target = device.target(port=device.port + 1 if device.port < 65535 else 1024,
                           jump=jump.target(), timeout_s=3.0)
    with pytest.raises(DeviceUnreachable, match="PermitOpen"):
        _run(target, "true")


def test_jump_host_key_is_verified_too(jump_pair: tuple[Sshd, Sshd], tmp_path: Path) -> None:
    jump, device = jump_pair
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    target = device.target(jump=jump.target(known_hosts=str(empty)))
    with pytest.raises(HostKeyMismatch, match="jump host"):
        _run(target, "true")


def test_keepalives_are_sent(jump_pair: tuple[Sshd, Sshd]) -> None:
    jump, _ = jump_pair
    jump.write_known_hosts()
    before = jump.log_text().count("keepalive@lag.net")

    async def go() -> None:
        async with SshTransport(jump.target(keepalive_s=1.0), device="dut") as transport:
            await transport.run("true")
            await asyncio.sleep(2.6)
            await transport.run("true")

    asyncio.run(go())
    assert jump.log_text().count("keepalive@lag.net") >= before + 2


def _my_local_ports() -> set[int]:
    """Local TCP ports of this process's sockets (from /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


# --- SFTP ------------------------------------------------------------------------------------

@pytest.mark.parametrize("verify", ["read-back", "sha256sum"])
def test_sftp_round_trip_with_checksum(sshd: Sshd, tmp_path: Path, verify: str) -> None:
    sshd.write_known_hosts()
    payload = os.urandom(3 * 1024 * 1024 + 17)
    local = tmp_path / "image.bin"
    local.write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    remote = str(tmp_path / "remote" / "image.bin")
    (tmp_path / "remote").mkdir()
    back = tmp_path / "back.bin"

    async def go() -> None:
        async with SshTransport(sshd.target(), device="dut") as transport:
            up = await transport.put(local, remote, verify=verify, expected_sha256=digest)
            assert (up.size, up.sha256, up.verified_by) == (len(payload), digest, verify)
            down = await transport.get(remote, back, verify=verify)
            assert (down.size, down.sha256) == (len(payload), digest)

    asyncio.run(go())
    assert Path(remote).read_bytes() == payload and back.read_bytes() == payload
    assert sorted(p.name for p in (tmp_path / "remote").iterdir()) == ["image.bin"]
    assert not list(tmp_path.glob("back.bin.part-*"))


def test_sftp_wrong_expected_hash_leaves_nothing(sshd: Sshd, tmp_path: Path) -> None:
    sshd.write_known_hosts()
    local = tmp_path / "fw.bin"
    local.write_bytes(b"firmware")
    (tmp_path / "remote").mkdir()
    remote = str(tmp_path / "remote" / "fw.bin")

    async def go() -> None:
        async with SshTransport(sshd.target(), device="dut") as transport:
            with pytest.raises(CommandFailed, match=r"expected 0{64}"):
                await transport.put(local, remote, expected_sha256="0" * 64)
            with pytest.raises(CommandFailed, match="no such file"):
                await transport.get(str(tmp_path / "remote" / "missing"), tmp_path / "x")

    asyncio.run(go())
    assert list((tmp_path / "remote").iterdir()) == []
    assert not (tmp_path / "x").exists()


# --- the per-device log -----------------------------------------------------------------------

def test_commands_and_output_go_to_the_device_log_masked(sshd: Sshd, tmp_path: Path) -> None:
    sshd.write_known_hosts()
    secret = "Sekr1t-" + os.urandom(4).hex()
    logs = tmp_path / "devices"
    log = DeviceLog("dut", run_id="run-42")

    async def go() -> None:
        target = sshd.target(password=Secret(secret))  # key auth first; password still masked
        async with SshTransport(target, device="dut", log=log) as transport:
            await transport.run(f"echo token={secret}; echo plain-output")

    with DeviceLogFiles(logs, ["dut"]):
        asyncio.run(go())
    text = (logs / "dut.log").read_text()
    assert secret not in text
    assert "echo token=***; echo plain-output" in text
    assert "token=***" in text and "plain-output" in text
    assert "[dut run=run-42]" in text
    assert logging.getLogger("drivers.device.dut").handlers == []
