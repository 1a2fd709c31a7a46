"""lab.yaml's SNMP PDU options seen on the wire against net-snmp's snmpd: `max_repetitions`
is the max-repetitions of every GETBULK of a walk (and so sets how many a walk takes),
`max_varbinds` bounds the varbinds of every request (GET and walk), `max_in_flight` bounds
the requests outstanding at once. The transport is the one a driver gets from the lab
(`driver_context(...).snmp()`); each test fails if the option is ignored (the transport's
defaults are 25 repetitions, 32 varbinds, 4 in flight).

Observed through `WireTap`, a UDP relay in front of snmpd: a fake only for observation — it
forwards every datagram unchanged (each reply held `hold_s`, so that concurrent requests
overlap visibly) and decodes what passes."""

from __future__ import annotations

import asyncio
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drivers.transport import snmp_ber as ber
from drivers.transport.snmp import SnmpTransport
from harness.base.loader import load_model
from harness.config.lab import Lab
from harness.engine.bench import device_settings
from harness.engine.device_context import driver_context
from tests.daemons import running_snmpd, snmpd_binary
from tests.input_files import write_input

pytestmark = pytest.mark.interop

SYSTEM = "1.3.6.1.2.1.1"  # sysDescr … sysORTable: a few dozen objects on any snmpd
SYS_OR_COLUMNS = [f"1.3.6.1.2.1.1.9.1.{c}" for c in (2, 3, 4)]  # sysORTable's columns
SYSTEM_SCALARS = [f"1.3.6.1.2.1.1.{n}.0" for n in range(1, 8)]


