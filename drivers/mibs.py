"""MIB names in profiles: vendor MIB files compiled once with pysmi, resolved to numeric OIDs.

A lab keeps its vendors' MIB text files in a folder (`mibs:` in lab.yaml). When a profile says
`VENDOR-PM-MIB::dlThroughput.{cell}`, the module is compiled with pysmi into JSON in a cache
directory (recompiled only when a source file changes), and the name becomes its numeric OID at
profile load time. Nothing here runs on the polling path, and nothing reaches the network:
SNMPv2-SMI, SNMPv2-TC and SNMPv2-CONF ship with ran-harness (`drivers/smi/`), and a module
with no text file anywhere falls back to the standard modules shipped compiled by pysnmp and
the pysnmp-mibs package (SNMPv2-MIB, IF-MIB, ENTITY-MIB, HOST-RESOURCES-MIB, IP-MIB… about 270
IETF and IANA modules; see `drivers/transport/builtin_mibs.py`). A lab folder's file always
wins over a bundled module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from drivers.transport.builtin_mibs import builtin_mib_modules, builtin_mib_symbols
from harness.base.errors import ConfigError

__all__ = ["MIB_NAME", "OID_OR_NAME", "OID_TEMPLATE", "MibResolver", "MibSymbol",
           "default_cache_dir", "is_mib_name"]

_NAME = r"[A-Za-z][A-Za-z0-9-]*::[A-Za-z][A-Za-z0-9-]*(\.\d+)*"
OID_OR_NAME = rf"^(\d+(\.\d+)+|{_NAME})$"
"""A numeric OID or a MIB name (`IF-MIB::ifDescr.1`): what profile fields accept."""
OID_TEMPLATE = rf"^(\d+(\.\d+)*|{_NAME})(\.\{{(cell|index)\}})?$"
"""Like OID_OR_NAME, optionally ending in `.{cell}` or `.{index}` (a table column's row)."""

MIB_NAME = re.compile(
    r"^(?P<module>[A-Za-z][A-Za-z0-9-]*)::(?P<name>[A-Za-z][A-Za-z0-9-]*)"
    r"(?P<suffix>(\.\d+)*(\.\{(cell|index)\})?)$"
)
_SOURCE_SUFFIXES = ("", ".txt", ".mib", ".my")
_FORMAT = 1


@dataclass(frozen=True)
class MibSymbol:
    """One named node of a compiled MIB."""

    module: str
    name: str
    oid: str
    nodetype: str = ""  # scalar, column, row, table, notification, "" for plain OIDs
    syntax: str = ""
    units: str = ""


def is_mib_name(text: str) -> bool:
    """True for `MODULE::name` with an optional `.index` / `.{cell}` suffix."""
    return MIB_NAME.match(text.strip()) is not None


def default_cache_dir() -> Path:
    """Where compiled MIBs go: $RAN_HARNESS_MIB_CACHE, else ~/.cache/ran-harness/mibs."""
    env = os.environ.get("RAN_HARNESS_MIB_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ran-harness" / "mibs"


def _base_dir() -> Path:
    return Path(str(resources.files("drivers") / "smi"))


@dataclass
class MibResolver:
    """Resolves `MODULE::name.suffix` with the MIB files found in `folders` (then ours)."""

    folders: Sequence[Path]
    cache_dir: Path = field(default_factory=default_cache_dir)
    _modules: dict[str, dict[str, MibSymbol]] = field(default_factory=dict, repr=False)

    def resolve(self, text: str) -> str:
        """The numeric OID (with any `.{cell}`/`.{index}` suffix kept) for a MIB name."""
        match = MIB_NAME.match(text.strip())
        if match is None:
            raise ConfigError(f"{text!r} is not a MIB name: write MODULE::name, optionally "
                              "followed by an index, e.g. IF-MIB::ifHCInOctets.{index}")
        symbol = self.symbol(match["module"], match["name"])
        return symbol.oid + match["suffix"]

    def symbol(self, module: str, name: str) -> MibSymbol:
        """A named node of `module`; ConfigError naming the folders when it is missing."""
        symbols = self._load(module)
        found = symbols.get(name)
        if found is None:
            near = sorted(n for n in symbols if n.lower().startswith(name[:3].lower()))[:8]
            hint = f" (similar: {', '.join(near)})" if near else ""
            raise ConfigError(f"MIB module {module} has no object named {name!r}{hint}")
        return found

    # ---- loading and compiling -----------------------------------------------------
    def _source(self, module: str) -> Path | None:
        for folder in [*self.folders, _base_dir()]:
            for suffix in _SOURCE_SUFFIXES:
                candidate = Path(folder) / f"{module}{suffix}"
                if candidate.is_file():
                    return candidate
        return None

    def _load(self, module: str) -> dict[str, MibSymbol]:
        cached = self._modules.get(module)
        if cached is not None:
            return cached
        source = self._source(module)
        if source is None:
            bundled = builtin_mib_symbols(module)
            if bundled is None:
                raise ConfigError(_not_found(module, self.folders))
            symbols = {name: MibSymbol(module, name, oid, nodetype, syntax, units)
                       for name, oid, nodetype, syntax, units in bundled}
            self._modules[module] = symbols
            return symbols
        out_dir = self.cache_dir
        compiled = out_dir / f"{module}.json"
        stamp = out_dir / f"{module}.source"
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        key = f"{_FORMAT} {digest}"
        if not compiled.is_file() or not stamp.is_file() or stamp.read_text() != key:
            self._compile(module, source)
            stamp.write_text(key, encoding="utf-8")
        data = json.loads(compiled.read_text(encoding="utf-8"))
        symbols = _symbols(module, data)
        self._modules[module] = symbols
        return symbols

    def _compile(self, module: str, source: Path) -> None:
        # pysmi is imported here only: building its parser costs ~0.5 s, paid only when a
        # MIB file is new or changed.
        from pysmi.codegen import JsonCodeGen
        from pysmi.compiler import MibCompiler
        from pysmi.error import PySmiError
        from pysmi.parser import SmiStarParser
        from pysmi.reader import FileReader
        from pysmi.searcher import StubSearcher
        from pysmi.writer import FileWriter

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        folders = list(dict.fromkeys([source.parent, *map(Path, self.folders), _base_dir()]))
        compiler = MibCompiler(SmiStarParser(), JsonCodeGen(),
                               FileWriter(str(self.cache_dir)).set_options(suffix=".json"))
        compiler.add_sources(*(FileReader(str(f)).set_options(recursive=False)
                               for f in folders))
        compiler.add_searchers(StubSearcher(*JsonCodeGen.baseMibs))
        try:
            status = compiler.compile(module, rebuild=True, genTexts=False)
        except PySmiError as exc:
            raise ConfigError(f"MIB module {module} ({source}) does not compile: {exc}") from None
        failed = {name: str(state) for name, state in status.items()
                  if str(state) not in ("compiled", "untouched", "unchanged", "borrowed")}
        if failed or not (self.cache_dir / f"{module}.json").is_file():
            detail = ", ".join(f"{name}: {state}" for name, state in sorted(failed.items()))
            raise ConfigError(
                f"MIB module {module} ({source}) does not compile ({detail or 'no output'}): "
                "check its syntax and that every module it IMPORTs is in the mibs folder"
            )


def _not_found(module: str, folders: Sequence[Path]) -> str:
    """What to do about a module with no text file and no bundled compiled copy."""
    searched = ", ".join(str(f) for f in folders) or "(no folder configured)"
    return (f"MIB module {module} not found in {searched}: put its text file (named "
            f"{module}.txt or {module}.mib) in the lab's mibs folder (`mibs:` in lab.yaml); "
            "get it from the device's vendor. The standard IETF and IANA modules resolve "
            f"with no file ({len(builtin_mib_modules())} of them, e.g. SNMPv2-MIB, IF-MIB, "
            "ENTITY-MIB, HOST-RESOURCES-MIB)")


def _symbols(module: str, data: dict[str, Any]) -> dict[str, MibSymbol]:
    out: dict[str, MibSymbol] = {}
    for name, node in data.items():
        if not isinstance(node, dict) or "oid" not in node:
            continue
        syntax = node.get("syntax")
        out[name] = MibSymbol(
            module=module, name=name, oid=str(node["oid"]),
            nodetype=str(node.get("nodetype") or node.get("class") or ""),
            syntax=str(syntax.get("type", "")) if isinstance(syntax, dict) else "",
            units=str(node.get("units") or ""),
        )
    return out
