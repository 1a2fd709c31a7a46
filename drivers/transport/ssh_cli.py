"""Interactive CLI sessions over SSH, for devices whose commands only work in a shell: prompt
detection, paging disabled on connect, config modes, and failure patterns that raise.

Part of the SSH transport. The blocking `_Shell` owns the channel; `CliSession` is its asyncio
face and runs one command at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import select
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import paramiko

from drivers.transport.devlog import DeviceLog
from harness.base.errors import CommandFailed, DeviceUnreachable

DEFAULT_PROMPT = r"[\w.@()/:~-]+ ?[#>$%] ?$"
_ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][A-Za-z0-9]|[=>])")
_READ_CHUNK = 65536
_SETTLE_S = 0.02  # a prompt-looking tail counts once no more data follows this quickly


@dataclass(frozen=True)
class CliOptions:
    """How to drive a device's interactive CLI (a profile's `cli:` section).

    `prompt` is a regular expression searched in the last line of output (anchor it with `$`);
    it must match every prompt the session can show, config modes included. `on_connect` runs
    once after login (`terminal length 0` to disable paging); `config_enter`/`config_exit`
    wrap configuration commands; `failure` patterns found in a command's output raise
    CommandFailed; a `pager` prompt (`--More--`), if the device still shows one, is answered
    with a space.
    """

    prompt: str = DEFAULT_PROMPT
    on_connect: tuple[str, ...] = ()
    failure: tuple[str, ...] = ()
    config_enter: tuple[str, ...] = ()
    config_exit: tuple[str, ...] = ()
    pager: str | None = None
    newline: str = "\n"
    width: int = 511


def clean(text: str) -> str:
    """Terminal output as plain lines: ANSI sequences gone, CRLF → LF, overwritten text
    (after a bare CR) dropped, backspaces applied."""
    text = _ANSI.sub("", text).replace("\r\n", "\n")
    lines = []
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if "\r" in line:
            line = line.rsplit("\r", 1)[-1]
        while "\b" in line:
            at = line.index("\b")
            line = line[:max(at - 1, 0)] + line[at + 1:]
        lines.append(line)
    return "\n".join(lines)


def split_reply(raw: str, command: str) -> tuple[str, str]:
    """(output, prompt line) of a cleaned reply: the echoed command and the prompt removed."""
    text = clean(raw)
    head, _, prompt = text.rpartition("\n")
    lines = head.split("\n") if head else []
    if lines and command.strip() and lines[0].rstrip().endswith(command.strip()):
        lines = lines[1:]
    return "\n".join(lines), prompt


class _Shell:
    """Blocking side of a CLI session: writes lines, reads until the prompt."""

    def __init__(self, channel: paramiko.Channel, options: CliOptions, device: str) -> None:
        self.channel = channel
        self.options = options
        self.device = device
        self._prompt = re.compile(options.prompt)
        self._pager = re.compile(options.pager) if options.pager else None

    def read_until_prompt(self, timeout: float, what: str) -> str:
        """Everything up to and including a prompt; CommandFailed after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        chunks: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tail = clean("".join(chunks))[-300:]
                raise CommandFailed(
                    f"{self.device}: no prompt after {what} within {timeout:g} s (last output: "
                    f"{tail!r}); check the profile's cli.prompt pattern, or raise the timeout")
            ready, _, _ = select.select([self.channel], [], [], remaining)
            if self.channel.recv_stderr_ready():  # only without a pty; keep it in order
                chunks.append(self.channel.recv_stderr(_READ_CHUNK).decode("utf-8", "replace"))
            if self.channel.recv_ready():
                chunks.append(self.channel.recv(_READ_CHUNK).decode("utf-8", "replace"))
            elif self.channel.closed or self.channel.eof_received:
                raise DeviceUnreachable(
                    f"{self.device}: the CLI session closed during {what} (last output: "
                    f"{clean(''.join(chunks))[-300:]!r})")
            if not ready:
                continue
            last = clean("".join(chunks)).rpartition("\n")[2]
            if self._pager is not None and self._pager.search(last):
                self.channel.sendall(b" ")
                chunks.append("\n")
                continue
            if self._prompt.search(last) and not self._more_follows():
                return "".join(chunks)

    def _more_follows(self) -> bool:
        ready, _, _ = select.select([self.channel], [], [], _SETTLE_S)
        return bool(ready) and (self.channel.recv_ready() or self.channel.recv_stderr_ready())

    def command(self, command: str, timeout: float) -> tuple[str, str]:
        """Send one line; return (output, the prompt that followed)."""
        self.channel.sendall((command + self.options.newline).encode())
        raw = self.read_until_prompt(timeout, repr(command))
        output, prompt = split_reply(raw, command)
        if self._pager is not None:  # the pager prompts we answered are not output
            output = "\n".join(line for line in output.split("\n")
                               if not self._pager.search(line))
        return output, prompt


