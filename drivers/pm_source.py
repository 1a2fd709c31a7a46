"""KPI readings from a device's 3GPP PM files, fetched over SFTP (profile `pm_files:`).

The first read takes stock: files already there belong to the past and are only remembered;
each counter KPI reads 0 then (the baseline). Every later read fetches the files that appeared
since, oldest period first, and turns each into one reading per (KPI, cell) stamped with the
file's period end (`KpiReading.time_ns`):

- a `counter` KPI's file value is its increase over the period, so the reading's raw value is
  the running sum of those increases (a counter64 to the KPI poller, whose differences are
  then exactly each period's count);
- a `gauge` KPI's reading is the file's value as it stands.

A value the device marked `suspect` (TS 32.435: the counter is unreliable for that period) gives
a reading flagged `suspect`: the poller records it, marked, and no statistic takes it as
evidence (harness/monitors/kpi.py).

A value the device marked NIL gives no reading for that period (never a zero); a counter the
file lacks for a wanted cell is an error, as a missing SNMP object is. A file that does not
parse is an error naming the device and the file (the PmFileError's file:line).
"""

from __future__ import annotations

import fnmatch
import posixpath
import stat
from collections.abc import Sequence

import paramiko

from drivers.capabilities import KpiReading
from drivers.pm_files import MAX_XML_BYTES, PmFile, PmFileError, PmValue, parse_pm_bytes
from drivers.profile_pm import PmFileKpi, PmFilesSpec
from drivers.transport.ssh import SshTransport
from harness.base.errors import CommandFailed

_MAX_NEW_FILES = 100  # per read: a backlog larger than this is read over several polls


def _plmn_key(plmn: str | None) -> str | None:
    return plmn.replace("-", "") if plmn is not None else None


def pick(values: Sequence[PmValue], kpi: PmFileKpi, counter: str,
         cell: int) -> PmValue | None:
    """The value of `counter` for `cell` (and the KPI's PLMN, else the cell-level object)."""
    want = _plmn_key(kpi.plmn)
    for value in values:
        if value.counter == counter and value.cell == cell and _plmn_key(value.plmn) == want:
            return value
    return None


class PmFileSource:
    """Reads a device's PM files over its SSH transport's SFTP."""

    def __init__(self, device: str, spec: PmFilesSpec, ssh: SshTransport) -> None:
        self.device = device
        self.spec = spec
        self.ssh = ssh
        self.seen: set[str] | None = None  # None until the first read took stock
        self.totals: dict[tuple[str, int], float] = {}
        self.files_read = 0

    def _list(self, sftp: paramiko.SFTPClient) -> list[str]:
        names = []
        for entry in sftp.listdir_attr(self.spec.directory):
            if stat.S_ISREG(entry.st_mode or 0) and fnmatch.fnmatchcase(entry.filename,
                                                                        self.spec.pattern):
                names.append(entry.filename)
        return sorted(names)

    async def read(self, names: Sequence[str], cells: Sequence[int]) -> list[KpiReading]:
        """Readings from the files that appeared since the last read (see module doc)."""
        listed = await self.ssh.sftp_session(self._list)
        if self.seen is None:
            self.seen = set(listed)
            return [self._reading(name, cell, 0.0, None) for name in names for cell in cells
                    if self.spec.kpis[name].type == "counter"]
        new = [n for n in listed if n not in self.seen][:_MAX_NEW_FILES]
        if not new:
            return []

        def fetch(sftp: paramiko.SFTPClient) -> list[tuple[str, bytes]]:
            out: list[tuple[str, bytes]] = []
            for name in new:
                path = posixpath.join(self.spec.directory, name)
                with sftp.open(path, "rb") as handle:
                    data = handle.read(MAX_XML_BYTES + 1)
                out.append((path, data))
            return out

        fetched = await self.ssh.sftp_session(fetch)
        files: list[PmFile] = []
        for path, data in fetched:
            try:
                files.append(parse_pm_bytes(data, f"{self.device}:{path}"))
            except PmFileError as exc:
                raise CommandFailed(f"PM file {exc}") from None
        self.seen.update(new)
        self.files_read += len(files)
        files.sort(key=lambda f: f.end.timestamp() if f.end is not None else 0.0)
        readings: list[KpiReading] = []
        for parsed in files:
            readings += self._file_readings(parsed, names, cells)
        return readings

    def _file_readings(self, parsed: PmFile, names: Sequence[str],
                       cells: Sequence[int]) -> list[KpiReading]:
        out: list[KpiReading] = []
        for name in names:
            kpi = self.spec.kpis[name]
            counter = kpi.counter or name
            for cell in cells:
                value = pick(parsed.values, kpi, counter, cell)
                if value is None:
                    raise CommandFailed(
                        f"{self.device}: PM file {parsed.path} has no {counter} for cell {cell}"
                        f"{' PLMN ' + kpi.plmn if kpi.plmn else ''}: check the profile's "
                        f"pm_files.kpis.{name}")
                if value.value is None:
                    continue  # NIL: no value for this period, never a zero
                end_ns = round(value.end.timestamp() * 1e9)
                if kpi.type == "counter":
                    total = self.totals.get((name, cell), 0.0) + value.value
                    self.totals[(name, cell)] = total
                    out.append(self._reading(name, cell, total, end_ns, value.granularity_s,
                                             value.suspect))
                else:
                    out.append(self._reading(name, cell, value.value, end_ns,
                                             value.granularity_s, value.suspect))
        return out

    def _reading(self, name: str, cell: int, raw: float, time_ns: int | None,
                 granularity_s: float | None = None, suspect: bool = False) -> KpiReading:
        kpi = self.spec.kpis[name]
        kind = "counter64" if kpi.type == "counter" else "gauge"
        number: int | float = int(raw) if float(raw).is_integer() else raw
        return KpiReading(name=name, cell=cell, raw=number, kind=kind, unit=kpi.unit,
                          scale=kpi.scale, period_s=granularity_s, time_ns=time_ns,
                          suspect=suspect)


__all__ = ["PmFileSource", "pick"]
