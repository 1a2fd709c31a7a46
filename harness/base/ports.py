"""Free loopback ports for the servers one run starts (simulated devices, relays, iperf3/irtt
servers).

A port is chosen before its server binds it, sometimes a whole trial before (a DN host's
iperf3 server starts when its trial does). Two things could take it in between: the kernel
handing it out as an ephemeral port (every `bind(0)` and every outgoing connection's source
port), and this process choosing it again for another server. So ports come from below the
kernel's ephemeral range, and never twice from one process.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

from harness.base.errors import HarnessError

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_SERVICE_FLOOR = 10000  # below: well-known and registered services a lab may run
_TRIES = 200

_lock = threading.Lock()
_handed_out: set[int] = set()
_random = random.Random()


def service_range() -> range:
    """Ports to choose from: between 10000 and the start of the kernel's ephemeral range
    (32768 by default), or empty when the ephemeral range leaves no room."""
    try:
        low = int(_EPHEMERAL_RANGE.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(_SERVICE_FLOOR, low) if low - _SERVICE_FLOOR >= 1000 else range(0)


def _bindable(host: str, port: int, kinds: tuple[int, ...]) -> bool:
    sockets: list[socket.socket] = []
    try:
        for kind in kinds:
            s = socket.socket(socket.AF_INET, kind)
            sockets.append(s)
            s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        for s in sockets:
            s.close()


def _kernel_port(host: str, kinds: tuple[int, ...]) -> int:
    with socket.socket(socket.AF_INET, kinds[0]) as s:
        s.bind((host, 0))
        port = int(s.getsockname()[1])
    return port if _bindable(host, port, kinds) else 0


def _choose(host: str, kinds: tuple[int, ...]) -> int:
    pool = service_range()
    with _lock:
        for _ in range(_TRIES):
            port = _random.choice(pool) if pool else _kernel_port(host, kinds)
            if port and port not in _handed_out and _bindable(host, port, kinds):
                _handed_out.add(port)
                return port
    raise HarnessError(f"found no free port on {host} in {_TRIES} tries")


def reserve(*taken: int | None) -> None:
    """Ports a lab file fixes for its own servers: never handed out to another one."""
    with _lock:
        _handed_out.update(port for port in taken if port)


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port free on `host` for `kind` (TCP by default) that this process has not handed out
    before, from below the kernel's ephemeral range."""
    return _choose(host, (kind,))


def free_dual_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` for TCP and for UDP alike (a relay listens on both), chosen as
    `free_port` chooses."""
    return _choose(host, (socket.SOCK_STREAM, socket.SOCK_DGRAM))