class CliSession:
    """An interactive shell on a device, one command at a time; use `async with`.

    Commands go to the per-device log with their output (secrets masked). After a timeout the
    session's state is unknown, so it is closed; open a new one to go on.
    """

    def __init__(self, shell: _Shell, log: DeviceLog, command_timeout_s: float) -> None:
        self._shell = shell
        self._log = log
        self._timeout = command_timeout_s
        self._lock = asyncio.Lock()
        self._closed = False
        self.prompt = ""

    @classmethod
    def open_blocking(cls, transport: paramiko.Transport, options: CliOptions, device: str,
                      log: DeviceLog, timeout_s: float, command_timeout_s: float) -> CliSession:
        """Blocking: open a pty shell, wait for the first prompt. on_connect runs later."""
        try:
            channel = transport.open_session(timeout=timeout_s)
            channel.get_pty(term="vt100", width=options.width, height=0)
            channel.invoke_shell()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise DeviceUnreachable(f"{device}: cannot open an interactive shell: {exc}; "
                                    "the device may not allow shell channels") from None
        shell = _Shell(channel, options, device)
        try:
            banner = shell.read_until_prompt(timeout_s, "login")
        except BaseException:
            channel.close()
            raise
        session = cls(shell, log, command_timeout_s)
        session.prompt = clean(banner).rpartition("\n")[2]
        log.info("cli session open, prompt %r", session.prompt)
        return session

    @property
    def closed(self) -> bool:
        """True once closed (explicitly, after a timeout, or by the device)."""
        return self._closed or self._shell.channel.closed

    async def setup(self) -> None:
        """Run the profile's on_connect commands (paging off and the like)."""
        for command in self._shell.options.on_connect:
            await self.send(command, what="on_connect")

    async def send(self, command: str, *, timeout_s: float | None = None, check: bool = True,
                   what: str = "") -> str:
        """Run one command; its output without echo and prompt. A failure pattern in the
        output raises CommandFailed carrying the output (unless `check` is false)."""
        if self.closed:
            raise CommandFailed(f"{self._shell.device}: the CLI session is closed; open a new one")
        timeout = self._timeout if timeout_s is None else timeout_s
        async with self._lock:
            self._log.info("cli> %s", command)
            try:
                output, prompt = await asyncio.to_thread(self._shell.command, command, timeout)
            except (CommandFailed, DeviceUnreachable):
                await self.close()
                raise
            except (OSError, EOFError, paramiko.SSHException) as exc:
                await self.close()
                raise DeviceUnreachable(
                    f"{self._shell.device}: CLI session lost while running {command!r}: {exc}"
                ) from None
            self.prompt = prompt
            self._log.debug("cli< %s", output)
        if check:
            self._check(command, output, what)
        return output

    def _check(self, command: str, output: str, what: str) -> None:
        for pattern in self._shell.options.failure:
            if re.search(pattern, output, re.MULTILINE):
                context = f" ({what})" if what else ""
                raise CommandFailed(
                    f"{self._shell.device}: {command!r}{context} failed: "
                    f"{self._log.redact(output.strip())}")

    @contextlib.asynccontextmanager
    async def config_mode(self) -> AsyncIterator[CliSession]:
        """Enter config mode (profile `config_enter`), and always leave it (`config_exit`)."""
        for command in self._shell.options.config_enter:
            await self.send(command, what="entering config mode")
        try:
            yield self
        finally:
            if not self.closed:
                for command in self._shell.options.config_exit:
                    await self.send(command, check=False, what="leaving config mode")

    async def configure(self, commands: Sequence[str]) -> list[str]:
        """Run `commands` in config mode; their outputs. The first failure stops the rest."""
        async with self.config_mode():
            return [await self.send(command) for command in commands]

    async def close(self) -> None:
        """Close the shell channel; idempotent."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._shell.channel.close)

    async def __aenter__(self) -> CliSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
