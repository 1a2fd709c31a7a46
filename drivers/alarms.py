"""Alarms from SNMP: what a profile says about a vendor's traps and alarm table, and the pure
functions that turn received traps and walked table rows into `AlarmEvent`s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from drivers.capabilities import AlarmEvent
from drivers.mibs import OID_OR_NAME
from drivers.transport.snmp_values import NoSuchValue, SnmpValue
from drivers.transport.traps import Trap
from harness.base.schema import StrictModel

__all__ = ["SEVERITIES", "AlarmSpec", "AlarmTableSpec", "TrapRule", "alarm_from_trap",
           "alarms_from_table"]

Severity = Literal["critical", "major", "minor", "warning", "indeterminate", "cleared"]
SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "warning", "indeterminate",
                               "cleared")
OidOrName = Annotated[str, Field(pattern=OID_OR_NAME)]
# ITU-T X.733 / RFC 3877 ituPerceivedSeverity numbering, used when a profile gives no map.
_X733 = {1: "cleared", 2: "indeterminate", 3: "critical", 4: "major", 5: "minor", 6: "warning"}


class TrapRule(StrictModel):
    """What one trap OID means when its varbinds do not say."""

    severity: Severity = "indeterminate"
    text: str = ""


class AlarmSpec(StrictModel):
    """A vendor's notifications: per-trap severity/text, and varbinds that carry them."""

    traps: dict[OidOrName, TrapRule] = {}
    severity_varbind: OidOrName | None = None  # OID (or column) whose value is the severity
    severity_values: dict[int | str, Severity] = {}  # device value → severity
    text_varbind: OidOrName | None = None
    source_varbind: OidOrName | None = None  # e.g. the alarmed cell or port
    default_severity: Severity = "indeterminate"


class AlarmTableSpec(StrictModel):
    """A device's active-alarm table: the columns to walk; the row index is the alarm id."""

    severity: OidOrName
    text: OidOrName | None = None
    source: OidOrName | None = None
    severity_values: dict[int | str, Severity] = {}


def _severity(value: SnmpValue | None, values: Mapping[int | str, str]) -> str | None:
    if value is None or isinstance(value, NoSuchValue):
        return None
    for key in (value, str(value)):
        if key in values:
            return values[key]
    if isinstance(value, str) and value.strip().lower() in SEVERITIES:
        return value.strip().lower()
    if isinstance(value, int) and not values:
        return _X733.get(value)
    return None


def _find(varbinds: Mapping[str, SnmpValue], oid: str | None) -> SnmpValue | None:
    """The value of `oid`, or of the first varbind under it (a column with an index)."""
    if oid is None:
        return None
    if oid in varbinds:
        return varbinds[oid]
    prefix = oid + "."
    for name, value in varbinds.items():
        if name.startswith(prefix):
            return value
    return None


def alarm_from_trap(device: str, trap: Trap, spec: AlarmSpec | None) -> AlarmEvent:
    """One alarm event for a received trap or inform, following the profile's rules."""
    spec = spec or AlarmSpec()
    rule = spec.traps.get(trap.trap_oid)
    severity = (_severity(_find(trap.varbinds, spec.severity_varbind), spec.severity_values)
                or (rule.severity if rule is not None else spec.default_severity))
    text_value = _find(trap.varbinds, spec.text_varbind)
    if isinstance(text_value, str) and text_value:
        text = text_value
    elif rule is not None and rule.text:
        text = rule.text
    else:
        text = f"trap {trap.trap_oid}"
    source_value = _find(trap.varbinds, spec.source_varbind)
    source = (str(source_value) if source_value is not None
              and not isinstance(source_value, NoSuchValue) else trap.source)
    return AlarmEvent(device=device, severity=severity, source=source, text=text,
                      time=trap.time, trap_oid=trap.trap_oid,
                      varbinds=tuple((k, v) for k, v in trap.varbinds.items()
                                     if not isinstance(v, NoSuchValue)))


def alarms_from_table(device: str, spec: AlarmTableSpec,
                      columns: Mapping[str, Mapping[str, SnmpValue]], now: float
                      ) -> list[AlarmEvent]:
    """Alarm events from a walked active-alarm table ({column OID: {index: value}})."""
    severities = columns.get(spec.severity, {})
    texts = columns.get(spec.text or "", {})
    sources = columns.get(spec.source or "", {})
    out: list[AlarmEvent] = []
    for index, raw in severities.items():
        text = texts.get(index)
        source = sources.get(index)
        out.append(AlarmEvent(
            device=device,
            severity=_severity(raw, spec.severity_values) or "indeterminate",
            source=str(source) if isinstance(source, int | str) else device,
            text=str(text) if isinstance(text, int | str) else "",
            time=now, alarm_id=index))
    return out
