"""The simulated gNodeB's management plane as state: firmware images, flash paths, alarms,
faults, PM counters, health, the MIB file and the profile, the management CLI.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from drivers.mibs import MibResolver
from harness.base.errors import ConfigError
from harness.simlab.alarms import AlarmCondition, AlarmTable, AlarmType, Severity
from harness.simlab.cli import GnbCli
from harness.simlab.firmware import FirmwareError, build_image, parse_image
from harness.simlab.gnb import CellConfig, GnbIdentity, VirtualGnb
from harness.simlab.mgmt import TrapTarget
from harness.simlab.mib import snapshot
from harness.simlab.oids import dotted
from harness.simlab.sftp_server import PathEscape, resolve_in_root
from tests.simlab_mgmt_tools import (
    IF_HC_IN,
    IF_HC_OUT,
    LOCAL,
    PLMN_DL_OCTETS,
    PM_DL_OCTETS,
    SENSOR_BOARD,
    SIM,
    TRAPS,
)

ROOT = Path(__file__).resolve().parent.parent


def make_gnb(plmns: tuple[str, ...] = ("452-02",)) -> VirtualGnb:
    return VirtualGnb(GnbIdentity(name="gnb-unit", serial="SIM-U-1", firmware="1.0.0"),
                      [CellConfig(id=1, plmns=plmns), CellConfig(id=2, bandwidth_mhz=20)])


# ---- firmware image format, flash paths -------------------------------------------------------

def test_firmware_image_round_trip_and_every_corruption_is_refused() -> None:
    image = build_image("2.1.0-rc1", b"\x00payload" * 1000)
    parsed = parse_image(image)
    assert (parsed.version, parsed.model, parsed.size) == ("2.1.0-rc1", "SimGNB-1", len(image))
    flipped = bytearray(image)
    flipped[len(image) // 2] ^= 0x01
    bad_header = bytearray(image)
    bad_header[60] ^= 0x20  # inside the model/version fields
    cases = {
        "corrupt": bytes(flipped), "truncated": image[:-100], "padded": image + b"\0",
        "bad magic": b"XXXXXXXX" + image[8:], "too short": image[:20],
        "header": bytes(bad_header),
    }
    for what, data in cases.items():
        with pytest.raises(FirmwareError) as info:
            parse_image(data)
        assert str(info.value), what
    with pytest.raises(FirmwareError, match="corrupt"):
        parse_image(bytes(flipped))
    with pytest.raises(FirmwareError, match="OtherGNB"):
        parse_image(build_image("2.0.0", b"x", model="OtherGNB"))
    with pytest.raises(ValueError):
        build_image("bad version!", b"x")


def test_flash_paths_never_leave_the_root(tmp_path: Path) -> None:
    root = tmp_path / "flash"
    (root / "sub").mkdir(parents=True)
    assert resolve_in_root(root, "/fw.img") == root.resolve() / "fw.img"
    assert resolve_in_root(root, "sub/../fw.img") == root.resolve() / "fw.img"
    for escape in ("../x", "/../x", "sub/../../x", "..", "a/b/../../../etc/passwd"):
        with pytest.raises(PathEscape):
            resolve_in_root(root, escape)
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(PathEscape):
        resolve_in_root(root, "link/outside")


# ---- alarms, faults, PM: the pure state ---------------------------------------------------------

def test_alarm_table_raises_clears_and_notifies() -> None:
    table = AlarmTable(lambda: 4242)
    seen: list[str] = []
    table.subscribe(lambda note: seen.append(f"{note.name}:{note.severity.name}"))
    key = (AlarmType.CELL_DOWN, "cell=1")
    table.sync({key: AlarmCondition(Severity.MAJOR, "cell 1 down")})
    table.sync({key: AlarmCondition(Severity.MAJOR, "cell 1 down, other text")})  # no change
    (alarm,) = table.active()
    assert (alarm.id, alarm.severity, alarm.raised_ticks) == (1, Severity.MAJOR, 4242)
    table.sync({})
    assert table.active() == []
    assert seen == ["simCellDown:MAJOR", "simCellUp:CLEARED"]
    with pytest.raises(ValueError):
        Severity.parse("cleared")


def test_fault_api_refuses_bad_input() -> None:
    gnb = make_gnb()
    bad: list[tuple[str, float | None, dict[str, object]]] = [
        ("no-such-kind", None, {}), ("degrade", 0, {}), ("degrade", -1, {}),
        ("degrade", None, {"factor": 0}), ("degrade", None, {"factor": "lots"}),
        ("loss", None, {"ratio": 1.5}), ("cell-outage", None, {"cell": 9}),
        ("snmp-silent", None, {"cell": 1}), ("alarm", None, {"severity": "cleared"}),
    ]
    for kind, duration, params in bad:
        with pytest.raises(ConfigError):
            gnb.inject_fault(kind, duration, **params)
    assert gnb.active_faults() == []
    with pytest.raises(ConfigError):
        gnb.clear_faults("no-such-kind")


def test_fault_effects_add_up_clear_and_expire() -> None:
    gnb = make_gnb()
    cli = GnbCli(gnb)
    cell = gnb.cells[1]
    full = cell.config.capacity_bps("dl")
    gnb.inject_fault("degrade", factor=0.5)
    gnb.inject_fault("degrade", cell=1, factor="0.5")
    assert cell.downlink.limiter.rate_bps == pytest.approx(full * 0.25)
    assert gnb.cells[2].config.quality == pytest.approx(0.5)
    gnb.inject_fault("loss", percent=10, cell=1)
    gnb.inject_fault("latency", delay_ms=20, jitter_ms=2, cell=1)
    assert [cell.config.loss, cell.config.core_delay_ms, cell.config.jitter_ms] == pytest.approx(
        [0.1, 21.0, 2.0])
    faults = gnb.active_faults()
    assert [f["kind"] for f in faults] == ["degrade", "degrade", "loss", "latency"]
    assert faults[2]["params"] == {"ratio": pytest.approx(0.1), "cell": 1}
    json.dumps(faults)  # the control channel sends them as JSON
    assert gnb.clear_faults("degrade") == 2
    assert cell.config.quality == 1.0 and cell.downlink.limiter.rate_bps == pytest.approx(full)
    # An operator change made during a fault survives its end.
    assert cli("set cell 1 delay 5")[1] == 0
    assert gnb.clear_faults() == 2
    assert (cell.config.loss, cell.config.core_delay_ms, cell.config.jitter_ms) == (0, 5, 0)
    # Outage: the cell carries nothing and is down; an alarm with its own text and source.
    gnb.inject_fault("cell-outage", 0.05, cell=1)
    gnb.inject_fault("alarm", 0.05, severity="minor", text="door open", source="cabinet")
    assert cell.downlink.limiter.rate_bps == 0 and not gnb.mgmt.cell_oper_up(1)
    active = {(a.type, a.source): a for a in gnb.mgmt.alarms.active()}
    assert active[(AlarmType.CELL_DOWN, "cell=1")].severity is Severity.MAJOR
    assert active[(AlarmType.OTHER, "cabinet")].severity is Severity.MINOR
    time.sleep(0.06)
    gnb.tick()
    assert gnb.active_faults() == [] and gnb.mgmt.alarms.active() == []
    assert cell.downlink.limiter.rate_bps == pytest.approx(full)
    # Link down takes every cell out of service; overheat trips the temperature alarm.
    gnb.inject_fault("link-down")
    gnb.inject_fault("overheat", celsius=50)
    sources = sorted((a.type.name, a.source) for a in gnb.mgmt.alarms.active())
    assert sources == [("CELL_DOWN", "cell=1"), ("CELL_DOWN", "cell=2"),
                       ("HIGH_TEMPERATURE", "sensor=board"), ("HIGH_TEMPERATURE", "sensor=radio1"),
                       ("HIGH_TEMPERATURE", "sensor=radio2"), ("LINK_DOWN", "if=n3")]
    assert all(c.downlink.limiter.rate_bps == 0 for c in gnb.cells.values())
    gnb.clear_faults()
    assert gnb.mgmt.alarms.active() == []


def test_pm_counters_transport_blocks_and_plmn_split() -> None:
    gnb = make_gnb(plmns=("452-01", "452-02"))
    GnbCli(gnb)("set cell 1 bler 0.2")
    cell = gnb.cells[1]
    cell.lane("452-01", "dl").count(300_000_000)
    cell.lane("452-02", "dl").count(100_000_000)
    cell.lane("452-02", "ul").count(50_000)
    cell.tick()
    gnb.tick()
    oids = snapshot(gnb)

    def get(text: str, **idx: int) -> int | str:
        return oids[tuple(int(p) for p in text.format(**idx).split("."))][1]

    assert get(PM_DL_OCTETS, cell=1) == 400_000_000
    assert get(PLMN_DL_OCTETS, plmn=1, cell=1) == 300_000_000
    assert get(PLMN_DL_OCTETS, plmn=2, cell=1) == 100_000_000
    assert get(SIM + ".4.1.2.{plmn}.{cell}", plmn=2, cell=1) == "452-02"
    assert get(IF_HC_OUT, index=101) == 400_000_000 == get(IF_HC_IN, index=2)
    assert get(IF_HC_IN, index=101) == 50_000
    # Transport blocks: bits / (peak × slot), × 1 / (1 − BLER); errors are the extra ones.
    tb_bits = cell.config.peak_mbps("dl") * 1e6 * 0.5e-3
    total, errors = get(SIM + ".3.1.15.{cell}", cell=1), get(SIM + ".3.1.16.{cell}", cell=1)
    assert isinstance(total, int) and isinstance(errors, int)
    assert total == pytest.approx(400_000_000 * 8 / tb_bits / 0.8, abs=1)
    assert errors / total == pytest.approx(0.2, abs=0.002)
    # No relay reports flows here: a cell that carried bytes counts one UE.
    assert get(SIM + ".3.1.12.{cell}", cell=1) == 1 and get(SIM + ".3.1.12.{cell}", cell=2) == 0
    assert get(SIM + ".2.1.17.{cell}", cell=1) == 200_000  # simCellBler, ppm


def test_health_follows_load() -> None:
    gnb = make_gnb()
    health = gnb.mgmt.health
    idle = (health.cpu_fraction(), health.memory_used_kib)
    for _ in range(30):  # 30 s of a saturated cell 1
        health.tick(1.0, 1.0, {1: 1.0, 2: 0.0}, flows=8)
    assert health.cpu_fraction() > idle[0] + 0.4 and health.memory_used_kib > idle[1]
    temps = health.temperatures()
    assert temps["radio1"] > temps["radio2"] + 15 and temps["board"] > 50
    oids = snapshot(gnb)
    load = oids[(1, 3, 6, 1, 2, 1, 25, 3, 3, 1, 2, 196608)][1]
    assert isinstance(load, int) and load > 45
    board = oids[tuple(int(p) for p in SENSOR_BOARD.split("."))][1]
    assert board == round(temps["board"] * 10)


# ---- the MIB file and the profile -------------------------------------------------------------

def compiled_mib(tmp: Path) -> dict[str, dict[str, object]]:
    resolver = MibResolver([ROOT / "harness/simlab/mibs"], cache_dir=tmp)
    resolver.symbol("RAN-HARNESS-SIM-MIB", "ranHarnessSimMIB")  # compiles it with pysmi
    data: dict[str, dict[str, object]] = json.loads(
        (tmp / "RAN-HARNESS-SIM-MIB.json").read_text("utf-8"))
    return {name: node for name, node in data.items() if isinstance(node, dict) and "oid" in node}


def test_mib_file_compiles_and_describes_every_served_object(tmp_path: Path) -> None:
    pytest.importorskip("pysmi")
    nodes = compiled_mib(tmp_path)
    readable = {str(n["oid"]): name for name, n in nodes.items()
                if n.get("maxaccess") == "read-only"}
    gnb = make_gnb(plmns=("452-01", "452-02"))
    gnb.inject_fault("alarm", text="x")
    gnb.mgmt.add_trap_target(TrapTarget(LOCAL, 162))
    served = {dotted(oid) for oid in snapshot(gnb) if dotted(oid).startswith(SIM + ".")}
    by_object: dict[str, set[str]] = {}
    for oid in served:
        column = next((oid[:i] for i in range(len(oid), 0, -1)
                       if oid[i - 1:i] == "." and oid[:i - 1] in readable), None)
        assert column is not None, f"{oid} is served but not in RAN-HARNESS-SIM-MIB"
        by_object.setdefault(readable[column[:-1]], set()).add(oid)
    assert set(by_object) == set(readable.values())  # every readable object is served
    notifications = {n["oid"] for n in nodes.values() if n.get("class") == "notificationtype"}
    assert notifications == set(TRAPS.values())


def test_profile_kpis_read_objects_of_the_mib(tmp_path: Path) -> None:
    pytest.importorskip("pysmi")
    nodes = compiled_mib(tmp_path)
    objects = {str(n["oid"]) for n in nodes.values()
               if n.get("nodetype") in ("column", "scalar")}
    profile = yaml.safe_load((ROOT / "drivers/profiles/sim-gnb.yaml").read_text("utf-8"))
    oids = snapshot(make_gnb())
    for name, kpi in profile["kpis"].items():
        oid = str(kpi["oid"]).replace("{cell}", "1")
        assert tuple(int(p) for p in oid.split(".")) in oids, name
        if oid.startswith(SIM + "."):
            assert any(oid.startswith(o + ".") for o in objects), name


# ---- management CLI (no servers: a reboot happens at once) -------------------------------------

def test_cli_firmware_alarms_and_trap_targets(tmp_path: Path) -> None:
    gnb = make_gnb()
    gnb.mgmt.flash_dir = tmp_path
    cli = GnbCli(gnb)
    notes: list[str] = []
    gnb.mgmt.alarms.subscribe(lambda n: notes.append(n.name))
    (tmp_path / "good.img").write_bytes(build_image("3.0.0", b"new firmware"))
    (tmp_path / "bad.img").write_bytes(build_image("3.0.1", b"new firmware")[:-1] + b"?")
    out, status = cli("install firmware bad.img")
    assert status == 1 and "refused" in out and "checksum" in out and "1.0.0 stays" in out
    assert gnb.identity.firmware == "1.0.0"
    assert notes == ["simFirmwareInstallResult"]
    assert "firmware image bad.img refused" in cli("show alarms")[0]
    assert cli("install firmware ../good.img")[1] == 1
    assert cli("install firmware missing.img")[1] == 1
    out, status = cli("install firmware good.img")
    assert status == 0 and "3.0.0 verified" in out
    assert gnb.identity.firmware == "3.0.0" and gnb.mgmt.boot_count == 2
    assert cli("show alarms")[0] == "No active alarms\n"  # cleared by the reboot
    assert "good.img installed" in cli("show firmware")[0]
    assert notes[-2:] == ["coldStart", "simFirmwareInstallResult"]
    assert cli("set snmp trap-target 127.0.0.1 1162 v3") == (
        "Trap target 127.0.0.1:1162 (SNMP v3) set\n", 0)
    assert "127.0.0.1" in cli("show snmp trap-targets")[0]
    for wrong in ("set snmp trap-target 127.0.0.1 99999", "set snmp trap-target h 162 v1",
                  "set snmp trap-target bad/host 162", "no snmp trap-target 127.0.0.1 1"):
        out, status = cli(wrong)
        assert status == 1 and out.startswith("% "), wrong
    assert cli("no snmp trap-target 127.0.0.1 1162")[1] == 0
    assert gnb.mgmt.trap_targets() == []
    assert "mgmt0" not in cli("help")[0] and "install firmware FILE" in cli("help")[0]
