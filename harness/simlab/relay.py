"""The air-interface relay for TCP: carries UE↔DN connections through a virtual cell.

Bytes from the UE side to the data-network side are uplink, the reverse downlink. Every byte
forwarded is counted, so the PM counters report what the cell really carried.

A chunk read from a socket goes through the cell direction (`harness.simlab.shaper.Direction`:
shared queue at the cell's capacity, radio model) and a `DelayLine` writes it out at the instant
the model gives, in order. A reader stops while the queue holds what a stream may fill, while
its far side cannot take more, or while the cell is down. The UDP twin is
`harness.simlab.udp_relay`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import cast

from harness.simlab.delay import DelayLine, RelayClock
from harness.simlab.shaper import DOWN_POLL_S, Direction, RateLimiter

__all__ = ["Direction", "RateLimiter", "TcpRelay"]

_MAX_PENDING = 32 * 1024 * 1024  # bytes a connection direction may hold beyond the queue
_WRITE_HIGH = 4 * 1024 * 1024
_log = logging.getLogger("harness.simlab.relay")


class _Pump:
    """One direction of one relayed TCP connection: read, queue in the cell, deliver on time."""

    def __init__(self, conn: _Connection, direction: Direction, src: _Side, dst: _Side) -> None:
        self.conn = conn
        self.direction = direction
        self.src = src
        self.dst = dst
        src.reader, dst.writer = self, self
        self.line = DelayLine(conn.relay.timer, self._write, self._drained)
        self._view = memoryview(bytearray(direction.read_size()))
        self._stalled: bytes | None = None  # a chunk that met a cell carrying nothing
        self._blocked: set[str] = set()
        self._retry_scheduled = False
        self.eof = False  # the source has no more data
        self.done = False  # the end was passed on (or the far side is gone)
        self.close_after = False  # end by closing the far side, not by a half-close

    def get_buffer(self) -> memoryview:
        size = self.direction.read_size()
        if len(self._view) != size:
            self._view = memoryview(bytearray(size))
        return self._view

    def feed(self, nbytes: int) -> None:
        self._admit(bytes(self._view[:nbytes]))

    def _admit(self, data: bytes) -> None:
        now = self.conn.loop.time()
        deliver = self.direction.admit_chunk(len(data), now)
        if deliver is None:  # the cell is down: keep the chunk, stop reading, look again later
            self._stalled = data
            self.block("down")
            self._retry(now + DOWN_POLL_S)
            return
        self.line.push(deliver, data)
        limiter = self.direction.limiter
        if limiter.full(now):
            self.block("queue")
            self._retry(limiter.drained_at())
        if self.line.pending_bytes > _MAX_PENDING:
            self.block("pending")

    def _retry(self, when: float) -> None:
        if not self._retry_scheduled:
            self._retry_scheduled = True
            self.conn.relay.timer.call_at(when, self._recheck)

    def _recheck(self) -> None:
        self._retry_scheduled = False
        if self.done:
            return
        if self._stalled is not None:
            data, self._stalled = self._stalled, None
            self.unblock("down")
            self._admit(data)
            if self._stalled is not None:
                return
        if "queue" in self._blocked:
            limiter, now = self.direction.limiter, self.conn.loop.time()
            if limiter.full(now):
                when = limiter.drained_at() if limiter.rate_bps > 0 else now + DOWN_POLL_S
                self._retry(max(when, now + 50e-6))
            else:
                self.unblock("queue")
        if self.eof and self._stalled is None and not self.line:
            self._pass_end()

    def block(self, reason: str) -> None:
        """Stop reading the source for `reason` (until every reason is lifted)."""
        if not self._blocked and self.src.transport is not None:
            self.src.transport.pause_reading()
        self._blocked.add(reason)

    def unblock(self, reason: str) -> None:
        """Lift one reason to stop reading."""
        if reason not in self._blocked:
            return
        self._blocked.discard(reason)
        if not self._blocked and self.src.transport is not None and not self.src.closed:
            self.src.transport.resume_reading()

    def _write(self, chunks: list[bytes]) -> None:
        transport = self.dst.transport
        if transport is None or self.dst.closed or transport.is_closing():
            return
        for data in chunks:
            transport.write(data)
            self.direction.count(len(data))
        if "pending" in self._blocked and self.line.pending_bytes < _MAX_PENDING // 2:
            self.unblock("pending")

    def _drained(self) -> None:
        self.unblock("pending")
        if self.eof and self._stalled is None:
            self._pass_end()

    def finish(self, *, close: bool = False) -> None:
        """The source ended: pass the end on once everything queued has been delivered."""
        self.eof = True
        self.close_after = self.close_after or close
        if self._stalled is None and not self.line:
            self._pass_end()

    def abort(self) -> None:
        """The far side is gone: drop what waits for it."""
        self.line.clear()
        self._stalled = None
        self.done = True
        self.conn.check_done()

    def _pass_end(self) -> None:
        if self.done:
            return
        self.done = True
        transport = self.dst.transport
        if transport is not None and not self.dst.closed:
            if not self.close_after and transport.can_write_eof():
                with contextlib.suppress(OSError, RuntimeError):
                    transport.write_eof()
            else:
                transport.close()
        self.conn.check_done()


class _Side(asyncio.BufferedProtocol):
    """One socket of a relayed connection (the UE's or the data network's)."""

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reader: _Pump  # the pump this side feeds
        self.writer: _Pump  # the pump that writes into this side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream socket's transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.set_write_buffer_limits(high=_WRITE_HIGH)
        self.conn.made(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.reader.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.reader.feed(nbytes)

    def eof_received(self) -> bool:
        self.reader.finish()
        return True  # keep the socket open: the other direction may still carry data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.conn.lost(self)

    def pause_writing(self) -> None:
        self.writer.block("writer")

    def resume_writing(self) -> None:
        self.writer.unblock("writer")


class _Connection:
    """A UE connection and its data-network twin, joined by an uplink and a downlink pump."""

    def __init__(self, relay: TcpRelay) -> None:
        self.relay = relay
        self.loop = relay.loop
        self.ue = _Side(self)
        self.dn = _Side(self)
        self.up = _Pump(self, relay.uplink, self.ue, self.dn)
        self.down = _Pump(self, relay.downlink, self.dn, self.ue)
        self._connect: asyncio.Task[None] | None = None

    def made(self, side: _Side) -> None:
        if side is self.ue:
            self.relay.connections.add(self)
            self.up.block("connect")
            self._connect = self.loop.create_task(self._open_dn())
        else:
            self.up.unblock("connect")

    async def _open_dn(self) -> None:
        host, port = self.relay.target
        try:
            await self.loop.create_connection(lambda: self.dn, host, port)
        except OSError as exc:
            _log.warning("relay cannot reach %s:%d: %s", host, port, exc)
            self.close()

    def lost(self, side: _Side) -> None:
        other = self.dn if side is self.ue else self.ue
        if side is self.ue and self._connect is not None and not self._connect.done():
            self._connect.cancel()
        side.writer.abort()
        side.reader.finish(close=True)
        if other.transport is None:
            self.close()
        self.check_done()

    def check_done(self) -> None:
        if self.up.done and self.down.done:
            self.close()

    def close(self) -> None:
        """Close both sockets (whatever is still queued is dropped)."""
        for side in (self.ue, self.dn):
            if side.transport is not None and not side.closed:
                side.transport.close()
        self.relay.connections.discard(self)

    def abort(self) -> None:
        """Reset both sockets at once (the relay is stopping)."""
        if self._connect is not None:
            self._connect.cancel()
        self.up.line.clear()
        self.down.line.clear()
        for side in (self.ue, self.dn):
            if side.transport is not None:
                side.transport.abort()
        self.relay.connections.discard(self)


class TcpRelay(RelayClock):
    """Listens on the UE side and forwards every connection to one data-network endpoint."""

    def __init__(self, *, listen: tuple[str, int], target: tuple[str, int],
                 uplink: Direction, downlink: Direction) -> None:
        self.listen = listen
        self.target = target
        self.uplink = uplink
        self.downlink = downlink
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind the UE-side listener."""
        self._start_clock(asyncio.get_running_loop())
        try:
            self._server = await self.loop.create_server(
                lambda: _Connection(self).ue, self.listen[0], self.listen[1])
        except BaseException:
            self._stop_clock()
            raise

    async def stop(self) -> None:
        """Close the listener and every relayed connection."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let the aborted transports report connection_lost
        self._stop_clock()
