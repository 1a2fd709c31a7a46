"""The profile language for real equipment: value maps and scale (both ways), separate read
and write encodings (the snapshot restore writes back through the write one), `{index}` from a
table walk, SNMP-only devices, and peak() on a profile without cell parameters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from drivers.gnb import Gnb
from drivers.profile import load_profile
from drivers.profile_values import CellParam, Encoding, index_from_walk
from drivers.transport.snmp import SnmpTarget, SnmpTransport
from harness.base.errors import CommandFailed, ConfigError, HarnessError
from harness.base.secrets import Secret
from harness.cli import cli
from harness.engine.snapshot import RestorePolicy, _CellRestore, _restore_cell
from harness.engine.trial import peak_of_config
from tests.input_files import write_input
from tests.sim_equipment import SimEquipment, sim_up

# The simulated gNodeB's cell 1 (FAST_LAB: 20 MHz at 30 kHz = 51 PRB) read as a PRB count
# (RRU.PrbAvailDl, simPmPrbAvailDl) and mapped to MHz; written in MHz by the CLI (`write: {}`).
PRB_PROFILE = """\
name: prb-gnb
role: gnodeb
facts:
  uptime: {oid: 1.3.6.1.2.1.1.3.0}
  serial: {oid: 1.3.6.1.2.1.47.1.1.1.1.11.1}
cell_index: {column: 1.3.6.1.4.1.32473.1.2.1.1}
cell_params:
  bandwidth_mhz:
    oid: "1.3.6.1.4.1.32473.1.3.1.9.{index}"
    map: {24: 10, 51: 20, 106: 40, 273: 100}
    write: {}
  scs_khz: {oid: "1.3.6.1.4.1.32473.1.2.1.3.{index}", scale: 1000, write: {scale: 1}}
actions:
  set_cell:
    commands:
      bandwidth_mhz: "set cell {cell} bandwidth {value}"
"""


def test_a_value_map_reads_and_writes_both_ways() -> None:
    modulation = Encoding(map={8: "256qam", 6: "64qam", 4: "16qam"})
    assert modulation.decode(8) == "256qam" and modulation.decode("6") == "64qam"
    assert modulation.encode("256qam") == 8
    with pytest.raises(KeyError):
        modulation.decode(7)
    tenths = Encoding(scale=0.1)
    assert tenths.decode(235) == "23.5" and tenths.encode(23.5) == 235
    assert Encoding(scale=1000).decode(30) == 30000


def test_a_map_that_is_not_one_to_one_is_refused_where_it_stands(tmp_path: Path) -> None:
    text = PRB_PROFILE.replace("106: 40, 273: 100", "106: 40, 273: 40")
    write_input(tmp_path, "prb-gnb.yaml", text)
    with pytest.raises(ConfigError, match=r"prb-gnb.yaml:\d+:\d+: .*both map to 40"):
        load_profile("prb-gnb", [tmp_path])


def test_an_unknown_device_value_is_an_error_naming_the_map() -> None:
    param = CellParam(oid="1.2.3.{cell}", map={8: "256qam"})
    with pytest.raises(CommandFailed, match=r"sent 9.*8=256qam.*cell_params.modulation_dl"):
        param.read("gnb1", "modulation_dl", 9)
    with pytest.raises(ValueError, match="64qam"):
        param.written("modulation_dl", "64qam")


def test_index_from_a_table_walk_differs_from_the_cell_number() -> None:
    # a vendor cell table indexed by a board/slot pair, its cellId column holding the number
    rows = {"1.1": 11, "1.2": 12, "2.1": 3}
    assert index_from_walk(rows, 3) == "2.1"
    assert index_from_walk(rows, 4) is None


def test_peak_without_cell_parameters_is_an_error_naming_them() -> None:
    # the crash: a KeyError('layers_dl') escaped as a defect of the harness
    with pytest.raises(HarnessError, match="layers_dl"):
        peak_of_config({"bandwidth_mhz": 100, "scs_khz": 30}, "dl")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEquipment]:
    with sim_up(tmp_path_factory.mktemp("sim")) as equipment:
        yield equipment


def _gnb(sim: SimEquipment, folder: Path) -> Gnb:
    from drivers.transport.ssh import SshTarget, SshTransport

    gnb = sim.state["devices"]["gnb1"]
    snmp = SnmpTransport(SnmpTarget(host="127.0.0.1", port=gnb["snmp"]["port"], version="2c",
                                    community=Secret(gnb["snmp"]["community"]), timeout_s=2,
                                    retries=1), device="gnb1")
    ssh = SshTransport(SshTarget(host="127.0.0.1", port=gnb["ssh"]["port"],
                                 user=gnb["ssh"]["user"], password=Secret(gnb["ssh"]["password"]),
                                 known_hosts=str(sim.known_hosts)), device="gnb1")
    write_input(folder, "prb-gnb.yaml", PRB_PROFILE)
    return Gnb("gnb1", load_profile("prb-gnb", [folder]), snmp=snmp, ssh=ssh)


@pytest.mark.e2e
def test_restore_writes_back_through_the_write_encoding(sim: SimEquipment,
                                                        tmp_path: Path) -> None:
    """Read as PRBs (51 → 20 MHz), set in MHz; the restore writes "bandwidth 20", not 51."""
    async def go() -> list[dict[str, int | str]]:
        gnb = _gnb(sim, tmp_path)
        try:
            before = await gnb.cell_config(1)
            await gnb.set_cell(1, {"bandwidth_mhz": 40})
            changed = await gnb.cell_config(1)
            state = _CellRestore("gnb1", 1, dict(before), dict(changed))
            await _restore_cell(gnb, state, {"bandwidth_mhz"},
                                RestorePolicy(tries=2, delays_s=(0.0,)), lambda *_: None)
            assert state.verified, state.reason
            return [before, changed, await gnb.cell_config(1)]
        finally:
            await gnb.close()

    before, changed, after = asyncio.run(go())
    assert before == {"bandwidth_mhz": 20, "scs_khz": 30000}
    assert changed["bandwidth_mhz"] == 40 and after == before


SNMP_ONLY_LAB = """\
name: snmp-only
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    host: 127.0.0.1
    snmp: {{version: 2c, port: {port}, community: "${{env:RH_TEST_COMMUNITY}}", timeout: 1s,
           retries: 0}}
