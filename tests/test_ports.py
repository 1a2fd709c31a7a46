"""Ports a run hands to its servers: never twice, never where the kernel hands out its own.

CI once saw a DN host's iperf3 server fail with 'Address already in use' on the port the
simulated gNodeB's SSH server had been given: both were chosen by binding port 0 and letting
go, and the kernel handed the same port out twice.

Later CI saw it again across processes: the campaign durability test runs two agents on one
machine, each with its own simulated lab, and both chose the same free port for an SSH server.
Ports are now claimed machine-wide until bound.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.base import ports
from harness.base.errors import HarnessError


@pytest.fixture(autouse=True)
def _drop_new_claims() -> Iterator[None]:
    """These tests choose hundreds of ports they never bind: give up their claims after."""
    claims = getattr(ports, "_claims", {})
    before = set(claims)
    yield
    with ports._lock:
        for port in set(claims) - before:
            claims.pop(port).sock.close()


_CHOOSER = """
import json, sys
from harness.base import ports
from harness.base.errors import HarnessError
pool, count = json.loads(sys.argv[1]), int(sys.argv[2])
ports.service_range = lambda: pool
try:
    print(json.dumps([ports.free_port() for _ in range(count)]), flush=True)
except HarnessError as exc:
    print(json.dumps(str(exc)), flush=True)
sys.stdin.readline()
"""


class _Chooser:
    """Another process on this machine that chooses `count` ports from `pool` and keeps
    running (holding what it chose, unbound) until closed."""

    def __init__(self, pool: list[int], count: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHOOSER, json.dumps(pool), str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.answer = json.loads(self.proc.stdout.readline() or "null")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def _free_window(size: int) -> list[int]:
    pool = ports.service_range()
    start = random.Random().randrange(pool.start, pool.stop - size)
    return list(range(start, start + size))


def test_two_processes_never_get_the_same_port() -> None:
    """Two processes choosing from one 100-port window while neither has bound what it chose:
    the old code (a per-process record only) gave them ~16 ports in common."""
    window = _free_window(100)
    first = _Chooser(window, 40)
    second = _Chooser(window, 40)
    try:
        assert isinstance(first.answer, list) and isinstance(second.answer, list)
        assert len(set(first.answer)) == 40 and len(set(second.answer)) == 40
        assert not set(first.answer) & set(second.answer)
    finally:
        first.close()
        second.close()


def test_a_claim_ends_with_its_process() -> None:
    """Ports a process chose are free for others once it exits, however it exits; while it
    runs they are not, and the error names the host."""
    holder = _Chooser(_free_window(100), 10)
    assert isinstance(holder.answer, list)
    blocked = _Chooser(holder.answer, 1)
    blocked.close()
    assert blocked.answer == "found no free port on 127.0.0.1 in 200 tries"
    holder.proc.kill()
    holder.proc.wait(timeout=10)
    after = _Chooser(holder.answer, 5)
    after.close()
    assert isinstance(after.answer, list) and set(after.answer) <= set(holder.answer)


def test_a_claim_is_given_up_once_its_server_has_bound_the_port() -> None:
    """A process holds claims only for ports it has not used yet: after its server binds the
    port, the bind protects it, and the claim (an open socket) is closed."""
    chosen = ports.free_port()
    server = socket.socket()
    try:
        server.bind(("127.0.0.1", chosen))
        server.listen()
        assert chosen in ports._claims
        # each choice looks at the oldest few claims: this process (a whole test session) may
        # hold others, unbound, from before
        for _ in range(len(ports._claims) // ports._SWEEP + 1):
            ports.free_port()
        assert chosen not in ports._claims
    finally:
        server.close()
    # the server gone, the port is free to others again (this process still never reuses it)
    other = _Chooser([chosen], 1)
    other.close()
    assert other.answer == [chosen]


def test_claims_held_are_bounded_oldest_given_up_first() -> None:
    """1,000 ports chosen and never bound hold at most `_MAX_CLAIMS` sockets; the newest keep
    their claims (a recent choice is the one likeliest still waiting for its server)."""
    drawn = [ports.free_port() for _ in range(1000)]
    assert len(ports._claims) <= ports._MAX_CLAIMS
    assert set(drawn[-100:]) <= set(ports._claims)
    assert not set(drawn[:100]) & set(ports._claims)


def test_one_process_never_gets_the_same_port_twice() -> None:
    """On the old code (bind to port 0, let go) 1,000 draws gave ~30 repeats."""
    drawn = [ports.free_port() for _ in range(500)]
    drawn += [ports.free_port(kind=socket.SOCK_DGRAM) for _ in range(250)]
    drawn += [ports.free_dual_port() for _ in range(250)]
    assert len(set(drawn)) == len(drawn)


def test_ports_lie_below_the_kernels_ephemeral_range() -> None:
    """A port waiting for its server cannot be taken as some connection's source port."""
    pool = ports.service_range()
    assert pool, "this machine's ephemeral range leaves no room below it"
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii").split()[0])
    assert pool.stop == low and pool.start == 10000
    for _ in range(200):
        assert ports.free_port() in pool
    with socket.socket() as s:  # and what the kernel hands out is outside it
        s.bind(("127.0.0.1", 0))
        assert s.getsockname()[1] not in pool


def test_a_port_in_use_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port a server already listens on (TCP), or that is bound for UDP when both are
    needed, is never handed out."""
    busy_tcp = socket.socket()
    busy_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        busy_tcp.bind(("127.0.0.1", ports.free_port()))
        busy_tcp.listen()
        busy_udp.bind(("127.0.0.1", ports.free_port(kind=socket.SOCK_DGRAM)))
        tcp_port, udp_port = busy_tcp.getsockname()[1], busy_udp.getsockname()[1]
        ports._handed_out.difference_update({tcp_port, udp_port})  # as if another process's
        candidates = iter([tcp_port, udp_port])
        pick = random.Random(7).choice
        monkeypatch.setattr(ports._random, "choice",
                            lambda pool: next(candidates, None) or pick(pool))
        chosen = ports.free_dual_port()
        assert chosen not in (tcp_port, udp_port)
    finally:
        busy_tcp.close()
        busy_udp.close()


def test_no_room_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every candidate taken: a harness error naming the host, not an endless loop."""
    taken = ports.free_port()
    monkeypatch.setattr(ports._random, "choice", lambda _pool: taken)
    with pytest.raises(HarnessError, match=r"no free port on 127\.0\.0\.1"):
        ports.free_port()


def test_ports_a_lab_fixes_are_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lab file's fixed port (a DN's traffic_port, a device's SNMP port) whose server starts
    later is never given to another server of the run."""
    fixed = ports.free_port()
    ports._handed_out.discard(fixed)
    ports.reserve(fixed, None)
    candidates = iter([fixed])
    pick = random.Random(11).choice
    monkeypatch.setattr(ports._random, "choice", lambda pool: next(candidates, None) or pick(pool))
    assert ports.free_port() != fixed
