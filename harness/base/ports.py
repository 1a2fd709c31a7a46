"""Free loopback ports for the servers one run starts (simulated devices, relays, iperf3/irtt
servers).

A port is chosen before its server binds it, sometimes a whole trial before (a DN host's
iperf3 server starts when its trial does). Three things could take it in between: the kernel
handing it out as an ephemeral port (every `bind(0)` and every outgoing connection's source
port), this process choosing it again for another server, and another process on the machine
choosing it too (a second `harness run`, a campaign agent, a test worker). So ports come from
below the kernel's ephemeral range, never twice from one process, and each is *claimed* for the
machine until its server has bound it.

A claim is an abstract Unix socket named after the port (`@ran-harness/port/N`): the kernel
holds the name while the socket is open and frees it when the process ends, however it ends, so
no file is left behind and no claim outlives its process. Abstract names belong to the network
namespace, as loopback ports do. A claim is given up once every kind of socket it was made for
is bound (from then on the bind protects the port), so a process holds claims only for ports
it has chosen and not yet used.
"""

from __future__ import annotations

import errno
import logging
import random
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from harness.base.errors import HarnessError

log = logging.getLogger(__name__)

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_SERVICE_FLOOR = 10000  # below: well-known and registered services a lab may run
_TRIES = 200
_CLAIM_PREFIX = b"\0ran-harness/port/"
_MAX_CLAIMS = 256  # open sockets held at most; beyond, the oldest claim is given up
_SWEEP = 16  # claims looked at per choice


@dataclass
class _Claim:
    sock: socket.socket
    host: str
    kinds: tuple[int, ...]


_lock = threading.Lock()
_handed_out: set[int] = set()
_claims: dict[int, _Claim] = {}
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


def _bound(host: str, port: int, kind: int) -> bool:
    return not _bindable(host, port, (kind,))


def _release_used() -> None:
    """Give up the claims on ports whose servers have bound them for every kind claimed.

    Looks at the `_SWEEP` oldest claims only, and sends the still-unbound ones to the back,
    so a process holding many unused ports does not pay for all of them on every choice."""
    for port in list(_claims)[:_SWEEP]:
        claim = _claims.pop(port)
        if all(_bound(claim.host, port, kind) for kind in claim.kinds):
            claim.sock.close()
        else:
            _claims[port] = claim


def _claim(host: str, port: int, kinds: tuple[int, ...]) -> bool:
    """Claim `port` for this process; False when another process holds the claim. When no
    claim can be made at all (no socket to spare), the port is taken unclaimed: the in-process
    record still keeps it from being handed out twice here. A process that has chosen
    `_MAX_CLAIMS` ports not seen bound (a server that bound and closed between two looks
    leaves its claim behind) gives up the oldest claim first."""
    if len(_claims) >= _MAX_CLAIMS:  # the oldest is the likeliest done with its wait
        oldest = next(iter(_claims))
        _claims.pop(oldest).sock.close()
        log.debug("%d ports chosen and not seen bound: gave up the claim on port %d, the "
                  "oldest", _MAX_CLAIMS, oldest)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(_CLAIM_PREFIX + str(port).encode("ascii"))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            return False
        log.warning("port %d is not claimed machine-wide: %s", port, exc.strerror)
        return True
    _claims[port] = _Claim(sock, host, kinds)
    return True


def _choose(host: str, kinds: tuple[int, ...]) -> int:
    pool = service_range()
    with _lock:
        _release_used()
        for _ in range(_TRIES):
            port = _random.choice(pool) if pool else _kernel_port(host, kinds)
            if (port and port not in _handed_out and _bindable(host, port, kinds)
                    and _claim(host, port, kinds)):
                _handed_out.add(port)
                return port
    raise HarnessError(f"found no free port on {host} in {_TRIES} tries")


def reserve(*taken: int | None) -> None:
    """Ports a lab file fixes for its own servers: never handed out to another one."""
    with _lock:
        _handed_out.update(port for port in taken if port)


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port free on `host` for `kind` (TCP by default) that this process has not handed out
    before and no other process has claimed and not yet bound, from below the kernel's ephemeral
    range."""
    return _choose(host, (kind,))


def free_dual_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` for TCP and for UDP alike (a relay listens on both), chosen as
    `free_port` chooses."""
    return _choose(host, (socket.SOCK_STREAM, socket.SOCK_DGRAM))
