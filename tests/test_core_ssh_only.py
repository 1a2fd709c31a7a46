"""An SSH-only core, like an SSH-only gNodeB: a lab that gives the core SSH settings and no
SNMP ones builds no SNMP transport; `harness devices` shows it reachable over SSH with the
facts its `command_facts` read from the simulated core's real SSH CLI; whatever the profile
reads over SNMP is an error naming what needs SNMP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from drivers.core import Core
from drivers.profile import load_profile
from harness.base.errors import ConfigError
from harness.base.loader import load_model
from harness.cli import cli
from harness.config.lab import Lab
from harness.engine.device_context import driver_context
from tests.input_files import write_input
from tests.sim_equipment import SimEquipment, sim_up

SSH_CORE_PROFILE = """\
name: ssh-core
role: core
facts: {}
command_facts:
  firmware: {command: show version, parser: {keyvalue: ":"}, field: Software version}
  serial: {command: show version, parser: {keyvalue: ":"}, field: Serial number}
  uptime: {command: show version, parser: {keyvalue: ":"}, field: Uptime}
kpis:
  RM.RegisteredSubNbrMean: {oid: 1.3.6.1.4.1.32473.2.2.1.0, type: gauge}
"""

# core-ssh: the simulated core reached over SSH alone; core-snmp: the same core over SNMP
# alone with the shipped sim-core profile (its facts by OID), to compare the two readings.
LAB = """\
name: core-ssh-only
profiles: profiles
devices:
  core-ssh:
    role: core
    profile: ssh-core
    host: 127.0.0.1
    ssh: {{port: {ssh_port}, user: {user}, password: "${{env:RH_TEST_PASSWORD}}",
          known_hosts: {known_hosts}}}
  core-snmp:
    role: core
    profile: sim-core
    host: 127.0.0.1
    snmp: {{version: 2c, port: {snmp_port}, community: "${{env:RH_TEST_COMMUNITY}}",
           timeout: 1s, retries: 0}}
"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEquipment]:
    with sim_up(tmp_path_factory.mktemp("sim")) as equipment:
        yield equipment


def _lab(sim: SimEquipment, folder: Path) -> tuple[Path, dict[str, str]]:
    core = sim.state["devices"]["core1"]
    ssh, snmp = core["ssh"], core["snmp"]
    known = write_input(folder, "known_hosts",
                        f"[{ssh['host']}]:{ssh['port']} {ssh['host_key']}\n")
    (folder / "profiles").mkdir()
    write_input(folder / "profiles", "ssh-core.yaml", SSH_CORE_PROFILE)
    lab = write_input(folder, "lab.yaml", LAB.format(
        ssh_port=ssh["port"], user=ssh["user"], known_hosts=known, snmp_port=snmp["port"]))
    return lab, {"RH_TEST_PASSWORD": ssh["password"], "RH_TEST_COMMUNITY": snmp["community"]}


@pytest.mark.e2e
def test_ssh_only_core_is_reachable_with_its_command_facts(sim: SimEquipment,
                                                           tmp_path: Path) -> None:
    """No `snmp:` for the core: an SSH row alone, and the facts `show version` gives are the
    ones the same core gives over SNMP."""
    lab, env = _lab(sim, tmp_path)
    result = CliRunner().invoke(cli, ["devices", "--lab", str(lab), "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)["devices"]}
    over_ssh, over_snmp = rows["core-ssh"], rows["core-snmp"]
    assert over_ssh["reachable"] and over_ssh["error"] is None
    assert set(over_ssh["transports"]) == {"ssh"}
    assert over_ssh["transports"]["ssh"]["host_key_policy"] == "verify"
    assert set(over_snmp["transports"]) == {"snmp"}  # and no SSH tried on an SNMP-only core
    assert over_ssh["facts"]["serial"].startswith("SIMC-")
    for fact in ("serial", "firmware"):
        assert over_ssh["facts"][fact] == over_snmp["facts"][fact], fact
    assert over_ssh["facts"]["uptime_s"] >= 0


def test_ssh_only_core_gets_no_snmp_transport(tmp_path: Path) -> None:
    """The lab's context: an SSH target, no SNMP target (the old code built one and then
    refused the lab: `SNMPv2c needs a community`)."""
    lab_path, _ = _lab_offline(tmp_path)
    lab = load_model(lab_path, Lab)
    ctx = driver_context(lab, "core-ssh", lab.devices["core-ssh"], {}, {"port": 2222}, "run")
    assert ctx.snmp_target is None and ctx.ssh_target is not None
    assert ctx.ssh_target.port == 2222


def _lab_offline(folder: Path) -> tuple[Path, Path]:
    known = write_input(folder, "known_hosts", "")
    (folder / "profiles").mkdir()
    write_input(folder / "profiles", "ssh-core.yaml", SSH_CORE_PROFILE)
    lab = write_input(folder, "lab.yaml", LAB.format(ssh_port=2222, user="admin",
                                                     known_hosts=known, snmp_port=1161))
    return lab, known


@pytest.mark.parametrize("what, call", [
    ("KPIs", lambda core: core.read_kpis(["RM.RegisteredSubNbrMean"], [1])),
    ("facts by OID", lambda core: core.facts()),
])
def test_what_a_profile_reads_over_snmp_is_an_error_naming_it(
        tmp_path: Path, what: str, call: object) -> None:
    """The gNodeB's rule and message: a ConfigError naming what needs SNMP, not a crash."""
    write_input(tmp_path, "ssh-core.yaml", SSH_CORE_PROFILE.replace(
        "facts: {}", "facts:\n  vendor: {oid: 1.3.6.1.2.1.47.1.1.1.1.12.1}"))
    core = Core("core1", load_profile("ssh-core", [tmp_path]), snmp=None)
    assert callable(call)
    with pytest.raises(ConfigError, match=rf"core1: the profile reads {what} over SNMP, and "
                                          r"the lab gives no SNMP settings"):
        asyncio.run(call(core))
