"""Standard MIB names resolve offline with no mibs folder, from the modules pysnmp and the
pysnmp-mibs package ship compiled (SNMPv2-MIB's system group, IF-MIB, ENTITY-MIB,
HOST-RESOURCES-MIB…); a lab folder's file for the same module still wins; a module no package
ships (a vendor's) is an error that says where to put it and which modules need no file.
Fails on the old code, which knew only the files of a mibs folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.mibs import MibResolver
from drivers.profile import load_profile
from harness.base.errors import ConfigError
from tests.test_e2e_smoke import ROOT

# Our own tiny module named like the standard one (not the standard text): sysDescr placed
# under the documentation enterprise, so a resolution shows which definition was used.
LAB_SNMPV2_MIB = """\
SNMPv2-MIB DEFINITIONS ::= BEGIN

IMPORTS
    OBJECT-TYPE, enterprises
        FROM SNMPv2-SMI
    DisplayString
        FROM SNMPv2-TC;

labSystem OBJECT IDENTIFIER ::= { enterprises 32473 77 }

sysDescr OBJECT-TYPE
    SYNTAX      DisplayString
    MAX-ACCESS  read-only
    STATUS      current
    DESCRIPTION "A lab's own description object."
    ::= { labSystem 1 }

END
"""


def test_standard_names_resolve_with_no_mibs_folder(tmp_path: Path) -> None:
    resolver = MibResolver([], cache_dir=tmp_path / "cache")
    assert resolver.resolve("SNMPv2-MIB::sysDescr.0") == "1.3.6.1.2.1.1.1.0"
    assert resolver.resolve("SNMPv2-MIB::sysUpTime.0") == "1.3.6.1.2.1.1.3.0"
    assert resolver.resolve("SNMPv2-MIB::sysName.0") == "1.3.6.1.2.1.1.5.0"
    assert resolver.resolve("SNMPv2-MIB::sysORDescr.{index}") == "1.3.6.1.2.1.1.9.1.3.{index}"
    assert resolver.resolve("SNMPv2-MIB::coldStart") == "1.3.6.1.6.3.1.1.5.1"
    assert resolver.resolve("SNMP-FRAMEWORK-MIB::snmpEngineID.0") == "1.3.6.1.6.3.10.2.1.1.0"
    symbol = resolver.symbol("SNMPv2-MIB", "sysUpTime")
    assert (symbol.nodetype, symbol.syntax) == ("scalar", "TimeTicks")
    with pytest.raises(ConfigError, match=r"no object named 'sysDescription'.*sysDescr"):
        resolver.resolve("SNMPv2-MIB::sysDescription.0")
    assert not (tmp_path / "cache").exists()  # nothing compiled: pysnmp's copy is used


def test_a_profile_with_standard_names_loads_with_no_mibs_folder(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    monkeypatch.setenv("RAN_HARNESS_MIB_CACHE", str(tmp_path / "cache"))
    (tmp_path / "p.yaml").write_text(
        "name: p\nrole: gnodeb\n"
        "facts:\n  uptime: {oid: 'SNMPv2-MIB::sysUpTime.0'}\n"
        "  description: {oid: 'SNMPv2-MIB::sysDescr.0'}\n"
        "kpis: {X: {oid: '1.3.6.1.4.1.32473.1.{cell}', type: gauge}}\n", encoding="utf-8")
    profile = load_profile("p", [tmp_path])
    assert profile.facts["uptime"].oid == "1.3.6.1.2.1.1.3.0"
    assert profile.facts["description"].oid == "1.3.6.1.2.1.1.1.0"


def test_a_lab_folder_file_wins_over_the_bundled_module(tmp_path: Path) -> None:
    folder = tmp_path / "mibs"
    folder.mkdir()
    (folder / "SNMPv2-MIB.txt").write_text(LAB_SNMPV2_MIB, encoding="utf-8")
    resolver = MibResolver([folder], cache_dir=tmp_path / "cache")
    assert resolver.resolve("SNMPv2-MIB::sysDescr.0") == "1.3.6.1.4.1.32473.77.1.0"
    with pytest.raises(ConfigError, match="no object named 'sysUpTime'"):
        resolver.resolve("SNMPv2-MIB::sysUpTime.0")  # the lab's module, not pysnmp's


def test_the_generic_profiles_standard_objects_resolve_with_no_mibs_folder(tmp_path: Path
                                                                           ) -> None:
    # the objects drivers/profiles/generic-snmp.yaml reads by number, by their names
    resolver = MibResolver([], cache_dir=tmp_path / "cache")
    assert resolver.resolve("IF-MIB::ifHCInOctets.{index}") == "1.3.6.1.2.1.31.1.1.1.6.{index}"
    assert resolver.resolve("IF-MIB::ifDescr.{index}") == "1.3.6.1.2.1.2.2.1.2.{index}"
    assert resolver.resolve("ENTITY-MIB::entPhysicalMfgName.1") == "1.3.6.1.2.1.47.1.1.1.1.12.1"
    assert resolver.resolve("ENTITY-MIB::entPhysicalModelName.1") == (
        "1.3.6.1.2.1.47.1.1.1.1.13.1")
    assert resolver.resolve("HOST-RESOURCES-MIB::hrProcessorLoad.{index}") == (
        "1.3.6.1.2.1.25.3.3.1.2.{index}")
    assert resolver.symbol("IF-MIB", "ifHCInOctets").syntax == "Counter64"
    assert not (tmp_path / "cache").exists()  # nothing compiled


def test_a_vendor_module_needs_its_file_and_the_error_says_so(tmp_path: Path) -> None:
    resolver = MibResolver([], cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError) as info:
        resolver.resolve("ACME-PM-MIB::pmDlUeThroughput.{cell}")
    text = str(info.value)
    assert "MIB module ACME-PM-MIB not found" in text and "mibs:" in text
    assert "vendor" in text and "IF-MIB" in text and "resolve with no file" in text


def test_every_name_in_the_shipped_profiles_comments_is_the_oid_written_there(tmp_path: Path
                                                                               ) -> None:
    """The shipped profiles write numeric OIDs with the standard name in a comment
    (`{oid: 1.3.6.1.2.1.1.1.0}  # SNMPv2-MIB::sysDescr.0`): each name resolves, offline, to
    exactly the number beside it."""
    import re

    resolver = MibResolver([], cache_dir=tmp_path / "cache")
    pair = re.compile(r"oid: \"?(\d+(?:\.\d+)*)(?:\.\{(?:cell|index)\})?\"?.*#\s*"
                      r"([A-Za-z][A-Za-z0-9-]*::[A-Za-z][A-Za-z0-9]*(?:\.\d+)?)")
    checked = 0
    for profile in (ROOT / "drivers" / "profiles").glob("*.yaml"):
        for line in profile.read_text(encoding="utf-8").splitlines():
            found = pair.search(line)
            if found is None:
                continue
            number, name = found.groups()
            assert resolver.resolve(name) == number, (profile.name, line)
            checked += 1
    assert checked >= 10
