"""Standard MIB modules shipped already compiled for pysnmp, read offline as plain tuples so
`drivers/mibs.py` can resolve their names when a lab has no text file for them: pysnmp's own
(SNMPv2-MIB, SNMP-FRAMEWORK-MIB, INET-ADDRESS-MIB…) and the IETF and IANA collection of the
`pysnmp-mibs` package (a dependency, BSD: IF-MIB, ENTITY-MIB, HOST-RESOURCES-MIB, IP-MIB,
IANAifType-MIB… — 270 modules). pysnmp's own win where both have a module. Here because only
drivers/transport imports pysnmp.
"""

from __future__ import annotations

import functools
import warnings
from importlib import resources
from importlib.resources.abc import Traversable

__all__ = ["BuiltinSymbol", "builtin_mib_modules", "builtin_mib_symbols"]

BuiltinSymbol = tuple[str, str, str, str, str]
"""(name, numeric OID, nodetype, syntax, units) of one named node."""

# pysnmp's own modules (its engine's internals) and ASN.1 bases name nothing a device serves.
_INTERNAL = ("PYSNMP-", "ASN1")
_NODETYPES = {"MibScalar": "scalar", "MibTableColumn": "column", "MibTableRow": "row",
              "MibTable": "table", "NotificationType": "notification"}


def _folders() -> list[Traversable]:
    """pysnmp's compiled modules, then pysnmp-mibs'."""
    return [resources.files("pysnmp") / "smi" / "mibs", resources.files("pysnmp_mibs")]


@functools.cache
def builtin_mib_modules() -> list[str]:
    """The standard modules shipped compiled, by name (sorted)."""
    names = {entry.name.rsplit(".", 1)[0] for folder in _folders() for entry in folder.iterdir()
             if entry.name.endswith(".py") and not entry.name.startswith("_")}
    return sorted(n for n in names if not n.startswith(_INTERNAL))


def builtin_mib_symbols(module: str) -> list[BuiltinSymbol] | None:
    """Every named OID of `module` as compiled; None when no package ships it."""
    if module not in builtin_mib_modules():
        return None
    from pysnmp.smi import builder, error  # ~0.1 s, paid only when a profile names one

    mib_builder = builder.MibBuilder()
    mib_builder.add_mib_sources(*(builder.DirMibSource(str(folder))
                                  for folder in _folders()[1:]))
    try:
        with warnings.catch_warnings():  # pysnmp-mibs' modules use pysnmp 4's method names
            warnings.simplefilter("ignore", DeprecationWarning)
            mib_builder.load_modules(module)
    except error.SmiError:
        return None
    out: list[BuiltinSymbol] = []
    for name, node in mib_builder.mibSymbols.get(module, {}).items():
        get_name = getattr(node, "getName", None)
        oid = get_name() if callable(get_name) else None
        if not isinstance(oid, tuple) or not oid or not all(isinstance(i, int) for i in oid):
            continue  # a TEXTUAL-CONVENTION, a MODULE-COMPLIANCE's imports…
        syntax = getattr(node, "syntax", None)
        get_units = getattr(node, "getUnits", None)
        units = get_units() if callable(get_units) else ""
        out.append((str(name), ".".join(map(str, oid)),
                    _NODETYPES.get(type(node).__name__, ""),
                    type(syntax).__name__ if syntax is not None else "",
                    str(units or "")))
    return out
