"""Ports a run hands to its servers: never twice, never where the kernel hands out its own.

CI once saw a DN host's iperf3 server fail with 'Address already in use' on the port the
simulated gNodeB's SSH server had been given: both were chosen by binding port 0 and letting
go, and the kernel handed the same port out twice.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from harness.base import ports
from harness.base.errors import HarnessError


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
