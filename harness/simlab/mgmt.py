"""The management plane of a virtual gNodeB: alarms, health, PM, firmware, reboots, trap targets.

`Management` holds the state the SNMP agent and the CLI show and derives the active alarms from
it (`evaluate`). The servers that carry it (SNMP agent, SSH CLI, trap sender) are bound through
the `ServerControl` protocol; without them (unit tests) a reboot happens at once.
"""

from __future__ import annotations

import ipaddress
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.simlab.alarms import (
    AlarmCondition,
    AlarmKey,
    AlarmTable,
    AlarmType,
    Notification,
    Severity,
)
from harness.simlab.firmware import (
    MAX_IMAGE_BYTES,
    FirmwareError,
    InstallRecord,
    InstallResult,
    parse_image,
)
from harness.simlab.health import HIGH_TEMPERATURE_C, Health
from harness.simlab.mib_pm import PmState, cell_bler
from harness.simlab.oids import IF_N3, cell_if_index
from harness.simlab.sftp_server import PathEscape, resolve_in_root

if TYPE_CHECKING:
    from harness.simlab.gnb import VirtualGnb

DEFAULT_REBOOT_S = 3.0
BLER_ALARM_THRESHOLD = 0.10
"""A cell whose BLER exceeds this raises excessive-BLER; it clears below 80 % of it."""
MAX_TRAP_TARGETS = 16
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")


class CommandError(Exception):
    """A management command the device refuses; the text is what the CLI shows after '% '."""


class ServerControl(Protocol):
    """What the running servers of a virtual gNodeB offer its management plane."""

    def set_snmp_mode(self, mode: str) -> None:
        """`normal`, `silent` (drop every request) or `error` (answer genErr)."""

    def set_ssh_faults(self, *, refuse_auth: bool, drop_sessions: bool) -> None:
        """Refuse every login; close every session (and keep closing new ones)."""

    def reboot(self, down_s: float) -> None:
        """Take SNMP and SSH down for `down_s`, then boot (thread-safe, returns at once)."""

    def snmp_requests(self) -> int:
        """SNMP PDUs received so far."""

    def ssh_sessions(self) -> int:
        """Open SSH connections."""

    def flow_count(self, cell_id: int) -> int | None:
        """Active relayed flows through a cell, None when the relay does not say."""


@dataclass(frozen=True)
class TrapTarget:
    """Where the device sends notifications: a manager's UDP address and the SNMP version."""

    host: str
    port: int = 162
    version: str = "2c"

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            if not _HOSTNAME.fullmatch(self.host):
                raise CommandError(f"Invalid trap target host '{self.host}'") from None
        if not 1 <= self.port <= 65535:
            raise CommandError(f"Invalid trap target port {self.port}: expected 1..65535")
        if self.version not in ("2c", "3"):
            raise CommandError(f"Invalid SNMP version '{self.version}': expected v2c or v3")


