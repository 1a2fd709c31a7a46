"""MIB names: a vendor MIB compiled offline with pysmi, cached, resolved in profiles."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from drivers.mibs import MibResolver, is_mib_name
from drivers.profile import load_profile
from harness.base.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "mibs"
PM = "1.3.6.1.4.1.32473.99.1"


@pytest.fixture
def mib_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "mibs"
    folder.mkdir()
    shutil.copy(FIXTURES / "VENDOR-PM-MIB.txt", folder)
    return folder


def test_names_resolve_to_numeric_oids(mib_dir: Path, tmp_path: Path) -> None:
    resolver = MibResolver([mib_dir], cache_dir=tmp_path / "cache")
    assert resolver.resolve("VENDOR-PM-MIB::dlThroughput.1") == f"{PM}.1.1.2.1"
    assert resolver.resolve("VENDOR-PM-MIB::dlVolume.{cell}") == f"{PM}.1.1.3.{{cell}}"
    assert resolver.resolve("VENDOR-PM-MIB::pmSiteName.0") == f"{PM}.2.0"
    assert resolver.resolve("VENDOR-PM-MIB::cellDown") == "1.3.6.1.4.1.32473.99.2.1"
    symbol = resolver.symbol("VENDOR-PM-MIB", "dlThroughput")
    assert (symbol.nodetype, symbol.syntax, symbol.units) == ("column", "Gauge32", "kbit/s")


def test_compiled_once_then_cached_and_recompiled_when_the_source_changes(
        mib_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    MibResolver([mib_dir], cache_dir=cache).resolve("VENDOR-PM-MIB::dlVolume")
    compiled = cache / "VENDOR-PM-MIB.json"
    first = compiled.stat().st_mtime_ns
    MibResolver([mib_dir], cache_dir=cache).resolve("VENDOR-PM-MIB::dlVolume")
    assert compiled.stat().st_mtime_ns == first
    source = mib_dir / "VENDOR-PM-MIB.txt"
    source.write_text(source.read_text().replace("{ pmObjects 2 }", "{ pmObjects 7 }"))
    fresh = MibResolver([mib_dir], cache_dir=cache)
    assert fresh.resolve("VENDOR-PM-MIB::pmSiteName.0") == f"{PM}.7.0"


def test_missing_module_unknown_name_and_broken_file_are_config_errors(
        mib_dir: Path, tmp_path: Path) -> None:
    resolver = MibResolver([mib_dir], cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match=r"NOPE-MIB not found.*mibs"):
        resolver.resolve("NOPE-MIB::thing.0")
    with pytest.raises(ConfigError, match=r"no object named 'dlThruput'.*dlThroughput"):
        resolver.resolve("VENDOR-PM-MIB::dlThruput.1")
    (mib_dir / "BROKEN-MIB.txt").write_text("BROKEN-MIB DEFINITIONS ::= BEGIN\n x y z\nEND\n")
    with pytest.raises(ConfigError, match=r"BROKEN-MIB.*does not compile"):
        resolver.resolve("BROKEN-MIB::x")
    with pytest.raises(ConfigError, match="not a MIB name"):
        resolver.resolve("dlThroughput")
    assert is_mib_name("IF-MIB::ifHCInOctets.{index}") and not is_mib_name("1.3.6.1")


def test_profile_with_mib_names_loads_with_numeric_oids(mib_dir: Path, tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "vendor-gnb.yaml").write_text(
        "name: vendor-gnb\nrole: gnodeb\n"
        "facts:\n  uptime: {oid: 1.3.6.1.2.1.1.3.0}\n"
        "  description: {oid: 'VENDOR-PM-MIB::pmSiteName.0'}\n"
        "cells_oid: VENDOR-PM-MIB::pmCellIndex\n"
        "kpis:\n"
        "  DRB.UEThpDl: {oid: 'VENDOR-PM-MIB::dlThroughput.{cell}', type: gauge}\n"
        "  DRB.PdcpSduVolumeDL: {oid: 'VENDOR-PM-MIB::dlVolume.{cell}', type: counter64}\n"
        "alarms:\n  traps:\n    VENDOR-PM-MIB::cellDown: {severity: major, text: cell down}\n",
        encoding="utf-8")
    profile = load_profile("vendor-gnb", [profiles],
                           mibs=MibResolver([mib_dir], cache_dir=tmp_path / "cache"))
    assert profile.kpis["DRB.UEThpDl"].oid == f"{PM}.1.1.2.{{cell}}"
    assert profile.facts["description"].oid == f"{PM}.2.0"
    assert profile.cells_oid == f"{PM}.1.1.1"
    assert profile.alarms is not None
    assert profile.alarms.traps["1.3.6.1.4.1.32473.99.2.1"].severity == "major"


def test_profile_names_default_to_a_mibs_folder_beside_the_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAN_HARNESS_MIB_CACHE", str(tmp_path / "cache"))
    profiles = tmp_path / "profiles"
    (profiles / "mibs").mkdir(parents=True)
    shutil.copy(FIXTURES / "VENDOR-PM-MIB.txt", profiles / "mibs")
    (profiles / "p.yaml").write_text(
        "name: p\nrole: gnodeb\nfacts: {uptime: {oid: 1.3.6.1.2.1.1.3.0}}\n"
        "kpis: {X: {oid: 'VENDOR-PM-MIB::dlVolume.{cell}', type: counter64}}\n")
    assert load_profile("p", [profiles]).kpis["X"].oid == f"{PM}.1.1.3.{{cell}}"
    (profiles / "q.yaml").write_text(
        "name: q\nrole: gnodeb\nfacts: {uptime: {oid: 1.3.6.1.2.1.1.3.0}}\n"
        "kpis: {X: {oid: 'OTHER-MIB::x.{cell}', type: gauge}}\n")
    with pytest.raises(ConfigError, match=r"q\.yaml.*OTHER-MIB not found"):
        load_profile("q", [profiles])
