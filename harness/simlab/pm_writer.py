"""PM files of the virtual gNodeB: TS 32.435 measCollecFile XML in its SFTP area.

Every `granularity_s` (periods end on multiples of the granularity, as a real gNodeB's align to
the clock) the writer takes the very counters the SNMP agent serves (`mib_pm.pm_rows`) and
writes one file into `<flash>/pm/`, named per TS 32.432: `A20261207.1000+0700-1001+0700_gnb1.xml`
(with seconds, `A20261207.100002+0700-100004+0700_gnb1.xml`, when the granularity is not whole
minutes). Counters (Counter64 objects) hold their increase over the period, so the files of
consecutive periods add up to the SNMP counter; gauges hold their value at the period's end.
The first period (the lab started inside it) is marked `suspect`, and so is every period when the
lab sets `pm_files: {suspect: true}`, and a period that ends while a `pm-suspect` fault is active
(harness/simlab/faults.py): a device saying its counters are unreliable. Files appear by rename,
so a client never reads half a file; the newest `KEEP_FILES` stay.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from harness.simlab.mib_pm import pm_rows
from harness.simlab.oids import PLMN_PM_COLUMNS, PM_COLUMNS, SIM_PLMN_PM_ENTRY, SIM_PM_ENTRY

if TYPE_CHECKING:
    from harness.simlab.gnb import VirtualGnb

NAMESPACE = "http://www.3gpp.org/ftp/specs/archive/32_series/32.435#measCollec"
KEEP_FILES = 200
_log = logging.getLogger("harness.simlab.pm_writer")
_PLMN_COUNTERS = [n for n in PLMN_PM_COLUMNS if n not in ("plmnId", "sharePercent")]


def _stamp(moment: datetime, seconds: bool) -> str:
    offset = moment.strftime("%z") or "+0000"
    return moment.strftime("%H%M%S" if seconds else "%H%M") + offset


def pm_file_name(begin: datetime, end: datetime, sender: str, granularity_s: float) -> str:
    """The TS 32.432 name of a file covering [begin, end] (seconds when not whole minutes)."""
    seconds = granularity_s % 60 != 0
    return (f"A{begin.strftime('%Y%m%d')}.{_stamp(begin, seconds)}-{_stamp(end, seconds)}"
            f"_{sender}.xml")


class PmFileWriter:
    """Writes one measCollecFile per granularity period from a VirtualGnb's PM counters."""

    def __init__(self, gnb: VirtualGnb, directory: Path, granularity_s: float, *,
                 suspect: bool = False) -> None:
        if not granularity_s >= 1:
            raise ValueError(f"PM file granularity must be at least 1 s, got {granularity_s:g}")
        self.gnb = gnb
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)  # the device has its PM folder from boot
        self.granularity_s = granularity_s
        self.sender = gnb.identity.name
        self._begin = time.time()
        self._next_end = self._boundary_after(self._begin)
        self._last: dict[tuple[str, int, str], int] = {}  # counter totals at the last end
        self._first = True
        self.suspect = suspect  # every period is marked suspect
        self.written: list[Path] = []

    def _boundary_after(self, now: float) -> float:
        return (math.floor(now / self.granularity_s) + 1) * self.granularity_s

    def tick(self, now: float | None = None) -> Path | None:
        """Write the file of the period that ended, if one did; its path (else None)."""
        now = time.time() if now is None else now
        if now < self._next_end:
            return None
        end = self._next_end
        path = self.write(self._begin, end)
        self._begin, self._next_end = end, self._boundary_after(max(now, end))
        return path

    async def run(self) -> None:
        """Write each period's file as it ends, until cancelled."""
        while True:
            await asyncio.sleep(max(0.0, self._next_end - time.time()) + 0.01)
            try:
                self.tick()
            except OSError as exc:  # a full disk must not end the device
                _log.warning("PM file not written: %s", exc)

    def _values(self) -> list[tuple[str, str, list[tuple[str, int]]]]:
        """(measInfoId, ldn, [(counter, value)]) per cell and per PLMN of a cell."""
        out: list[tuple[str, str, list[tuple[str, int]]]] = []
        gnb = self.gnb
        for cell_id, cell in sorted(gnb.cells.items()):
            rows = pm_rows(gnb, cell_id, cell, up=gnb.mgmt.cell_oper_up(cell_id))
            base = f"ManagedElement={self.sender},GNBDUFunction=1,NRCellDU={cell_id}"
            cell_values = [(name, self._period_value(
                name, cell_id, "", rows[(*SIM_PM_ENTRY, col, cell_id)]))
                for name, col in PM_COLUMNS.items()]
            out.append(("NRCellDU", base, cell_values))
            for index, plmn in enumerate(cell.config.plmns, start=1):
                plmn_values = [(name, self._period_value(
                    name, cell_id, plmn,
                    rows[(*SIM_PLMN_PM_ENTRY, PLMN_PM_COLUMNS[name], index, cell_id)]))
                    for name in _PLMN_COUNTERS]
                out.append(("NRCellDU.PLMN", f"{base},PLMN={plmn}", plmn_values))
        return out

    def _period_value(self, name: str, cell: int, plmn: str, value: tuple[str, object]) -> int:
        kind, raw = value
        number = int(raw) if isinstance(raw, int) else 0
        if kind != "Counter64":
            return number  # a gauge: its value at the period's end
        key = (name, cell, plmn)
        before = self._last.get(key, 0)
        self._last[key] = number
        return number - before if number >= before else number  # restarted: counted from 0

    def render(self, begin: float, end: float) -> str:
        """The XML of the period [begin, end] (advances the counters' baselines)."""
        tz = datetime.now().astimezone().tzinfo
        b, e = datetime.fromtimestamp(begin, tz), datetime.fromtimestamp(end, tz)
        duration = f"PT{self.granularity_s:g}S"
        flagged = self._first or self.suspect or self.gnb.faults.pm_suspect()
        suspect = "true" if flagged else "false"
        infos: dict[str, list[tuple[str, list[tuple[str, int]]]]] = {}
        for info, ldn, values in self._values():
            infos.setdefault(info, []).append((ldn, values))
        lines = ['<?xml version="1.0" encoding="UTF-8"?>',
                 f'<measCollecFile xmlns="{NAMESPACE}">',
                 '  <fileHeader fileFormatVersion="32.435 V17.0" vendorName="ran-harness '
                 'simulator">',
                 f"    <fileSender localDn={quoteattr('ManagedElement=' + self.sender)} "
                 'elementType="gNB"/>',
                 f'    <measCollec beginTime="{b.isoformat(timespec="seconds")}"/>',
                 "  </fileHeader>", "  <measData>",
                 f"    <managedElement localDn={quoteattr('ManagedElement=' + self.sender)}/>"]
        for info, objects in infos.items():
            lines += [f"    <measInfo measInfoId={quoteattr(info)}>",
                      f'      <granPeriod duration="{duration}" '
                      f'endTime="{e.isoformat(timespec="seconds")}"/>']
            names = [name for name, _ in objects[0][1]]
            lines += [f'      <measType p="{p}">{name}</measType>'
                      for p, name in enumerate(names, start=1)]
            for ldn, values in objects:
                lines.append(f"      <measValue measObjLdn={quoteattr(ldn)}>")
                lines += [f'        <r p="{p}">{value}</r>'
                          for p, (_, value) in enumerate(values, start=1)]
                lines += [f"        <suspect>{suspect}</suspect>", "      </measValue>"]
            lines.append("    </measInfo>")
        lines += ["  </measData>", "  <fileFooter>",
                  f'    <measCollec endTime="{e.isoformat(timespec="seconds")}"/>',
                  "  </fileFooter>", "</measCollecFile>", ""]
        self._first = False
        return "\n".join(lines)

    def write(self, begin: float, end: float) -> Path:
        """Write the file of [begin, end] into the directory (atomically); its path."""
        with self.gnb.lock:
            text = self.render(begin, end)
        tz = datetime.now().astimezone().tzinfo
        name = pm_file_name(datetime.fromtimestamp(begin, tz),
                            datetime.fromtimestamp(end, tz), self.sender,
                            self.granularity_s)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / name
        temp = self.directory / f".{name}.part"
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
        self.written.append(path)
        while len(self.written) > KEEP_FILES:
            self.written.pop(0).unlink(missing_ok=True)
        return path


__all__ = ["KEEP_FILES", "NAMESPACE", "PmFileWriter", "pm_file_name"]
