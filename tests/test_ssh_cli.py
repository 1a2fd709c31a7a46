"""Interactive CLI sessions: against the simulator's SSH shell (a vendor-like CLI with a config
mode) and against OpenSSH sshd running /bin/sh as the "device"; profile actions end to end."""

from __future__ import annotations

import asyncio
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from drivers.actions import ActionSpec, ParamSpec, ParserSpec, judge
from drivers.gnb import Gnb
from drivers.profile import load_profile
from drivers.transport.snmp import SnmpTarget, SnmpTransport
from drivers.transport.ssh import CliOptions, SshTarget, SshTransport
from drivers.transport.ssh_cli import clean, split_reply
from harness.base.errors import CommandFailed, ConfigError
from harness.base.secrets import Secret
from harness.cli import cli
from harness.simlab.ssh_server import SshCliServer
from tests.conftest import free_port
from tests.daemons import Sshd, running_sshd

PASSWORD = "cli-pass-7"
PROMPT = r"^gnb1(\(config\))?# $"


class VendorCli:
    """A small vendor-like CLI: paging on until `terminal length 0`, a config mode that
    changes the prompt, `% ` errors. Records every line it was given."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.paging = True
        self.config = False
        self.cells = {1: ["up", "100", "cell-one"], 2: ["down", "40", "cell-two"]}
        self.server: SshCliServer | None = None
        self.lock = threading.Lock()

    def _prompt(self, text: str) -> None:
        assert self.server is not None
        self.server.prompt = text

    def __call__(self, line: str) -> tuple[str, int]:
        with self.lock:
            self.lines.append(line)
            words = shlex.split(line)
            if line == "terminal length 0":
                self.paging = False
                return "", 0
            if line == "configure terminal":
                self.config = True
                self._prompt("gnb1(config)# ")
                return "", 0
            if line == "end":
                self.config = False
                self._prompt("gnb1# ")
                return "", 0
            if line == "show version":
                return "Acme gNB\nVersion : 2.1.0\nSerial  : SN-123\n", 0
            if line == "show cells":
                rows = "".join(f"{c:<5} {v[0]:<6} {v[1]}\n" for c, v in self.cells.items())
                more = "--More--\n" if self.paging else ""
                return "Cell  Admin  BW(MHz)\n" + rows + more, 0
            if words[:1] == ["cell"] and len(words) == 4 and self.config:
                cell = int(words[1])
                if cell not in self.cells:
                    return f"Error: no cell {cell}\n", 1
                index = {"admin": 0, "name": 2}[words[2]]
                self.cells[cell][index] = words[3]
                return "", 0
            return f"% Invalid input: '{line}'\n", 1


@pytest.fixture
def vendor(tmp_path: Path) -> Iterator[tuple[SshCliServer, VendorCli]]:
    device = VendorCli()
    srv = SshCliServer(host="127.0.0.1", port=free_port(), users={"admin": PASSWORD},
                       host_key_file=tmp_path / "host_key", handler=device,
                       banner="Acme gNB - authorised use only", prompt="gnb1# ")
    device.server = srv
    srv.start()
    try:
        yield srv, device
    finally:
        srv.stop()


def _target(srv: SshCliServer, tmp: Path, timeout_s: float = 5.0) -> SshTarget:
    known = tmp / "known_hosts"
    known.write_text(f"[127.0.0.1]:{srv.port} {srv.host_key_line}\n")
    return SshTarget(host="127.0.0.1", port=srv.port, user="admin", password=Secret(PASSWORD),
                     known_hosts=str(known), timeout_s=timeout_s, command_timeout_s=5.0)


OPTIONS = CliOptions(prompt=PROMPT, on_connect=("terminal length 0",),
                     failure=(r"^% ", r"^Error:"),
                     config_enter=("configure terminal",), config_exit=("end",))


def test_session_against_simulated_gnb(vendor: tuple[SshCliServer, VendorCli],
                                       tmp_path: Path) -> None:
    srv, device = vendor

    async def go() -> None:
        async with (SshTransport(_target(srv, tmp_path), device="gnb1") as transport,
                    await transport.open_cli(OPTIONS) as session):
            assert session.prompt == "gnb1# "
            assert not device.paging  # on_connect ran before anything else
            version = await session.send("show version")
            assert version.splitlines() == ["Acme gNB", "Version : 2.1.0",
                                            "Serial  : SN-123"]
            outputs = await session.configure(["cell 2 admin up", "cell 1 name north"])
            assert outputs == ["", ""]
            assert session.prompt == "gnb1# "
            with pytest.raises(CommandFailed) as info:
                await session.send("reload everything")
            assert "% Invalid input: 'reload everything'" in str(info.value)
            assert not session.closed  # a refused command leaves the session usable
            assert "up" in await session.send("show cells")

    asyncio.run(go())
    assert device.lines[:2] == ["terminal length 0", "show version"]
    assert device.lines[2:6] == ["configure terminal", "cell 2 admin up", "cell 1 name north",
                                 "end"]
    assert device.cells[2][0] == "up" and device.cells[1][2] == "north"


def test_config_mode_is_left_after_a_failure(vendor: tuple[SshCliServer, VendorCli],
                                             tmp_path: Path) -> None:
    srv, device = vendor

    async def go() -> str:
        async with SshTransport(_target(srv, tmp_path), device="gnb1") as transport:
            session = await transport.open_cli(OPTIONS)
            with pytest.raises(CommandFailed, match="no cell 9"):
                await session.configure(["cell 9 admin up", "cell 1 admin down"])
            prompt = session.prompt
            await session.close()
            return prompt

    assert asyncio.run(go()) == "gnb1# "
    assert device.lines[-2:] == ["cell 9 admin up", "end"]  # the second command never ran
    assert device.cells[1][0] == "up"


def test_wrong_prompt_pattern_times_out_with_a_hint(vendor: tuple[SshCliServer, VendorCli],
                                                    tmp_path: Path) -> None:
    srv, _ = vendor

    async def go() -> None:
        async with SshTransport(_target(srv, tmp_path, 1.0), device="gnb1") as transport:
            await transport.open_cli(CliOptions(prompt=r"^router> $"))

    with pytest.raises(CommandFailed, match=r"within 1 s.*gnb1# .*cli\.prompt"):
        asyncio.run(asyncio.wait_for(go(), 10))


# --- OpenSSH sshd with /bin/sh as the device ---------------------------------------------------

@pytest.fixture(scope="module")
def shell_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    tmp = tmp_path_factory.mktemp("shell")
    with running_sshd(tmp, extra="ForceCommand env PS1='dev$ ' /bin/sh -i") as server:
        server.write_known_hosts()
        yield server


SH = CliOptions(prompt=r"^dev(\(cfg\))?\$ $", on_connect=("stty -echoctl",),
                failure=(r"not found$", r"^Error:"), pager=r"^--More-- ?$",
                config_enter=("env PS1='dev(cfg)$ ' /bin/sh -i",), config_exit=("exit",))


def test_sh_session_over_openssh(shell_sshd: Sshd) -> None:
    async def go() -> None:
        async with (SshTransport(shell_sshd.target(), device="dut") as transport,
                    await transport.open_cli(SH) as session):
            assert await session.send("echo one; echo two") == "one\ntwo"
            assert await session.send("printf 'a\\tb\\n'") == "a\tb"
            # A pager that waits for one key (raw tty): answered with a space, then dropped.
            paged = await session.send(
                "printf 'page1\\n--More--'; stty -icanon min 1; dd bs=1 count=1 2>/dev/null"
                " >/dev/null; stty icanon; printf '\\npage2\\n'")
            assert "page1" in paged and "page2" in paged and "More" not in paged
            async with session.config_mode():
                assert session.prompt == "dev(cfg)$ "
                assert await session.send("echo $PS1") == "dev(cfg)$"
            assert session.prompt == "dev$ "
            with pytest.raises(CommandFailed, match=r"nosuchcommand: not found"):
                await session.send("nosuchcommand")
            assert await session.send("echo Error: soft", check=False) == "Error: soft"
            with pytest.raises(CommandFailed, match=r"did not|no prompt"):
                await session.send("sleep 5", timeout_s=0.5)
            assert session.closed

    asyncio.run(go())


# --- pure parts: cleaning terminal output, templates, parsers ----------------------------------

def test_clean_and_split_a_captured_reply() -> None:
    raw = ("show ver\r\n\x1b[1mAcme\x1b[0m gNB\r\nVersion : 2\r\n"
           "xx\rVersion : 3\r\n\x1b[?2004hgnb1# ")
    assert clean(raw) == "show ver\nAcme gNB\nVersion : 2\nVersion : 3\ngnb1# "
    assert split_reply(raw, "show ver") == ("Acme gNB\nVersion : 2\nVersion : 3", "gnb1# ")
    assert split_reply("gnb1# ", "terminal length 0") == ("", "gnb1# ")


def test_typed_parameters_are_checked_and_quoted() -> None:
    action = ActionSpec(command=["cell {cell} name {name}", "cell {cell} admin {state}"],
                        params={"cell": ParamSpec(type="int", min=1, max=16),
                                "name": ParamSpec(pattern=r"[\w ;]+", default="x"),
                                "state": ParamSpec(type="choice", choices=["up", "down"])})
    assert action.render({"cell": "3", "name": "a; reboot", "state": "up"}) == [
        "cell 3 name 'a; reboot'", "cell 3 admin up"]
    assert action.render({"cell": 1, "state": "down"})[0] == "cell 1 name x"
    for bad, message in [({"cell": 17, "state": "up"}, "from 1 to 16"),
                         ({"cell": "1x", "state": "up"}, "an integer"),
                         ({"cell": 1, "state": "sideways"}, "one of up, down"),
                         ({"cell": 1, "state": "up", "name": "$(id)"}, "matching"),
                         ({"cell": 1}, "state is required"),
                         ({"cell": 1, "state": "up", "color": 1}, "unknown parameter color")]:
        with pytest.raises(ConfigError, match=message):
            action.render(bad)


def test_parsers_and_judging() -> None:
    output = "Cell  Admin  BW(MHz)\n1     up     100\n2     down   40\n"
    fsm = ParserSpec(textfsm_template="Value CELL (\\d+)\nValue ADMIN (\\S+)\n\nStart\n"
                                      "  ^${CELL}\\s+${ADMIN} -> Record\n")
    assert fsm.parse(output) == [{"CELL": "1", "ADMIN": "up"}, {"CELL": "2", "ADMIN": "down"}]
    regex = ParserSpec(regex=r"^(?P<cell>\d+)\s+(?P<admin>\w+)")
    assert regex.parse(output) == [{"cell": "1", "admin": "up"}, {"cell": "2", "admin": "down"}]
    assert ParserSpec(keyvalue=":").parse("A : 1\nB: two\nnoise") == [{"A": "1", "B": "two"}]
    judge("d", "c", "ok done", 0, ["done"], ["^% "])
    with pytest.raises(CommandFailed, match="exit 2"):
        judge("d", "c", "fine", 2, [], [])
    with pytest.raises(CommandFailed, match="% bad"):
        judge("d", "c", "% bad", 0, [], ["^% "])
    with pytest.raises(CommandFailed, match="'c' failed"):
        judge("d", "c", "nothing", 0, ["^Committed"], [])


# --- a profile with cli, typed actions, TextFSM, command facts; validated, then used ------------

PROFILE = """\
name: acme-gnb
role: gnodeb
facts: {}
command_facts:
  firmware: {command: show version, mode: cli, parser: {regex: 'Version : (?P<firmware>\\S+)'}}
  serial: {command: show version, mode: cli, parser: {keyvalue: ":"}, field: Serial}
