"""iperf3's control connection as a traffic host meets it (see hosts/host.py).

A persistent `iperf3 -s` is ready when it answers the control protocol's cookie (a bare connect
would not tell it from another program on the port); a client whose control connection was
refused before any traffic may try again; an early end keeps the intervals already measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING

from drivers.hosts.commands import BackgroundCommand, ToolServer
from drivers.hosts.iperf3 import Iperf3Options
from drivers.hosts.iperf3_partial import Iperf3Incomplete, parse_partial
from harness.base.errors import MeasurementError

if TYPE_CHECKING:
    from drivers.hosts.host import TrafficHost

# iperf3 control protocol: a client sends a 36-character cookie plus NUL, the server answers
# with one state byte: PARAM_EXCHANGE (9), or ACCESS_DENIED (-1) when busy with another test.
_PROBE_COOKIE = b"ranharness-readiness-probe-000000000\0"
_PARAM_EXCHANGE = b"\x09"
_ACCESS_DENIED = b"\xff"


PORT_BUSY_WAIT_S = 3.0
"""How long an iperf3 server start retries while its port is still held (e.g. by the server of
a run interrupted a moment before, as `--resume` right after Ctrl-C meets it)."""


class Iperf3Server(ToolServer):
    """A running iperf3 server on a traffic host; stop it (or use `async with`) when done."""

    def __init__(self, host: TrafficHost, port: int, command: BackgroundCommand) -> None:
        super().__init__(port, command)
        self.host = host
        self.address = host.address


def incomplete(message: str, output: str, opts: Iperf3Options) -> MeasurementError:
    """The error of an iperf3 run that did not complete: an Iperf3Incomplete carrying the
    intervals it finished when there are any (a one-way run), else a plain MeasurementError."""
    partial = None if opts.bidir else parse_partial(output, direction=opts.direction)
    return MeasurementError(message) if partial is None else Iperf3Incomplete(message, partial)


CONTROL_RETRIES = 3
# iperf3's words when the server refused or dropped the control connection; they count as a
# refusal only when no interval was measured, i.e. the test never started.
_CONTROL_REFUSALS = ("unable to receive control message", "the server is busy",
                     "unable to send control message", "control socket has closed unexpectedly")


class NotStarted(MeasurementError):
    """The iperf3 server refused or dropped the control connection before any traffic."""


def measured_anything(text: str) -> bool:
    try:
        doc = json.loads(text)
    except ValueError:
        return True  # cannot tell: treat as started, never re-run a test that may have run
    return bool(isinstance(doc, dict) and doc.get("intervals"))


def control_refused(message: str) -> bool:
    return any(text in message for text in _CONTROL_REFUSALS)


async def iperf3_answers(address: str, port: int) -> bool:
    """True if an iperf3 server accepts on address:port: it answers a cookie with a state byte.

    A bare connect would not do: another program may hold the port. The probe's aborted test
    costs a persistent server nothing (it resets and listens again).
    """
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(_PROBE_COOKIE)
        await writer.drain()
        state = await asyncio.wait_for(reader.read(1), 1.0)
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return state in (_PARAM_EXCHANGE, _ACCESS_DENIED)


def iperf3_error(output: str) -> str:
    """iperf3's own error text from its JSON or text output, else the output's tail."""
    start = output.find("{")
    if start >= 0:
        with contextlib.suppress(ValueError):
            doc, _ = json.JSONDecoder().raw_decode(output, start)
            if isinstance(doc, dict) and doc.get("error"):
                return str(doc["error"])
    text = output.strip()
    return text[-500:] if text else "no output"
