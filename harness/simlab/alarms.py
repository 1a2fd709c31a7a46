"""The virtual gNodeB's active-alarm table and the notifications its changes produce.

Alarms are derived from state: `AlarmTable.sync` receives the set of conditions that hold right
now (cell down, link down, too hot, BLER too high, a refused firmware image, an injected alarm)
and raises what is new and clears what is gone. Each raise or clear becomes a `Notification`
that subscribers (the trap sender) receive; the table itself knows no SNMP.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum


class Severity(IntEnum):
    """ITU-T X.733 perceived severity, numbered as RAN-HARNESS-SIM-MIB's SimAlarmSeverity."""

    CRITICAL = 1
    MAJOR = 2
    MINOR = 3
    WARNING = 4
    CLEARED = 5  # only in notifications: the active table never holds a cleared alarm

    @classmethod
    def parse(cls, text: str) -> Severity:
        """`critical`, `major`, `minor` or `warning` (case-insensitive); ValueError otherwise."""
        try:
            severity = cls[text.strip().upper()]
        except KeyError:
            severity = cls.CLEARED
        if severity is cls.CLEARED:
            raise ValueError(f"unknown alarm severity {text!r} "
                             "(expected critical, major, minor or warning)")
        return severity


class AlarmType(IntEnum):
    """What the alarm is about, numbered as RAN-HARNESS-SIM-MIB's SimAlarmType."""

    CELL_DOWN = 1
    LINK_DOWN = 2
    HIGH_TEMPERATURE = 3
    FIRMWARE_INSTALL_FAILED = 4
    EXCESSIVE_BLER = 5
    OTHER = 6


# Which notification a raise and a clear of each alarm type produce (RAN-HARNESS-SIM-MIB names).
RAISE_NOTIFICATION: dict[AlarmType, str] = {
    AlarmType.CELL_DOWN: "simCellDown",
    AlarmType.LINK_DOWN: "simLinkDown",
    AlarmType.HIGH_TEMPERATURE: "simHighTemperature",
    AlarmType.FIRMWARE_INSTALL_FAILED: "simFirmwareInstallResult",
    AlarmType.EXCESSIVE_BLER: "simExcessiveBler",
    AlarmType.OTHER: "simAlarmRaised",
}
CLEAR_NOTIFICATION: dict[AlarmType, str] = {
    AlarmType.CELL_DOWN: "simCellUp",
    AlarmType.LINK_DOWN: "simLinkUp",
}
DEFAULT_CLEAR_NOTIFICATION = "simAlarmCleared"

AlarmKey = tuple[AlarmType, str]
"""(type, source): at most one active alarm per key."""


@dataclass(frozen=True)
class AlarmCondition:
    """A condition that holds now and should be an active alarm."""

    severity: Severity
    text: str


@dataclass(frozen=True)
class Alarm:
    """One active alarm, as the alarm table in the MIB shows it."""

    id: int
    type: AlarmType
    severity: Severity
    source: str
    text: str
    raised_ticks: int
    """sysUpTime when raised (hundredths of a second)."""
    raised_at: float
    """Wall-clock time when raised (seconds since the epoch)."""

    @property
    def raised_iso(self) -> str:
        """Raised time as ISO 8601 UTC, e.g. `2026-11-28T15:20:29Z`."""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.raised_at))


@dataclass(frozen=True)
class Notification:
    """One event for the trap sender: a notification name and what it carries.

    `name` is a RAN-HARNESS-SIM-MIB notification (`simCellDown`...) or a standard one
    (`coldStart`, `linkDown`, `linkUp`).
    """

    name: str
    alarm_id: int = 0
    alarm_type: AlarmType = AlarmType.OTHER
    severity: Severity = Severity.CLEARED
    source: str = ""
    text: str = ""
    uptime_ticks: int = 0
    firmware_version: str = ""
    install_ok: bool | None = None
    """For simFirmwareInstallResult: True installed, False refused."""
    if_index: int = 0
    """For linkDown/linkUp: the interface (IF-MIB ifIndex)."""


Listener = Callable[[Notification], None]


class AlarmTable:
    """Thread-safe active-alarm table: the CLI threads and the server loop both change it."""

    def __init__(self, uptime_ticks: Callable[[], int]) -> None:
        self._uptime = uptime_ticks
        self._lock = threading.Lock()
        self._active: dict[AlarmKey, Alarm] = {}
        self._next_id = 1
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every notification (on the thread that caused it)."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling `listener`; unknown listeners are ignored."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def emit(self, notification: Notification) -> None:
        """Hand a notification to every listener (also used for events that are not alarms)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(notification)

    def active(self) -> list[Alarm]:
        """Active alarms, oldest first."""
        with self._lock:
            return sorted(self._active.values(), key=lambda a: a.id)

    def sync(self, conditions: Mapping[AlarmKey, AlarmCondition],
             *, types: frozenset[AlarmType] | None = None) -> list[Notification]:
        """Raise the conditions not yet active, clear the active alarms no longer present.

        With `types`, only alarms of those types are considered (others are left alone). A
        condition whose severity changed is cleared and raised again. Returns (and emits) the
        notifications produced, clears first.
        """
        notes: list[Notification] = []
        with self._lock:
            for key, alarm in list(self._active.items()):
                if types is not None and alarm.type not in types:
                    continue
                wanted = conditions.get(key)
                if wanted is None or wanted.severity != alarm.severity:
                    del self._active[key]
                    notes.append(self._clear_note(alarm))
            for key, condition in conditions.items():
                if key in self._active or (types is not None and key[0] not in types):
                    continue
                alarm = Alarm(id=self._next_id, type=key[0], severity=condition.severity,
                              source=key[1], text=condition.text, raised_ticks=self._uptime(),
                              raised_at=time.time())
                self._next_id += 1
                self._active[key] = alarm
                notes.append(self._raise_note(alarm))
        for note in notes:
            self.emit(note)
        return notes

    def reset(self) -> None:
        """Forget every alarm without notifications (the device rebooted: volatile table)."""
        with self._lock:
            self._active.clear()

    def _raise_note(self, alarm: Alarm) -> Notification:
        return Notification(
            name=RAISE_NOTIFICATION[alarm.type], alarm_id=alarm.id, alarm_type=alarm.type,
            severity=alarm.severity, source=alarm.source, text=alarm.text,
            uptime_ticks=self._uptime(),
            install_ok=False if alarm.type is AlarmType.FIRMWARE_INSTALL_FAILED else None,
        )

    def _clear_note(self, alarm: Alarm) -> Notification:
        return Notification(
            name=CLEAR_NOTIFICATION.get(alarm.type, DEFAULT_CLEAR_NOTIFICATION),
            alarm_id=alarm.id, alarm_type=alarm.type, severity=Severity.CLEARED,
            source=alarm.source, text=f"cleared: {alarm.text}", uptime_ticks=self._uptime(),
        )


def format_alarms(alarms: list[Alarm]) -> str:
    """`show alarms` output: one line per active alarm, or a line saying there is none."""
    if not alarms:
        return "No active alarms\n"
    lines = [f"{'Id':<5} {'Severity':<9} {'Raised (UTC)':<21} {'Source':<14} Text"]
    for a in alarms:
        lines.append(f"{a.id:<5} {a.severity.name.lower():<9} {a.raised_iso:<21} "
                     f"{a.source:<14} {a.text}")
    return "\n".join(lines) + f"\n{len(alarms)} active alarm(s)\n"


__all__ = [
    "Alarm", "AlarmCondition", "AlarmKey", "AlarmTable", "AlarmType", "Listener", "Notification",
    "Severity", "format_alarms",
]
