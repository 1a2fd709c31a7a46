"""lab.yaml's per-device SNMP options reach the transport and take effect against net-snmp's
snmpd: a v3 `context` that only snmpd's VACM view for that context answers, `max_varbinds`
splitting one GET into several PDUs (counted by snmpd's own snmpInPkts), `port`, the options
inherited from `defaults.snmp`, and their ranges checked with the file's line."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from drivers.transport.snmp import SnmpTransport
from harness.base.errors import CommandFailed, ConfigError
from harness.base.loader import load_model
from harness.config.lab import Lab
from harness.engine.bench import device_settings
from harness.engine.device_context import snmp_target
from tests.conftest import free_port
from tests.daemons import running_snmpd, snmpd_binary
from tests.input_files import line_of, write_input

pytestmark = pytest.mark.interop

SYS_NAME, SYS_DESCR = "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.1.0"
SNMP_IN_PKTS = "1.3.6.1.2.1.11.1.0"
V3 = ('user: ctxuser, auth: {protocol: SHA-256, key: auth-key-1234}, '
      'priv: {protocol: AES-128, key: priv-key-5678}')


def _snmpd() -> str:
    binary = snmpd_binary()
    if binary is None:
        pytest.skip("net-snmp snmpd is not installed (apt-get install snmpd)")
    return binary


def _context_config(port: int) -> str:
    """ctxuser may read sysName only in context lab1, which snmpd serves by proxying to its
    own default context; with the default (empty) context it may read nothing."""
    return (
        "createUser ctxuser SHA-256 auth-key-1234 AES priv-key-5678\n"
        "rocommunity self-only 127.0.0.1\n"
        "group ctxgroup usm ctxuser\n"
        "view labview included .1.3.6.1.2.1.1.5\n"
        "access ctxgroup lab1 usm authPriv exact labview none none\n"
        f"proxy -Cn lab1 -v 2c -c self-only 127.0.0.1:{port} .1.3.6.1.2.1.1\n"
        "sysName lab1-sysname\n"
    )


def _lab(tmp: Path, device_snmp: str, defaults_snmp: str = "{}") -> Lab:
    path = write_input(tmp, "lab.yaml", (
        "name: options-lab\nallow_inline_secrets: true\n"
        f"defaults:\n  snmp: {defaults_snmp}\n"
        "devices:\n"
        f"  gnb1: {{role: gnodeb, profile: generic-snmp, snmp: {device_snmp}}}\n"))
    return load_model(path, Lab)


def _transport(lab: Lab) -> SnmpTransport:
    snmp_cfg, _ = device_settings(lab)
    return SnmpTransport(snmp_target("gnb1", lab.devices["gnb1"], snmp_cfg["gnb1"]),
                         device="gnb1")


def test_v3_context_from_lab_reaches_the_view_only_that_context_answers(
        tmp_path: Path) -> None:
    """Fails on the old code: lab.yaml had no `context` (unknown key)."""
    binary = _snmpd()
    port = free_port(kind=socket.SOCK_DGRAM)  # the proxy line names snmpd's own port
    with running_snmpd(binary, tmp_path, _context_config(port), port=port):
        with_ctx = _lab(tmp_path, f"{{version: 3, port: {port}, context: lab1, {V3}}}")
        without = _lab(tmp_path, f"{{version: 3, port: {port}, {V3}}}")

        async def go() -> None:
            transport = _transport(with_ctx)
            assert transport.target.context == "lab1"
            assert (await transport.get([SYS_NAME]))[SYS_NAME] == "lab1-sysname"
            await transport.close()
            plain = _transport(without)
            with pytest.raises(CommandFailed, match="authorizationError"):
                await plain.get([SYS_NAME])
            await plain.close()
        asyncio.run(go())


def _in_pkts_after_get(transport: SnmpTransport, oids: list[str]) -> int:
    async def go() -> int:
        before = (await transport.get([SNMP_IN_PKTS]))[SNMP_IN_PKTS]
        values = await transport.get(oids)
        assert values[SYS_DESCR] and values[SYS_NAME]
        after = (await transport.get([SNMP_IN_PKTS]))[SNMP_IN_PKTS]
        await transport.close()
        assert isinstance(before, int) and isinstance(after, int)
        return after - before - 1  # the packets of the GET itself (not the first reading)
    return asyncio.run(go())


def test_max_varbinds_splits_a_get_and_defaults_are_inherited(tmp_path: Path) -> None:
    """Six OIDs: one PDU with the transport's default; three with max_varbinds 2 set in the
    device entry, and in `defaults.snmp`. Fails on the old code (unknown key)."""
    binary = _snmpd()
    oids = [SYS_DESCR, SYS_NAME, "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.4.0",
            "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.1.7.0"]
    with running_snmpd(binary, tmp_path, "rocommunity opts 127.0.0.1\n") as port:
        base = f"version: 2c, community: opts, port: {port}"
        assert _in_pkts_after_get(_transport(_lab(tmp_path, f"{{{base}}}")), oids) == 1
        split = _lab(tmp_path, f"{{{base}, max_varbinds: 2, max_in_flight: 1, "
                               "max_repetitions: 7}")
        transport = _transport(split)
        target = transport.target
        assert (target.max_varbinds, target.max_in_flight, target.max_repetitions) == (2, 1, 7)
        assert _in_pkts_after_get(transport, oids) == 3
        inherited = _lab(tmp_path, f"{{{base}}}", defaults_snmp="{max_varbinds: 2}")
        assert _in_pkts_after_get(_transport(inherited), oids) == 3


def test_a_wrong_port_in_the_lab_is_what_the_transport_uses(tmp_path: Path) -> None:
    binary = _snmpd()
    with running_snmpd(binary, tmp_path, "rocommunity opts 127.0.0.1\n") as port:
        lab = _lab(tmp_path, f"{{version: 2c, community: opts, port: {port}, timeout: 0.2s, "
                             "retries: 0}")
        assert _transport(lab).target.port == port
        other = _lab(tmp_path, "{version: 2c, community: opts, port: 9, timeout: 0.2s, "
                               "retries: 0}")
        assert _transport(other).target.port == 9


@pytest.mark.parametrize(("snmp", "field", "message"), [
    ("{max_varbinds: 0}", "max_varbinds", "greater than or equal to 1"),
    ("{max_in_flight: 65}", "max_in_flight", "less than or equal to 64"),
    ("{max_repetitions: 0}", "max_repetitions", "greater than or equal to 1"),
    ("{version: 2c, context: lab1}", "context", "SNMPv3 setting"),
    ("{context: lab1}", "context", "its version is 2c"),  # v2c is the default
])
def test_snmp_options_out_of_range_name_file_and_line(tmp_path: Path, snmp: str, field: str,
                                                      message: str) -> None:
    text = ("name: options-lab\ndevices:\n"
            f"  gnb1:\n    role: gnodeb\n    profile: generic-snmp\n    snmp: {snmp}\n")
    path = write_input(tmp_path, "lab.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_model(path, Lab)
    shown = str(err.value)
    assert f"lab.yaml:{line_of(text, 'snmp:')}:" in shown
    assert field in shown and message in shown
