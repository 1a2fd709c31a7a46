"""The control channel into a running simulated lab: JSON lines over a Unix-domain socket.

The socket lives in the lab's state directory (mode 0600: only its owner may drive the lab).
A client writes one JSON object per line and reads one answer line per request:

    {"op": "status"}
    {"op": "fault", "device": "gnb1", "kind": "snmp-silent", "duration_s": 10, "params": {}}
    {"op": "clear", "device": "gnb1", "kind": null}
    {"op": "stop"}

Answers are `{"ok": true, "result": {...}}` or `{"ok": false, "error": "what went wrong"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from harness.base.errors import HarnessError

Request = dict[str, Any]
Handler = Callable[[Request], Awaitable[dict[str, Any]]]

SOCKET_NAME = "control.sock"
MAX_LINE = 64 * 1024
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes including the final NUL
_log = logging.getLogger("harness.simlab.channel")


class ChannelError(HarnessError):
    """The lab refused a control request, or could not be reached."""


def check_socket_path(path: Path) -> None:
    """A Unix socket path must fit sockaddr_un; say how to fix it when it does not."""
    if len(os.fsencode(str(path))) > _SUN_PATH_MAX:
        raise HarnessError(
            f"control socket path {path} is longer than {_SUN_PATH_MAX} bytes, the limit of a "
            "Unix-domain socket: choose a shorter state directory (--state-dir)")


def control_socket_path(state_dir: Path) -> Path:
    """`STATE_DIR/control.sock`, or, when that is too long for a Unix socket, an owner-only
    socket in the temporary directory named after the state directory."""
    path = state_dir.absolute() / SOCKET_NAME
    if len(os.fsencode(str(path))) <= _SUN_PATH_MAX:
        return path
    digest = hashlib.sha256(os.fsencode(str(state_dir.absolute()))).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"ran-harness-sim-{digest}.sock"


class ControlServer:
    """Serves the control channel on the running lab's event loop."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind the socket (replacing a stale one) and make it owner-only."""
        check_socket_path(self.path)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_LINE)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        """Stop listening and remove the socket file."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=2)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_LINE
                    await _send(writer, {"ok": False, "error": "request line too long"})
                    return
                if not line:
                    return
                await _send(writer, await self._answer(line))
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"not a JSON line: {exc}"}
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": 'a request is a JSON object with an "op" string'}
        try:
            return {"ok": True, "result": await self._handler(request)}
        except HarnessError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a lab bug must not kill the channel
            _log.exception("control request %r failed", request.get("op"))
            return {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}


async def _send(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
    writer.write(json.dumps(answer).encode() + b"\n")
    await writer.drain()


async def request(path: Path, op: str, *, timeout_s: float = 10.0,
                  **fields: Any) -> dict[str, Any]:
    """Send one request to the lab listening on `path`; its result, or ChannelError."""
    check_socket_path(path)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(path), limit=MAX_LINE), timeout=timeout_s)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ChannelError(f"no simulated lab listens on {path}: start one with "
                           "`harness sim up`") from None
    except (TimeoutError, OSError) as exc:
        raise ChannelError(f"cannot reach the simulated lab on {path}: {exc}") from None
    try:
        writer.write(json.dumps({"op": op, **fields}).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=timeout_s)
    except TimeoutError:
        raise ChannelError(f"the simulated lab on {path} did not answer {op!r} within "
                           f"{timeout_s:.0f} s") from None
    except (ConnectionError, OSError, ValueError) as exc:
        raise ChannelError(f"control channel {path} failed during {op!r}: {exc}") from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if not line:
        raise ChannelError(f"the simulated lab on {path} closed the channel during {op!r}")
    answer = json.loads(line)
    if not answer.get("ok"):
        raise ChannelError(str(answer.get("error") or "request refused"))
    result: dict[str, Any] = answer.get("result") or {}
    return result
