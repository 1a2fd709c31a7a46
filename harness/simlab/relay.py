"""The air-interface relay: carries UE↔DN TCP through a virtual cell at the cell's capacity.

Bytes from the UE side to the data-network side are uplink, the reverse downlink. Every byte
forwarded is counted, so the PM counters report what the cell really carried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

_CHUNK = 64 * 1024
_log = logging.getLogger("harness.simlab.relay")


class RateLimiter:
    """Virtual-clock shaper shared by every flow in one direction of one cell.

    Each chunk is released when the link would have finished serialising it; up to `burst_s`
    of unused capacity is kept so a late event loop catches up instead of under-delivering.
    """

    def __init__(self, rate_bps: float, *, burst_s: float = 0.004) -> None:
        self.rate_bps = rate_bps
        self.burst_s = burst_s
        self._next = 0.0

    async def acquire(self, nbytes: int) -> None:
        """Wait until `nbytes` may pass at the configured rate."""
        rate = self.rate_bps
        if rate <= 0:
            # A cell that is down carries nothing; poll so a cell coming back up resumes.
            while self.rate_bps <= 0:
                await asyncio.sleep(0.05)
            rate = self.rate_bps
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._next = max(self._next, now - self.burst_s) + nbytes * 8 / rate
        delay = self._next - now
        if delay > 0.0005:
            await asyncio.sleep(delay)


@dataclass
class Direction:
    """One direction of a cell's user plane: its shaper and its byte counter."""

    limiter: RateLimiter
    bytes: int = 0
    on_bytes: list[Callable[[int], None]] = field(default_factory=list)

    def count(self, nbytes: int) -> None:
        self.bytes += nbytes
        for hook in self.on_bytes:
            hook(nbytes)


class TcpRelay:
    """Listens on the UE side and forwards every connection to one data-network endpoint."""

    def __init__(self, *, listen: tuple[str, int], target: tuple[str, int],
                 uplink: Direction, downlink: Direction) -> None:
        self.listen = listen
        self.target = target
        self.uplink = uplink
        self.downlink = downlink
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind the UE-side listener."""
        self._server = await asyncio.start_server(self._accept, self.listen[0], self.listen[1])

    async def stop(self) -> None:
        """Close the listener and every relayed connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _accept(self, ue_reader: asyncio.StreamReader,
                      ue_writer: asyncio.StreamWriter) -> None:
        try:
            dn_reader, dn_writer = await asyncio.open_connection(*self.target)
        except OSError as exc:
            _log.warning("relay cannot reach %s:%d: %s", *self.target, exc)
            ue_writer.close()
            return
        for writer in (ue_writer, dn_writer):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up = asyncio.create_task(self._pump(ue_reader, dn_writer, self.uplink))
        down = asyncio.create_task(self._pump(dn_reader, ue_writer, self.downlink))
        for task in (up, down):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.gather(up, down, return_exceptions=True)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    direction: Direction) -> None:
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                await direction.limiter.acquire(len(data))
                writer.write(data)
                direction.count(len(data))
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                if writer.can_write_eof():
                    writer.write_eof()
                else:
                    writer.close()
