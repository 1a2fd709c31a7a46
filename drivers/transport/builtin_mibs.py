"""Standard MIB modules pysnmp ships already compiled (SNMPv2-MIB, SNMP-FRAMEWORK-MIB,
INET-ADDRESS-MIB…), read offline as plain tuples so `drivers/mibs.py` can resolve their names
when a lab has no text file for them. Here because only drivers/transport imports pysnmp.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["BuiltinSymbol", "builtin_mib_modules", "builtin_mib_symbols"]

BuiltinSymbol = tuple[str, str, str, str, str]
"""(name, numeric OID, nodetype, syntax, units) of one named node."""

# pysnmp's own modules (its engine's internals) and ASN.1 bases name nothing a device serves.
_INTERNAL = ("PYSNMP-", "ASN1")
_NODETYPES = {"MibScalar": "scalar", "MibTableColumn": "column", "MibTableRow": "row",
              "MibTable": "table", "NotificationType": "notification"}


def builtin_mib_modules() -> list[str]:
    """The standard modules pysnmp ships compiled, by name (sorted)."""
    folder = resources.files("pysnmp") / "smi" / "mibs"
    names = {entry.name.rsplit(".", 1)[0] for entry in folder.iterdir()
             if entry.name.endswith(".py") and not entry.name.startswith("_")}
    return sorted(n for n in names if not n.startswith(_INTERNAL))


def builtin_mib_symbols(module: str) -> list[BuiltinSymbol] | None:
    """Every named OID of `module` as pysnmp compiled it; None when pysnmp does not ship it."""
    if module not in builtin_mib_modules():
        return None
    from pysnmp.smi import builder, error  # ~0.1 s, paid only when a profile names one

    mib_builder = builder.MibBuilder()
    try:
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