@dataclass
class WireTap:
    """A UDP relay from the transport to snmpd that records the requests it passes on and
    the most requests outstanding (sent, reply not yet passed back) at any moment."""

    upstream: int
    hold_s: float = 0.0
    requests: list[ber.Message] = field(default_factory=list)
    max_outstanding: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._down = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._down.bind(("127.0.0.1", 0))
        self.port = self._down.getsockname()[1]
        self._up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._up.bind(("127.0.0.1", 0))
        self._clients: dict[int, tuple[str, int]] = {}  # request-id → where it came from
        self._held: list[tuple[float, int, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def clear(self) -> None:
        """Forget what was seen so far."""
        self.requests.clear()
        self.max_outstanding = 0

    def _run(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._down, selectors.EVENT_READ, "down")
            sel.register(self._up, selectors.EVENT_READ, "up")
            while not self._stop.is_set():
                due = min((t for t, _, _ in self._held), default=time.monotonic() + 0.05)
                for key, _ in sel.select(max(0.0, due - time.monotonic())):
                    if key.data == "down":
                        data, client = self._down.recvfrom(65535)
                        message = ber.decode_message(data)
                        self.requests.append(message)
                        self._clients[message.request_id] = client
                        self.max_outstanding = max(self.max_outstanding, len(self._clients))
                        self._up.sendto(data, ("127.0.0.1", self.upstream))
                    else:
                        data = self._up.recv(65535)
                        reply = ber.decode_message(data)
                        self._held.append((time.monotonic() + self.hold_s, reply.request_id,
                                           data))
                now = time.monotonic()
                for item in [h for h in self._held if h[0] <= now]:
                    self._held.remove(item)
                    client = self._clients.pop(item[1], None)
                    if client is not None:
                        self._down.sendto(item[2], client)

    def __enter__(self) -> WireTap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._down.close()
        self._up.close()


@contextmanager
def tapped_snmpd(tmp_path: Path, hold_s: float = 0.0) -> Iterator[WireTap]:
    binary = snmpd_binary()
    if binary is None:
        pytest.skip("net-snmp snmpd is not installed (apt-get install snmpd)")
    with running_snmpd(binary, tmp_path, "rocommunity wire 127.0.0.1\n") as port, \
            WireTap(port, hold_s) as tap:
        yield tap


def lab_transport(tmp_path: Path, port: int, options: str) -> SnmpTransport:
    """The SNMP transport a driver gets for a lab device with these `snmp:` options."""
    path = write_input(tmp_path, "lab.yaml", (
        "name: wire-lab\nallow_inline_secrets: true\ndevices:\n"
        "  gnb1: {role: gnodeb, profile: generic-snmp, host: 127.0.0.1,\n"
        f"         snmp: {{version: 2c, community: wire, port: {port}, timeout: 3s, "
        f"retries: 0{options}}}}}\n"))
    lab = load_model(path, Lab)
    snmp_cfg, ssh_cfg = device_settings(lab)
    ctx = driver_context(lab, "gnb1", lab.devices["gnb1"], snmp_cfg["gnb1"], ssh_cfg["gnb1"],
                         "wire")
    return ctx.snmp()


def _bulks(tap: WireTap) -> list[ber.Message]:
    return [m for m in tap.requests if m.pdu == ber.BULK]


@pytest.mark.parametrize("reps", [5, 50])
def test_max_repetitions_is_what_every_getbulk_of_a_walk_asks(tmp_path: Path,
                                                               reps: int) -> None:
    """A walk of N objects takes N // reps + 1 GETBULKs (the last one leaves the subtree),
    each asking `reps` repetitions of one varbind."""
    with tapped_snmpd(tmp_path) as tap:
        transport = lab_transport(tmp_path, tap.port, f", max_repetitions: {reps}")

        async def go() -> int:
            try:
                return len(await transport.walk(SYSTEM))
            finally:
                await transport.close()
        objects = asyncio.run(go())
    bulks = _bulks(tap)
    assert objects > 20  # enough for 5 and 50 to differ
    assert [m.error_index for m in bulks] == [reps] * len(bulks)  # max-repetitions field
    assert all(len(m.varbinds) == 1 for m in bulks)
    assert len(bulks) == objects // reps + 1, (objects, reps)


def test_max_varbinds_bounds_every_request(tmp_path: Path) -> None:
    """max_varbinds 2: a GET of seven objects goes as 2+2+2+1, and a walk of three columns
    together asks two columns per GETBULK (sharing max_repetitions 10 as 5 each)."""
    with tapped_snmpd(tmp_path) as tap:
        transport = lab_transport(tmp_path, tap.port, ", max_varbinds: 2, max_repetitions: 10")

        async def go() -> tuple[list[ber.Message], dict[str, dict[str, object]]]:
            try:
                values = await transport.get(SYSTEM_SCALARS)
                assert values[SYSTEM_SCALARS[0]], values  # sysDescr
                gets = list(tap.requests)
                tap.clear()
                return gets, await transport.walk_columns(SYS_OR_COLUMNS)
            finally:
                await transport.close()
        gets, table = asyncio.run(go())
    assert sorted(len(m.varbinds) for m in gets if m.pdu == ber.GET) == [1, 2, 2, 2]
    assert all(table[c] for c in SYS_OR_COLUMNS), table
    bulks = _bulks(tap)
    assert bulks and max(len(m.varbinds) for m in bulks) == 2
    assert {m.error_index for m in bulks if len(m.varbinds) == 2} == {5}


@pytest.mark.parametrize("in_flight", [1, 3])
def test_max_in_flight_bounds_the_requests_outstanding(tmp_path: Path, in_flight: int) -> None:
    """Twelve objects one per GET (max_varbinds 1), each reply held 0.2 s: at most
    `in_flight` requests are ever outstanding, and with 3 the transport does use 3."""
    with tapped_snmpd(tmp_path, hold_s=0.2) as tap:
        transport = lab_transport(tmp_path, tap.port,
                                  f", max_varbinds: 1, max_in_flight: {in_flight}")
        oids = SYSTEM_SCALARS + [f"{c}.1" for c in SYS_OR_COLUMNS] + ["1.3.6.1.2.1.1.8.0",
                                                                       "1.3.6.1.2.1.1.9.1.2.2"]

        async def go() -> None:
            try:
                await transport.get(oids)
            finally:
                await transport.close()
        started = time.monotonic()
        asyncio.run(go())
        took = time.monotonic() - started
    gets = [m for m in tap.requests if m.pdu == ber.GET]
    assert len(gets) == 12
    assert tap.max_outstanding == in_flight
    assert took >= 0.2 * (12 // in_flight) * 0.9  # the held replies, in_flight at a time
