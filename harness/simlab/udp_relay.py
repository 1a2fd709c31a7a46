"""The air-interface relay for UDP: datagrams through a virtual cell, as iperf3 -u and irtt send.

The relay listens on the UE side. Every UE source address is a flow with its own upstream
socket to the data-network target, so the target sees one peer per UE socket and its replies
find their way back (iperf3 UDP and irtt both rely on that). Datagrams go through the same
cell direction (`Direction`: shared queue and shaper, radio model, counters) as TCP: when more
is offered than the cell carries, the queue fills and the excess is dropped. Flows idle for
`idle_timeout_s` are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import cast

from harness.simlab.delay import DelayLine, PreciseTimer
from harness.simlab.shaper import Direction

Address = tuple[str, int]
IDLE_TIMEOUT_S = 60.0
MAX_FLOWS = 4096
_SOCKET_BUFFER = 4 * 1024 * 1024
_EARLY_QUEUE = 256  # datagrams held while a new flow's upstream socket opens
_log = logging.getLogger("harness.simlab.udp_relay")


def _grow_buffers(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, _SOCKET_BUFFER)


class _Flow(asyncio.DatagramProtocol):
    """One UE source address: its upstream socket and a delay line per direction."""

    def __init__(self, relay: UdpRelay, ue: Address) -> None:
        self.relay = relay
        self.ue = ue
        self.upstream: asyncio.DatagramTransport | None = None
        self.closed = False
        self.last_seen = relay.loop.time()
        self._early: list[bytes] = []
        self.up = DelayLine(relay.timer, self._send_up)
        self.down = DelayLine(relay.timer, self._send_down)

    # Upstream socket (DN side) callbacks.
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.upstream = cast(asyncio.DatagramTransport, transport)
        _grow_buffers(transport)
        early, self._early = self._early, []
        for data in early:
            self._send_up(data)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        loop = self.relay.loop
        now = loop.time()
        self.last_seen = now
        deliver = self.relay.downlink.admit_datagram(len(data), now)
        if deliver is not None:
            self.down.push(deliver, data)

    def error_received(self, exc: Exception) -> None:
        # e.g. ICMP port unreachable from a target that is not listening: the datagram is lost
        _log.debug("relay flow %s:%d upstream error: %s", *self.ue, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def from_ue(self, data: bytes, now: float) -> None:
        self.last_seen = now
        deliver = self.relay.uplink.admit_datagram(len(data), now)
        if deliver is not None:
            self.up.push(deliver, data)

    def _send_up(self, data: bytes) -> None:
        if self.closed:
            return
        if self.upstream is None:
            if len(self._early) < _EARLY_QUEUE:
                self._early.append(data)
            return
        self.upstream.sendto(data)
        self.relay.uplink.count(len(data), 1)

    def _send_down(self, data: bytes) -> None:
        listener = self.relay.listener
        if listener is None or listener.is_closing():
            return
        listener.sendto(data, self.ue)
        self.relay.downlink.count(len(data), 1)

    def close(self) -> None:
        self.closed = True
        self.up.clear()
        self.down.clear()
        if self.upstream is not None:
            self.upstream.abort()


class _Listener(asyncio.DatagramProtocol):
    """The UE-side socket: hands each datagram to its source's flow."""

    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.relay.from_ue(data, addr)

    def error_received(self, exc: Exception) -> None:
        _log.debug("relay listener error: %s", exc)


class UdpRelay:
    """Listens for UDP on the UE side and forwards each UE flow to one data-network endpoint."""

    def __init__(self, *, listen: Address, target: Address, uplink: Direction,
                 downlink: Direction, idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self.listen = listen
        self.target = target
        self.uplink = uplink
        self.downlink = downlink
        self.idle_timeout_s = idle_timeout_s
        self.flows: dict[Address, _Flow] = {}
        self.listener: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: PreciseTimer | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._opening: set[asyncio.Task[None]] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the relay is not started")
        return self._loop

    @property
    def timer(self) -> PreciseTimer:
        if self._timer is None:
            raise RuntimeError("the relay is not started")
        return self._timer

    async def start(self) -> None:
        """Bind the UE-side socket."""
        self._loop = asyncio.get_running_loop()
        self._timer = PreciseTimer(self._loop)
        try:
            transport, _ = await self._loop.create_datagram_endpoint(
                lambda: _Listener(self), local_addr=self.listen)
        except BaseException:
            self._timer.close()
            raise
        self.listener = transport
        _grow_buffers(transport)
        self._schedule_sweep()

    async def stop(self) -> None:
        """Close the UE-side socket and every flow."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for task in list(self._opening):
            task.cancel()
        await asyncio.gather(*self._opening, return_exceptions=True)
        for flow in list(self.flows.values()):
            flow.close()
        self.flows.clear()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        await asyncio.sleep(0)
        if self._timer is not None:
            self._timer.close()
            self._timer = None

    def from_ue(self, data: bytes, addr: Address) -> None:
        """A datagram from a UE: into its flow, opening the flow if it is new."""
        now = self.loop.time()
        flow = self.flows.get(addr)
        if flow is None or flow.closed:
            if len(self.flows) >= MAX_FLOWS:
                self.uplink.drop()
                return
            flow = _Flow(self, addr)
            self.flows[addr] = flow
            task = self.loop.create_task(self._open(flow))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)
        flow.from_ue(data, now)

    async def _open(self, flow: _Flow) -> None:
        try:
            await self.loop.create_datagram_endpoint(lambda: flow, remote_addr=self.target)
        except OSError as exc:
            _log.warning("relay cannot open a UDP flow to %s:%d: %s", *self.target, exc)
            flow.close()

    def _schedule_sweep(self) -> None:
        interval = max(0.5, min(10.0, self.idle_timeout_s / 4))
        self._sweeper = self.loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        horizon = self.loop.time() - self.idle_timeout_s
        for addr, flow in list(self.flows.items()):
            if flow.closed or (flow.last_seen < horizon and not flow.up and not flow.down):
                flow.close()
                del self.flows[addr]
        self._schedule_sweep()
