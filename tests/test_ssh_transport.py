"""SshTransport against a real OpenSSH sshd started on a free loopback port."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from drivers.transport.ssh import CommandResult, HostKeyMismatch, SshTarget, SshTransport
from harness.config.secrets import Secret
from harness.errors import AuthFailed, CommandFailed, DeviceUnreachable
from tests.conftest import free_port, require_tool

pytestmark = pytest.mark.interop


@dataclass(frozen=True)
class Sshd:
    port: int
    host_pub: str  # "ssh-ed25519 AAAA..."
    client_key: Path
    tmp: Path

    def target(self, **changes: object) -> SshTarget:
        base = SshTarget(host="127.0.0.1", port=self.port, user=getpass.getuser(),
                         key_file=str(self.client_key), known_hosts=str(self.tmp / "known_hosts"),
                         timeout_s=5.0, command_timeout_s=10.0)
        return replace(base, **changes)  # type: ignore[arg-type]

    def write_known_hosts(self, path: Path | None = None) -> Path:
        path = path or self.tmp / "known_hosts"
        path.write_text(f"# test\n[127.0.0.1]:{self.port} {self.host_pub}\n")
        return path


def _keygen(path: Path) -> None:
    subprocess.run([require_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True, timeout=20)


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on {port} within {timeout} s")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    sshd_bin = require_tool("sshd")
    if not os.path.isabs(sshd_bin):
        sshd_bin = os.path.abspath(sshd_bin)
    tmp = tmp_path_factory.mktemp("sshd")
    _keygen(tmp / "host_key")
    _keygen(tmp / "client_key")
    (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
    port = free_port()
    conf = tmp / "sshd_config"
    conf.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPidFile {tmp / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\n"
        # SHLVL>=1 stops a non-interactive bash from sourcing a slow ~/.bashrc under sshd.
        "SetEnv SHLVL=1\nLogLevel ERROR\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_port(port, proc)
        pub = (tmp / "host_key.pub").read_text().split()
        yield Sshd(port=port, host_pub=f"{pub[0]} {pub[1]}", client_key=tmp / "client_key",
                   tmp=tmp)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _run(target: SshTarget, *commands: str, timeout_s: float | None = None) -> list[CommandResult]:
    async def go() -> list[CommandResult]:
        async with SshTransport(target, device="dut") as transport:
            return [await transport.run(c, timeout_s=timeout_s) for c in commands]
    return asyncio.run(go())


def test_echo_with_key_and_verified_host_key(sshd: Sshd, caplog: pytest.LogCaptureFixture) -> None:
    known = sshd.write_known_hosts()
    caplog.set_level(logging.DEBUG, logger="drivers.ssh.dut")
    results = _run(sshd.target(known_hosts=str(known)), "echo hi", "echo again")
    assert [r.stdout for r in results] == ["hi\n", "again\n"]
    assert all(r.exit_status == 0 and r.stderr == "" and r.ok for r in results)
    assert any("echo hi" in rec.getMessage() and "exit 0" in rec.getMessage()
               for rec in caplog.records if rec.name == "drivers.ssh.dut")


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