class Management:
    """State and rules of the management plane; thread-safe (CLI threads and the server loop)."""

    def __init__(self, gnb: VirtualGnb) -> None:
        self._gnb = gnb
        self._lock = threading.RLock()
        self.alarms = AlarmTable(gnb.uptime_ticks)
        self.health = Health()
        self.pm = PmState()
        self.servers: ServerControl | None = None
        self.reboot_s = DEFAULT_REBOOT_S
        self.bler_threshold = BLER_ALARM_THRESHOLD
        self.boot_count = 1
        self.rebooting = False
        self.flash_dir: Path | None = None
        self.last_install: InstallRecord | None = None
        self.install_failure: str | None = None
        self._pending: tuple[str, str] | None = None  # (version, file) installed at next boot
        self._trap_targets: list[TrapTarget] = []
        self.if_last_change: dict[int, int] = {}
        self._oper: dict[int, bool] = {}
        self._last_tick = time.monotonic()

    # ---- facts the MIB and CLI read ----------------------------------------------------------

    def link_up(self, name: str) -> bool:
        """Whether a link (`n3`) is up."""
        return not self.rebooting and name not in self._gnb.faults.links_down()

    def cell_down_reason(self, cell_id: int) -> str | None:
        """Why a cell is out of service, or None when it is in service."""
        if self.rebooting:
            return "rebooting"
        if not self._gnb.cells[cell_id].config.admin_up:
            return "administratively down"
        if cell_id in self._gnb.faults.outage_cells():
            return "cell outage"
        if not self.link_up("n3"):
            return "N3 link down"
        return None

    def cell_oper_up(self, cell_id: int) -> bool:
        """Operational state of a cell (simCellOperState, the cell interface's ifOperStatus)."""
        return self.cell_down_reason(cell_id) is None

    def snmp_requests(self) -> int:
        """SNMP PDUs the agent received (0 without servers)."""
        return self.servers.snmp_requests() if self.servers is not None else 0

    def ssh_sessions(self) -> int:
        """Open SSH connections (0 without servers)."""
        return self.servers.ssh_sessions() if self.servers is not None else 0

    def flow_count(self, cell_id: int) -> int | None:
        """Active relayed flows through a cell, or None when unknown."""
        return self.servers.flow_count(cell_id) if self.servers is not None else None

    def flash_bytes(self) -> int:
        """Bytes stored in the device's flash directory (bounded scan)."""
        return sum(size for _path, size in self.flash_files())

    def flash_files(self, limit: int = 1000) -> list[tuple[str, int]]:
        """(path relative to the flash root, size) of up to `limit` files."""
        root = self.flash_dir
        if root is None or not root.is_dir():
            return []
        files: list[tuple[str, int]] = []
        for path in _walk(root, depth=4):
            files.append((path.relative_to(root).as_posix(), path.stat().st_size))
            if len(files) >= limit:
                break
        return sorted(files)

    # ---- trap targets -------------------------------------------------------------------------

    def trap_targets(self) -> list[TrapTarget]:
        """Configured trap targets, in the order they were added."""
        with self._lock:
            return list(self._trap_targets)

    def add_trap_target(self, target: TrapTarget) -> bool:
        """Add a target (replacing one with the same host and port); False if unchanged."""
        with self._lock:
            kept = [t for t in self._trap_targets if (t.host, t.port) != (target.host, target.port)]
            if len(kept) >= MAX_TRAP_TARGETS:
                raise CommandError(f"Error: at most {MAX_TRAP_TARGETS} trap targets")
            changed = target not in self._trap_targets
            self._trap_targets = [*kept, target]
            return changed

    def remove_trap_target(self, host: str, port: int) -> bool:
        """Remove the target at host:port; False when there was none."""
        with self._lock:
            kept = [t for t in self._trap_targets if (t.host, t.port) != (host, port)]
            removed = len(kept) != len(self._trap_targets)
            self._trap_targets = kept
            return removed

    # ---- alarms -------------------------------------------------------------------------------

    def evaluate(self) -> None:
        """Bring the active alarms and interface states in line with the device's state."""
        if self.rebooting:
            return  # a rebooting device raises nothing; it resynchronises when it boots
        with self._lock:
            self.alarms.sync(self._conditions())
            self._follow_interfaces()

    def _conditions(self) -> dict[AlarmKey, AlarmCondition]:
        gnb = self._gnb
        conditions: dict[AlarmKey, AlarmCondition] = {}
        active = {(a.type, a.source) for a in self.alarms.active()}
        for cell_id, cell in gnb.cells.items():
            reason = self.cell_down_reason(cell_id)
            if reason is not None:
                conditions[(AlarmType.CELL_DOWN, f"cell={cell_id}")] = AlarmCondition(
                    Severity.MAJOR, f"cell {cell_id} out of service: {reason}")
            bler, key = cell_bler(cell), (AlarmType.EXCESSIVE_BLER, f"cell={cell_id}")
            limit = self.bler_threshold * (0.8 if key in active else 1.0)
            if bler > limit:
                conditions[key] = AlarmCondition(
                    Severity.MINOR,
                    f"cell {cell_id} BLER {bler:.1%} above {self.bler_threshold:.0%}")
        for link in sorted(gnb.faults.links_down()):
            conditions[(AlarmType.LINK_DOWN, f"if={link}")] = AlarmCondition(
                Severity.CRITICAL, f"{link} link down")
        temperatures = self.health.temperatures()
        for sensor in sorted(self.health.hot):
            conditions[(AlarmType.HIGH_TEMPERATURE, f"sensor={sensor}")] = AlarmCondition(
                Severity.MAJOR, f"{sensor} temperature {temperatures[sensor]:.1f} C, "
                                f"limit {HIGH_TEMPERATURE_C:.0f} C")
        if self.install_failure is not None:
            conditions[(AlarmType.FIRMWARE_INSTALL_FAILED, "firmware")] = AlarmCondition(
                Severity.MAJOR, self.install_failure)
        for fault_id, severity, source, text in gnb.faults.custom_alarms():
            conditions[(AlarmType.OTHER, source or f"fault={fault_id}")] = AlarmCondition(
                severity, text)
        return conditions

    def _follow_interfaces(self) -> None:
        states = {IF_N3: self.link_up("n3")}
        states.update({cell_if_index(c): self.cell_oper_up(c) for c in self._gnb.cells})
        for index, up in states.items():
            before = self._oper.get(index)
            self._oper[index] = up
            if before is None or before == up:
                continue
            ticks = self._gnb.uptime_ticks()
            self.if_last_change[index] = ticks
            self.alarms.emit(Notification(name="linkUp" if up else "linkDown", if_index=index,
                                          uptime_ticks=ticks))

    # ---- periodic work ------------------------------------------------------------------------

    def tick(self) -> None:
        """PM accumulators, health model and alarms (about once a second)."""
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        gnb = self._gnb
        self.pm.tick(gnb, dt)
        carried = capacity = 0.0
        per_cell: dict[int, float] = {}
        for cell_id, cell in gnb.cells.items():
            thp = (cell.thp_dl_kbps + cell.thp_ul_kbps) * 1000
            cap = cell.config.capacity_bps("dl") + cell.config.capacity_bps("ul")
            per_cell[cell_id] = thp / cap if cap > 0 else 0.0
            carried += thp
            capacity += cap
        flows = sum(self.flow_count(c) or 0 for c in gnb.cells)
        self.health.set_overheat(gnb.faults.overheat_c())
        self.health.tick(dt, carried / capacity if capacity > 0 else 0.0, per_cell, flows)
        self.evaluate()

    # ---- firmware and reboots -----------------------------------------------------------------

    def install_firmware(self, file: str) -> str:
        """Verify `file` (in flash) and reboot into it; CommandError (with an alarm) if refused."""
        if self.rebooting:
            raise CommandError("Error: the device is rebooting")
        if self.flash_dir is None:
            raise CommandError("Error: this device has no flash storage")
        try:
            path = resolve_in_root(self.flash_dir, file)
        except PathEscape as exc:
            raise CommandError(f"Error: {exc}") from None
        if not path.is_file():
            raise CommandError(f"Error: no file '{file}' in flash (upload it over SFTP first)")
        if path.stat().st_size > MAX_IMAGE_BYTES:
            return self._refuse(file, f"larger than {MAX_IMAGE_BYTES // 2**20} MiB")
        try:
            image = parse_image(path.read_bytes(), model=self._gnb.identity.model)
        except FirmwareError as exc:
            return self._refuse(file, str(exc))
        with self._lock:
            self._pending = (image.version, file)
        self.request_reboot()
        return (f"Firmware {file}: version {image.version} verified (SHA-256 "
                f"{image.payload_sha256[:16]}...)\n"
                f"Installing and rebooting: back in about {self.reboot_s:g} s\n")

    def _refuse(self, file: str, reason: str) -> str:
        running = self._gnb.identity.firmware
        with self._lock:
            self.last_install = InstallRecord(file, InstallResult.FAILURE, "", reason, time.time())
            self.install_failure = f"firmware image {file} refused: {reason}"
            # A new refusal is a new alarm (and a new result notification).
            self.alarms.sync({}, types=frozenset({AlarmType.FIRMWARE_INSTALL_FAILED}))
        self.evaluate()
        raise CommandError(f"Error: firmware image '{file}' refused: {reason}; "
                           f"version {running} stays")

    def request_reboot(self) -> None:
        """Reboot now: through the servers when bound, else at once (no downtime)."""
        if self.rebooting:
            raise CommandError("Error: the device is already rebooting")
        if self.servers is not None:
            self.servers.reboot(self.reboot_s)
        else:
            self.begin_reboot()
            self.complete_boot()

    def begin_reboot(self) -> None:
        """The device goes down: cells stop carrying traffic; no alarms until it is back."""
        self.rebooting = True
        self._gnb.faults.refresh()

    def complete_boot(self) -> None:
        """The device is back: uptime restarts, a pending image runs, alarms resynchronise."""
        gnb = self._gnb
        installed: str | None = None
        with self._lock:
            gnb.booted = time.monotonic()
            self.boot_count += 1
            if self._pending is not None:
                installed, file = self._pending
                gnb.identity.firmware = installed
                self.last_install = InstallRecord(file, InstallResult.SUCCESS, installed,
                                                  "installed", time.time())
                self._pending = None
            self.install_failure = None
            self.alarms.reset()
            self._oper.clear()
            self.if_last_change.clear()
            self.rebooting = False
        gnb.faults.refresh()
        self.alarms.emit(Notification(name="coldStart", uptime_ticks=gnb.uptime_ticks()))
        if installed is not None:
            self.alarms.emit(Notification(
                name="simFirmwareInstallResult", alarm_type=AlarmType.FIRMWARE_INSTALL_FAILED,
                severity=Severity.CLEARED, source="firmware", install_ok=True,
                text=f"firmware {installed} installed", uptime_ticks=gnb.uptime_ticks()))
        self.evaluate()


def _walk(root: Path, depth: int) -> Iterator[Path]:
    """Regular files under `root`, at most `depth` directories deep, no symlinks followed."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        if entry.is_file(follow_symlinks=False):
            yield Path(entry.path)
        elif depth > 0 and entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), depth - 1)


__all__ = ["BLER_ALARM_THRESHOLD", "DEFAULT_REBOOT_S", "CommandError", "Management",
           "ServerControl", "TrapTarget"]
