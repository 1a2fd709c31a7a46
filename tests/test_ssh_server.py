"""The simulator's SSH CLI server, driven by SshTransport, paramiko's shell and OpenSSH's ssh."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from drivers.transport.ssh import CommandResult, SshTarget, SshTransport
from harness.base.errors import AuthFailed, DeviceUnreachable
from harness.base.secrets import Secret
from harness.simlab.ssh_server import SshCliServer
from tests.conftest import free_port, require_tool

PASSWORD = "gnb-pass-1"


def handler(line: str) -> tuple[str, int]:
    if line == "show version":
        return "gNB-sim version 1.2.3", 0
    if line == "fail":
        return "% command failed\n", 1
    if line == "boom":
        raise RuntimeError("simulated bug")
    if line == "quiet":
        return "", 0
    if line == "hang":
        time.sleep(1.0)
        return "late", 0
    return f"echo: {line}", 0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SshCliServer]:
    srv = SshCliServer(host="127.0.0.1", port=free_port(), users={"admin": PASSWORD},
                       host_key_file=tmp_path / "host_key", handler=handler,
                       banner="Welcome to gNB-sim", prompt="gnb# ")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _target(srv: SshCliServer, tmp: Path, **kw: object) -> SshTarget:
    known = tmp / "known_hosts"
    if "known_hosts" not in kw and "host_key" not in kw:
        known.write_text(f"[127.0.0.1]:{srv.port} {srv.host_key_line}\n")
    options: dict[str, object] = {"host": "127.0.0.1", "port": srv.port, "user": "admin",
                                  "password": Secret(PASSWORD), "known_hosts": str(known),
                                  "timeout_s": 5.0, "command_timeout_s": 5.0}
    options.update(kw)
    return SshTarget(**options)  # type: ignore[arg-type]


def _run(target: SshTarget, *commands: str) -> list[CommandResult]:
    async def go() -> list[CommandResult]:
        async with SshTransport(target, device="gnb1") as transport:
            return [await transport.run(c) for c in commands]
    return asyncio.run(go())


def test_exec_output_and_status(server: SshCliServer, tmp_path: Path) -> None:
    ok, failed, quiet, crashed = _run(_target(server, tmp_path),
                                      "show version", "fail", "quiet", "boom")
    assert (ok.stdout, ok.exit_status) == ("gNB-sim version 1.2.3\n", 0)
    assert (failed.stdout, failed.exit_status) == ("% command failed\n", 1)
    assert (quiet.stdout, quiet.exit_status) == ("", 0)
    assert crashed.exit_status == 1 and "simulated bug" in crashed.stdout


def test_many_exec_round_trips_are_reliable(server: SshCliServer, tmp_path: Path) -> None:
    results = _run(_target(server, tmp_path), *(f"cmd {i}" for i in range(100)))
    assert [r.stdout for r in results] == [f"echo: cmd {i}\n" for i in range(100)]


def test_concurrent_exec_on_one_connection(server: SshCliServer, tmp_path: Path) -> None:
    async def go() -> list[CommandResult]:
        async with SshTransport(_target(server, tmp_path), device="gnb1") as transport:
            return list(await asyncio.gather(*(transport.run(f"c{i}") for i in range(10))))

    assert [r.stdout for r in asyncio.run(go())] == [f"echo: c{i}\n" for i in range(10)]


def test_accept_new_records_host_key_line(server: SshCliServer, tmp_path: Path) -> None:
    known = tmp_path / "kh" / "known_hosts"
    (result,) = _run(_target(server, tmp_path, host_key="accept-new", known_hosts=str(known)),
                     "show version")
    assert result.exit_status == 0
    assert known.read_text() == f"[127.0.0.1]:{server.port} {server.host_key_line}\n"
    assert server.host_key_line.startswith("ssh-ed25519 AAAA")


def test_refuse_auth_and_wrong_password(server: SshCliServer, tmp_path: Path) -> None:
    server.refuse_auth = True
    with pytest.raises(AuthFailed):
        _run(_target(server, tmp_path), "show version")
    server.refuse_auth = False
    with pytest.raises(AuthFailed):
        _run(_target(server, tmp_path, password=Secret("wrong")), "show version")
    with pytest.raises(AuthFailed):
        _run(_target(server, tmp_path, user="nobody"), "show version")
    assert _run(_target(server, tmp_path), "show version")[0].exit_status == 0


def test_drop_sessions_then_transport_reconnects(server: SshCliServer, tmp_path: Path) -> None:
    async def go() -> tuple[CommandResult, CommandResult]:
        async with SshTransport(_target(server, tmp_path), device="gnb1") as transport:
            first = await transport.run("before")
            server.drop_sessions()
            second = await transport.run("after")
            return first, second

    first, second = asyncio.run(go())
    assert first.stdout == "echo: before\n"
    assert second.stdout == "echo: after\n"


def test_drop_sessions_races_reconnect_without_waiting(server: SshCliServer,
                                                       tmp_path: Path) -> None:
    async def go() -> list[str]:
        async with SshTransport(_target(server, tmp_path), device="gnb1") as transport:
            outputs = []
            for i in range(5):
                outputs.append((await transport.run(f"r{i}")).stdout)
                server.drop_sessions()
                await asyncio.sleep(0.05)  # let the client notice the drop, as a real outage would
            return outputs

    assert asyncio.run(go()) == [f"echo: r{i}\n" for i in range(5)]


def test_drop_during_command_is_unreachable(server: SshCliServer, tmp_path: Path) -> None:
    async def go() -> str:
        async with SshTransport(_target(server, tmp_path), device="gnb1") as transport:
            await transport.run("warm up")
            asyncio.get_running_loop().call_later(0.2, server.drop_sessions)
            with pytest.raises(DeviceUnreachable) as info:
                await transport.run("hang")
            assert "'hang'" in str(info.value)
            return (await transport.run("again")).stdout

    assert asyncio.run(go()) == "echo: again\n"


def _read_until(channel: paramiko.Channel, marker: bytes, timeout: float = 5.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    channel.settimeout(0.2)
    while marker not in data:
        if time.monotonic() > deadline:
            raise AssertionError(f"{marker!r} not seen; got {data!r}")
        try:
            chunk = channel.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            raise AssertionError(f"channel closed before {marker!r}; got {data!r}")
        data += chunk
    return data


def test_interactive_shell(server: SshCliServer, tmp_path: Path) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=server.port, username="admin", password=PASSWORD,
                   look_for_keys=False, allow_agent=False, timeout=5)
    try:
        channel = client.invoke_shell()
        greeting = _read_until(channel, b"gnb# ")
        assert greeting == b"Welcome to gNB-sim\r\ngnb# "
        channel.sendall(b"show version\n")
        reply = _read_until(channel, b"gnb# ")
        assert reply == b"show version\r\ngNB-sim version 1.2.3\r\ngnb# "
        channel.sendall(b"shw\x7fow x\r\n")  # backspace fixes the typo; CRLF counts once
        reply = _read_until(channel, b"gnb# ")
        assert reply.endswith(b"\r\necho: show x\r\ngnb# ")
        channel.sendall(b"\r")
        assert _read_until(channel, b"gnb# ") == b"\r\ngnb# "
        channel.sendall(b"exit\r")
        _read_until(channel, b"exit\r\n")
        assert channel.status_event.wait(5)
        assert channel.recv_exit_status() == 0
    finally:
        client.close()


def test_real_openssh_client_exec(server: SshCliServer, tmp_path: Path) -> None:
    ssh = require_tool("ssh")
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho '{PASSWORD}'\n")
    askpass.chmod(0o700)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{server.port} {server.host_key_line}\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SSH_ASKPASS": str(askpass),
           "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0", "HOME": str(tmp_path)}
    command = [ssh, "-F", "/dev/null", "-p", str(server.port), "-o", f"UserKnownHostsFile={known}",
               "-o", "StrictHostKeyChecking=yes", "-o", "PreferredAuthentications=password",
               "-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=5", "-T",
               "admin@127.0.0.1"]
    done = subprocess.run([*command, "show version"], env=env, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=20)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"gNB-sim version 1.2.3\n"
    failed = subprocess.run([*command, "fail"], env=env, capture_output=True,
                            stdin=subprocess.DEVNULL, timeout=20)
    assert failed.returncode == 1
    assert failed.stdout == b"% command failed\n"


def test_stop_frees_port_and_host_key_is_reused(tmp_path: Path) -> None:
    port = free_port()
    key_file = tmp_path / "keys" / "host_key"
    first = SshCliServer(host="127.0.0.1", port=port, users={"admin": PASSWORD},
                         host_key_file=key_file, handler=handler)
    first.start()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _run(_target(first, tmp_path), "x")[0].stdout == "echo: x\n"
    started = time.monotonic()
    first.stop()
    assert time.monotonic() - started < 3
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    second = SshCliServer(host="127.0.0.1", port=port, users={"admin": PASSWORD},
                          host_key_file=key_file, handler=handler)
    second.start()
    try:
        assert second.host_key_line == first.host_key_line
        assert _run(_target(second, tmp_path), "y")[0].stdout == "echo: y\n"
    finally:
        second.stop()


def test_port_zero_picks_a_free_port(tmp_path: Path) -> None:
    srv = SshCliServer(host="127.0.0.1", port=0, users={"admin": PASSWORD},
                       host_key_file=tmp_path / "k", handler=handler)
    srv.start()
    try:
        assert srv.port > 0
        assert _run(_target(srv, tmp_path), "show version")[0].exit_status == 0
    finally:
        srv.stop()


def test_exec_channel_is_not_closed_before_the_client_is_done(server: SshCliServer) -> None:
    """The server sends output, exit status and EOF, then waits for the client to close: closing
    at once could overtake the exec request's reply under load, and the client read "Channel
    closed." for a command that had run. Old code: the server closed ~3 ms after the status."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=server.port, username="admin", password=PASSWORD,
                   look_for_keys=False, allow_agent=False, timeout=5)
    try:
        channel = client.get_transport().open_session(timeout=5)  # type: ignore[union-attr]
        channel.exec_command("quiet")
        assert channel.recv_exit_status() == 0
        time.sleep(0.3)
        assert not channel.closed, "the server closed the exec channel before the client did"
        channel.close()
    finally:
        client.close()