cli:
  prompt: '^gnb1(\\(config\\))?# $'
  on_connect: [terminal length 0]
  config: {enter: [configure terminal], exit: [end]}
  failure: ['^% ']
actions:
  show_cells:
    command: show cells
    mode: cli
    parser: {textfsm: show_cells.textfsm}
  set_admin:
    command: cell {cell} admin {state}
    mode: config
    params:
      cell: {type: int, min: 1, max: 16}
      state: {type: choice, choices: [up, down]}
    failure: ['^% ', '^Error']
  set_cell:
    commands: {admin: "cell {cell} admin {value}"}
    mode: config
    failure: ['^% ', '^Error']
"""
TEMPLATE = """\
Value CELL (\\d+)
Value ADMIN (up|down)
Value BANDWIDTH (\\d+)

Start
  ^${CELL}\\s+${ADMIN}\\s+${BANDWIDTH} -> Record
"""


def test_profile_actions_end_to_end(vendor: tuple[SshCliServer, VendorCli],
                                    tmp_path: Path) -> None:
    srv, device = vendor
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "acme-gnb.yaml").write_text(PROFILE)
    (folder / "show_cells.textfsm").write_text(TEMPLATE)
    result = CliRunner().invoke(cli, ["validate", str(folder / "acme-gnb.yaml")])
    assert result.exit_code == 0, result.output
    profile = load_profile("acme-gnb", [folder])
    snmp = SnmpTransport(SnmpTarget(host="127.0.0.1", port=free_port(), version="2c",
                                    community=Secret("unused")), device="gnb1")

    async def go() -> None:
        gnb = Gnb("gnb1", profile, snmp=snmp,
                  ssh=SshTransport(_target(srv, tmp_path), device="gnb1"))
        try:
            facts = await gnb.facts()
            assert (facts.firmware, facts.serial) == ("2.1.0", "SN-123")
            cells = await gnb.run_action("show_cells")
            assert cells.rows == [{"CELL": "1", "ADMIN": "up", "BANDWIDTH": "100"},
                                  {"CELL": "2", "ADMIN": "down", "BANDWIDTH": "40"}]
            await gnb.run_action("set_admin", {"cell": 2, "state": "up"})
            await gnb.set_cell(1, {"admin": "down"})
            with pytest.raises(CommandFailed, match="Error: no cell 9"):
                await gnb.run_action("set_admin", {"cell": 9, "state": "up"})
            with pytest.raises(ConfigError, match="set_admin: parameter state"):
                await gnb.run_action("set_admin", {"cell": 1, "state": "off"})
        finally:
            await gnb.close()

    asyncio.run(go())
    assert device.cells[2][0] == "up" and device.cells[1][0] == "down"
    assert "cell 9 admin up" in device.lines and "cell 1 admin off" not in device.lines
    assert device.lines.count("show version") == 1  # one command answers both facts


def test_invalid_profile_is_rejected_with_position(tmp_path: Path) -> None:
    bad = PROFILE.replace("cell {cell} admin {state}", "cell {cell} admin {colour}")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    (tmp_path / "show_cells.textfsm").write_text(TEMPLATE)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "bad.yaml:" in result.output and "unknown placeholder {colour}" in result.output
