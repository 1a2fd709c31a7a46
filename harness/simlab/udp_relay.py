"""The air-interface relay for UDP: datagrams through a virtual cell, as iperf3 -u and irtt send.

The relay listens on the UE side. Every UE source address is a flow with its own upstream
socket to the data-network target, so the target sees one peer per UE socket and its replies
find their way back (iperf3 UDP and irtt both rely on that). Datagrams go through the same
cell direction (`Direction`: shared queue and shaper, radio model, counters) as TCP: when more
is offered than the cell carries, the queue fills and the excess is dropped. Flows idle for
`idle_timeout_s` are closed.

It is built for rate (a 100 MHz cell carries ~150k datagrams/s of 1,400 bytes): its sockets are
plain non-blocking sockets the event loop watches (`add_reader`). Each wake-up reads up to
`READ_BUDGET` datagrams with one recvmmsg (`harness.simlab.udp_recv`), admits them as a batch
(`harness.simlab.udp_batch.admit_batch`) and hands them to a `DelayLine`, which releases each
slot's datagrams together; those go out with UDP segmentation offload (`DatagramSender`). The
budget keeps one busy socket from starving the others (other flows, cells and gNodeBs in the
same process). Counters count what was sent.

Where the C core is built (`harness.simlab.udp_native`), the relay's datagrams never reach
Python: a native thread reads, models and sends them (`mode` "native"), and the event loop only
syncs parameters and counters every few milliseconds. Otherwise the Python path above runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sized
from typing import Any

from harness.simlab.delay import DelayLine, RelayClock
from harness.simlab.shaper import Direction
from harness.simlab.udp_batch import DatagramSender, PacedSender, admit_batch
from harness.simlab.udp_native import SYNC_S, NativeUdpCore, load_core
from harness.simlab.udp_recv import DatagramReader, drops_since, socket_drops, stamp_arrivals

Address = tuple[str, int]
IDLE_TIMEOUT_S = 60.0
MAX_FLOWS = 4096
READ_BUDGET = 128  # datagrams read per wake-up of one socket
SOCKET_BUFFER = 4 * 1024 * 1024
_log = logging.getLogger("harness.simlab.udp_relay")


def _udp_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    stamp_arrivals(sock)
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
    return sock


class _Flow:
    """One UE source address: its upstream socket and a delay line per direction."""

    def __init__(self, relay: UdpRelay, ue: Address, sock: socket.socket) -> None:
        self.relay = relay
        self.ue = ue
        self.sock = sock
        self.closed = False
        self.seen_drops = socket_drops(sock) or 0
        self.last_seen = relay.loop.time()
        self.up = DelayLine(relay.timer, self._send_up)
        self.down = DelayLine(relay.timer, self._send_down)
        self._to_dn = PacedSender(DatagramSender(sock), relay.uplink, relay.timer)
        self._to_ue = PacedSender(DatagramSender(relay.listener_socket, ue), relay.downlink,
                                  relay.timer)
        relay.loop.add_reader(sock.fileno(), self._from_dn)

    def _from_dn(self) -> None:
        batch, arrivals = self.relay.reader.read(self.sock)
        self.poll_drops()
        if not batch:
            return
        now = self.relay.loop.time()
        self.last_seen = now
        whens = admit_batch(self.relay.downlink, [len(d) for d in batch], now, arrivals)
        self.down.push_many(whens, batch)

    def from_ue(self, batch: list[bytes], arrivals: list[float], now: float) -> None:
        """Datagrams this UE sent, arrived at `arrivals`, read at `now`."""
        self.last_seen = now
        whens = admit_batch(self.relay.uplink, [len(d) for d in batch], now, arrivals)
        self.up.push_many(whens, batch)

    def _send_up(self, datagrams: list[bytes]) -> None:
        if not self.closed:
            self._to_dn.send(datagrams)

    def _send_down(self, datagrams: list[bytes]) -> None:
        if not self.closed and self.relay.listener is not None:
            self._to_ue.send(datagrams)

    @property
    def idle(self) -> bool:
        """Nothing waits to be delivered either way."""
        return not (self.up or self.down or self._to_dn or self._to_ue)

    def poll_drops(self) -> None:
        """What the kernel dropped at this flow's socket (from the DN) since last time: the
        relay's own loss (it did not read in time), not the cell's. Read where the socket is
        read: a drop means a full queue, and a full queue gets read."""
        lost, self.seen_drops = drops_since(self.sock, self.seen_drops)
        if lost:
            self.relay.downlink.fall_short(lost)

    def close(self) -> None:
        if self.closed:
            return
        self.poll_drops()
        self.closed = True
        self.up.clear()
        self.down.clear()
        self._to_dn.clear()
        self._to_ue.clear()
        with contextlib.suppress(ValueError, RuntimeError):  # the loop may be closing
            self.relay.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class UdpRelay(RelayClock):
    """Listens for UDP on the UE side and forwards each UE flow to one data-network endpoint."""

    def __init__(self, *, listen: Address, target: Address, uplink: Direction,
                 downlink: Direction, idle_timeout_s: float = IDLE_TIMEOUT_S,
                 native: bool | None = None) -> None:
        """`native`: run the C core (None: where it is built), False: the Python path."""
        self.listen = listen
        self.target = target
        self.uplink = uplink
        self.downlink = downlink
        self.idle_timeout_s = idle_timeout_s
        self._flows: dict[Address, _Flow] = {}
        self.listener: socket.socket | None = None
        self._target: tuple[int, tuple[str, int]] | None = None  # family, resolved address
        self._sweeper: asyncio.TimerHandle | None = None
        self._reader: DatagramReader | None = None
        self._core_module = load_core() if native is not False else None
        if native and self._core_module is None:
            raise RuntimeError("the UDP relay's C core is not built (pip install -e .)")
        self._core: NativeUdpCore | None = None
        self.last_counters: dict[str, Any] = {}  # the C core's raw totals when it stopped
        self._syncer: asyncio.TimerHandle | None = None
        self._listener_drops = 0  # the UE-side socket's kernel drop count last seen

    @property
    def mode(self) -> str:
        """"native" (the C core carries the datagrams) or "python"."""
        return "native" if self._core_module is not None else "python"

    @property
    def flows(self) -> Sized:
        """The UE flows open now."""
        core = self._core
        return range(core.flows) if core is not None else self._flows

    @property
    def core(self) -> NativeUdpCore | None:
        """The running C core, if any (its raw counters: `core.counters()`)."""
        return self._core

    @property
    def reader(self) -> DatagramReader:
        """Reads every socket of the relay, `READ_BUDGET` datagrams at a time at most."""
        if self._reader is None:
            self._reader = DatagramReader(READ_BUDGET)
        return self._reader

    @property
    def listener_socket(self) -> socket.socket:
        """The UE-side socket."""
        if self.listener is None:
            raise RuntimeError("the relay is not started")
        return self.listener

    async def start(self) -> None:
        """Bind the UE-side socket."""
        loop = asyncio.get_running_loop()
        listen = await loop.getaddrinfo(*self.listen, type=socket.SOCK_DGRAM)
        target = await loop.getaddrinfo(*self.target, type=socket.SOCK_DGRAM)
        family, *_, address = listen[0]
        sock = _udp_socket(family)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        self._target = (int(target[0][0]), (str(target[0][4][0]), int(target[0][4][1])))
        self.listener = sock
        if self._core_module is not None:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
            host, port = self._target[1]
            self._core = NativeUdpCore(self._core_module, sock, (self._target[0], host, port),
                                       self.uplink, self.downlink, self.idle_timeout_s)
            self._core.start()
            self._syncer = loop.call_later(SYNC_S, self._sync, loop)
            return
        self._start_clock(loop)
        self._listener_drops = socket_drops(sock) or 0
        loop.add_reader(sock.fileno(), self._from_ue)
        self._schedule_sweep()

    def _sync(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._core is None:
            return
        self._core.sync()
        self._syncer = loop.call_later(SYNC_S, self._sync, loop)

    def _poll_listener_drops(self) -> None:
        """The Python relay's own loss at its UE-side socket: what the kernel dropped because
        the relay did not read in time (the C core counts the same, and its full delay line);
        each flow counts its own socket's."""
        if self.listener is not None:
            lost, self._listener_drops = drops_since(self.listener, self._listener_drops)
            if lost:
                self.uplink.fall_short(lost)

    async def stop(self) -> None:
        """Close the UE-side socket and every flow."""
        if self._core is not None:
            if self._syncer is not None:
                self._syncer.cancel()
                self._syncer = None
            self._core.stop()  # joins the thread: bounded (it wakes on a stop event)
            self.last_counters = self._core.counters()
            self._core = None
            if self.listener is not None:
                self.listener.close()
                self.listener = None
            return
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._syncer is not None:
            self._syncer.cancel()
            self._syncer = None
        self._poll_listener_drops()
        for flow in list(self._flows.values()):
            flow.close()
        self._flows.clear()
        if self.listener is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                self.loop.remove_reader(self.listener.fileno())
            self.listener.close()
            self.listener = None
        await asyncio.sleep(0)
        self._stop_clock()

    def _from_ue(self) -> None:
        """Datagrams from UEs: each into its flow, opening the flow if it is new."""
        sock = self.listener
        if sock is None:
            return
        now = self.loop.time()
        batches = self.reader.read_from(sock)
        self._poll_listener_drops()
        for addr, (batch, arrivals) in batches.items():
            flow = self._flows.get(addr)
            if flow is None or flow.closed:
                flow = self._open(addr)
                if flow is None:
                    self.uplink.drop(len(batch))
                    continue
            flow.from_ue(batch, arrivals, now)

    def _open(self, ue: Address) -> _Flow | None:
        if len(self._flows) >= MAX_FLOWS or self._target is None:
            return None
        family, target = self._target
        sock = _udp_socket(family)
        try:
            sock.connect(target)
        except OSError as exc:
            _log.warning("relay cannot open a UDP flow to %s:%d: %s", *self.target, exc)
            sock.close()
            return None
        flow = _Flow(self, ue, sock)
        self._flows[ue] = flow
        return flow

    def _schedule_sweep(self) -> None:
        interval = max(0.5, min(10.0, self.idle_timeout_s / 4))
        self._sweeper = self.loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        horizon = self.loop.time() - self.idle_timeout_s
        for addr, flow in list(self._flows.items()):
            if flow.closed or (flow.last_seen < horizon and flow.idle):
                flow.close()
                del self._flows[addr]
        self._schedule_sweep()
