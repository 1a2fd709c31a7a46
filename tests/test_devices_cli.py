"""`harness devices`: facts and per-transport reachability of every device, an unreachable one
as a row with its reason, a traffic host reached over OpenSSH, and exit codes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from harness.cli import cli
from tests.conftest import free_port
from tests.daemons import Sshd, running_sshd

ROOT = Path(__file__).resolve().parent.parent

LAB = """\
name: two-gnbs
allow_inline_secrets: true  # an unreachable gNodeB's made-up community and password
defaults:
  snmp: {{version: 3, user: harness, auth: {{protocol: SHA-256}}, priv: {{protocol: AES-128}},
         timeout: 2s, retries: 1}}
  ssh: {{user: admin, host_key: verify}}
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    simulated: {{cells: [{{id: 1, bandwidth_mhz: 40}}], serial: SN-0001, firmware: 2.0.1}}
  gnb2:
    role: gnodeb
    profile: sim-gnb
    host: 127.0.0.1
    snmp: {{version: 2c, community: public, port: {snmp_port}, timeout: 0.5s, retries: 0}}
    ssh: {{port: {ssh_port}, password: nothing, host_key: ignore, timeout: 2s}}
  ue1: {{role: ue-host}}
  dn1:
    role: dn-host
    connection: ssh
    ssh: {{port: {host_port}, user: {user}, key_file: {key}, known_hosts: {known},
           host_key: verify}}
"""


@pytest.fixture(scope="module")
def traffic_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("dn-host")) as server:
        server.write_known_hosts()
        yield server


def _devices(*args: str) -> Result:
    return CliRunner().invoke(cli, ["devices", *args], catch_exceptions=False)


def _lab(tmp_path: Path, sshd: Sshd) -> Path:
    target = sshd.target()
    path = tmp_path / "lab.yaml"
    path.write_text(LAB.format(snmp_port=free_port(socket.SOCK_DGRAM), ssh_port=free_port(),
                               host_port=sshd.port, user=target.user, key=sshd.client_key,
                               known=target.known_hosts))
    return path


@pytest.fixture(scope="module")
def report(traffic_sshd: Sshd, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Any]:
    lab = _lab(tmp_path_factory.mktemp("lab"), traffic_sshd)
    result = _devices("--lab", str(lab), "--json")
    return result.exit_code, json.loads(result.stdout)


def test_unreachable_device_is_a_row_and_exit_3(report: tuple[int, Any]) -> None:
    code, data = report
    assert code == 3
    assert not data["reachable"]
    assert [row["name"] for row in data["devices"]] == ["gnb1", "gnb2", "ue1", "dn1"]
    gnb2 = data["devices"][1]
    assert not gnb2["reachable"]
    snmp, ssh = gnb2["transports"]["snmp"], gnb2["transports"]["ssh"]
    assert not snmp["ok"] and "127.0.0.1" in snmp["error"]
    assert not ssh["ok"] and "cannot connect" in ssh["error"]
    assert ssh["host_key_policy"] == "ignore"
    assert gnb2["facts"]["serial"] is None  # nothing invented for an unreachable device


def test_reachable_gnb_shows_its_facts(report: tuple[int, Any]) -> None:
    _, data = report
    gnb1 = data["devices"][0]
    assert gnb1["reachable"] and gnb1["driver"] == "gnodeb" and gnb1["profile"] == "sim-gnb"
    facts = gnb1["facts"]
    assert (facts["serial"], facts["firmware"], facts["model"]) == ("SN-0001", "2.0.1",
                                                                     "SimGNB-1")
    assert facts["description"] and facts["vendor"]
    assert isinstance(facts["uptime_s"], float) and facts["uptime_s"] >= 0
    assert gnb1["transports"] == {
        "snmp": {"ok": True, "error": None},
        "ssh": {"ok": True, "error": None, "host_key_policy": "verify"}}


def test_traffic_hosts_local_and_over_ssh(report: tuple[int, Any]) -> None:
    _, data = report
    ue1, dn1 = data["devices"][2], data["devices"][3]
    assert ue1["transports"] == {"local": {"ok": True, "error": None}}
    assert dn1["transports"] == {"ssh": {"ok": True, "error": None, "host_key_policy": "verify"}}
    assert dn1["tools"] == ue1["tools"] and dn1["tools"]["iperf3"].startswith("3.")


def test_table_output(traffic_sshd: Sshd, tmp_path: Path) -> None:
    result = _devices("--lab", str(_lab(tmp_path, traffic_sshd)))
    assert result.exit_code == 3
    text = result.stdout
    for expected in ("gnb1", "gnb2", "dn1", "SN-0001", "snmp ok", "ssh ok (host key verify)",
                     "ERROR", "refused"):
        assert expected in text, expected


def test_all_reachable_exits_0_with_the_labs_own_profile(tmp_path: Path) -> None:
    (tmp_path / "my-profiles").mkdir()
    shipped = (ROOT / "drivers" / "profiles" / "sim-gnb.yaml").read_text()
    (tmp_path / "my-profiles" / "lab-gnb.yaml").write_text(
        shipped.replace("name: sim-gnb", "name: lab-gnb"))
    lab = tmp_path / "lab.yaml"
    lab.write_text("name: solo\nprofiles: my-profiles\ndevices:\n"
                   "  gnb1: {role: gnodeb, profile: lab-gnb, simulated: {}}\n"
                   "  dn1: {role: dn-host}\n")
    result = _devices("--lab", str(lab), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["reachable"] and data["devices"][0]["profile"] == "lab-gnb"


@pytest.mark.parametrize("content, message", [
    (None, "no lab file"),
    ("name: x\ndevices:\n  gnb1: {role: gnodeb, profile: sim-gnb, colour: red}\n",
     "lab.yaml:3"),
    ("name: x\nallow_inline_secrets: true\n"
     "devices:\n  gnb1: {role: gnodeb, profile: sim-gnb, driver: acme-x,\n"
     "         snmp: {version: 2c, community: c}}\n", "no driver named 'acme-x'"),
    ("name: x\ndevices:\n  dn1: {role: dn-host, ssh: {password: '${env:NO_SUCH_VAR_9}'}}\n",
     "NO_SUCH_VAR_9"),
])
def test_bad_input_exits_2(tmp_path: Path, content: str | None, message: str) -> None:
    lab = tmp_path / "lab.yaml"
    if content is not None:
        lab.write_text(content)
    result = CliRunner().invoke(cli, ["devices", "--lab", str(lab)])
    assert result.exit_code == 2, result.output
    assert message in result.output