"""


@pytest.mark.e2e
def test_snmp_only_device_is_reachable_with_its_snmp_facts(sim: SimEquipment,
                                                           tmp_path: Path) -> None:
    """No SSH settings in the lab: nothing tries port 22; facts come from SNMP alone."""
    gnb = sim.state["devices"]["gnb1"]
    lab = write_input(tmp_path, "lab.yaml", SNMP_ONLY_LAB.format(port=gnb["snmp"]["port"]))
    result = CliRunner().invoke(cli, ["devices", "--lab", str(lab), "--json"],
                                env={"RH_TEST_COMMUNITY": gnb["snmp"]["community"]})
    data = json.loads(result.stdout)
    row = data["devices"][0]
    assert result.exit_code == 0, result.output
    assert row["reachable"] and set(row["transports"]) == {"snmp"}
    assert row["facts"]["serial"] == "SIM-0001" and row["facts"]["firmware"]


SSH_ONLY_PROFILE = """\
name: ssh-gnb
role: gnodeb
facts: {}
command_facts:
  firmware: {command: show version, parser: {keyvalue: ":"}, field: Software version}
  serial: {command: show version, parser: {keyvalue: ":"}, field: Serial number}
"""

SSH_ONLY_LAB = """\
name: ssh-only
profiles: profiles
devices:
  gnb1:
    role: gnodeb
    profile: ssh-gnb
    host: 127.0.0.1
    ssh: {{port: {port}, user: {user}, password: "${{env:RH_TEST_PASSWORD}}",
          known_hosts: {known_hosts}}}
"""


@pytest.mark.e2e
def test_ssh_only_device_is_reachable_with_its_command_facts(sim: SimEquipment,
                                                             tmp_path: Path) -> None:
    """No SNMP settings in the lab: no SNMP row, facts from `show version` over SSH."""
    ssh = sim.state["devices"]["gnb1"]["ssh"]
    (tmp_path / "profiles").mkdir()
    write_input(tmp_path / "profiles", "ssh-gnb.yaml", SSH_ONLY_PROFILE)
    lab = write_input(tmp_path, "lab.yaml", SSH_ONLY_LAB.format(
        port=ssh["port"], user=ssh["user"], known_hosts=sim.known_hosts))
    result = CliRunner().invoke(cli, ["devices", "--lab", str(lab), "--json"],
                                env={"RH_TEST_PASSWORD": ssh["password"]})
    row = json.loads(result.stdout)["devices"][0]
    assert result.exit_code == 0, result.output
    assert row["reachable"] and set(row["transports"]) == {"ssh"}
    assert row["facts"]["serial"] == "SIM-0001" and row["facts"]["firmware"] == "1.0.0"


@pytest.mark.e2e
def test_peak_at_run_time_on_a_profile_without_cell_parameters_names_them(
        sim: SimEquipment, tmp_path: Path) -> None:
    """Reached at run time anyway (a driver plugin's device): a HarnessError naming the
    missing parameters, which the trial turns into ERROR — not a KeyError traceback."""
    from harness.base.loader import load_model
    from harness.config.lab import Lab
    from harness.engine.bench import Bench
    from harness.engine.trial import cell_peak

    lab = load_model(write_input(tmp_path, "lab.yaml", SNMP_ONLY_LAB.format(port=1)), Lab)

    async def go() -> None:
        gnb = _gnb(sim, tmp_path)
        gnb.profile = gnb.profile.model_copy(update={"cell_params": {}})
        bench = Bench(lab=lab)
        bench.gnbs["gnb1"] = gnb
        try:
            await cell_peak(bench, "gnb1", 1, "dl")
        finally:
            await gnb.close()

    with pytest.raises(HarnessError, match=r"peak\(gnb1\).*prb-gnb.*layers_dl.*cell_params"):
        asyncio.run(go())
