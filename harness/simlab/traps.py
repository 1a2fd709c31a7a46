"""The virtual gNodeB's notification originator: SNMPv2c and SNMPv3 (authPriv) traps.

Every raise and clear of an alarm, interface change, boot and firmware result (see
`harness.simlab.alarms`) is sent as an SNMPv2-Trap-PDU to each configured trap target: v2c with
the device's community, v3 with its USM user (HMAC-SHA-256 auth, AES-128 priv), from an SNMP
engine whose snmpEngineID is `engine_id_for(device name)` (a v3 receiver must know it, e.g.
net-snmp's `createUser -e 0x80007ED904... user SHA-256 KEY AES KEY`).

Variable bindings: sysUpTime.0, snmpTrapOID.0, then for the simulator's notifications
simNotifAlarmId.0, simNotifAlarmType.0, simNotifSeverity.0, simNotifSource.0, simNotifText.0
(plus simFwRunningVersion.0 and simFwLastInstallResult.0 for simFirmwareInstallResult), for
IF-MIB linkDown/linkUp ifIndex.N, ifAdminStatus.N, ifOperStatus.N, for coldStart nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import TYPE_CHECKING, Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import ntforg
from pysnmp.proto import rfc1902

from harness.simlab.alarms import Notification
from harness.simlab.firmware import InstallResult
from harness.simlab.mgmt import TrapTarget
from harness.simlab.oids import (
    IF_ENTRY,
    SIM_FIRMWARE,
    SIM_NOTIF_OBJECTS,
    SIM_TRAPS,
    SNMP_TRAP_OID_0,
    STANDARD_TRAPS,
    SYS_UPTIME_0,
    Oid,
    dotted,
)
from harness.simlab.snmp_agent import AgentCredentials, MibValue, make_value

if TYPE_CHECKING:
    from harness.simlab.gnb import VirtualGnb

_ENTERPRISE_PREFIX = bytes.fromhex("80007ed9")  # 0x80000000 | 32473 (RFC 3411 format)
_QUEUE_MAX = 1000
_log = logging.getLogger("harness.simlab.traps")


def engine_id_for(name: str) -> bytes:
    """The device's snmpEngineID: enterprise 32473, format 4 (text), up to 27 octets of name."""
    return _ENTERPRISE_PREFIX + b"\x04" + name.encode("utf-8")[:27]


def varbinds(note: Notification, gnb: VirtualGnb) -> list[tuple[Oid, MibValue]]:
    """The variable bindings of one notification, sysUpTime.0 and snmpTrapOID.0 first."""
    trap = SIM_TRAPS.get(note.name) or STANDARD_TRAPS.get(note.name)
    if trap is None:
        raise ValueError(f"unknown notification {note.name!r}")
    binds: list[tuple[Oid, MibValue]] = [
        (SYS_UPTIME_0, ("TimeTicks", note.uptime_ticks % 2**32)),
        (SNMP_TRAP_OID_0, ("ObjectIdentifier", dotted(trap))),
    ]
    if note.name in ("linkDown", "linkUp"):
        index = note.if_index
        admin = _if_admin_up(gnb, index)
        binds += [((*IF_ENTRY, 1, index), ("Integer", index)),
                  ((*IF_ENTRY, 7, index), ("Integer", 1 if admin else 2)),
                  ((*IF_ENTRY, 8, index), ("Integer", 1 if note.name == "linkUp" else 2))]
    elif note.name in SIM_TRAPS:
        binds += [((*SIM_NOTIF_OBJECTS, 1, 0), ("Gauge32", note.alarm_id)),
                  ((*SIM_NOTIF_OBJECTS, 2, 0), ("Integer", int(note.alarm_type))),
                  ((*SIM_NOTIF_OBJECTS, 3, 0), ("Integer", int(note.severity))),
                  ((*SIM_NOTIF_OBJECTS, 4, 0), ("OctetString", note.source)),
                  ((*SIM_NOTIF_OBJECTS, 5, 0), ("OctetString", note.text))]
        if note.name == "simFirmwareInstallResult":
            result = InstallResult.SUCCESS if note.install_ok else InstallResult.FAILURE
            binds += [((*SIM_FIRMWARE, 1, 0), ("OctetString", gnb.identity.firmware)),
                      ((*SIM_FIRMWARE, 4, 0), ("Integer", int(result)))]
    return binds


def _if_admin_up(gnb: VirtualGnb, index: int) -> bool:
    cell = gnb.cells.get(index - 100)
    return cell.config.admin_up if cell is not None else True


class TrapService:
    """Sends the gNodeB's notifications to its trap targets, from the server's event loop."""

    def __init__(self, gnb: VirtualGnb, *, host: str, credentials: AgentCredentials,
                 engine_id: bytes) -> None:
        self._gnb = gnb
        self._host = host
        self._credentials = credentials
        self._engine_id = engine_id
        self._engine: Any = None
        self._originator: Any = None
        self._configured: dict[tuple[str, int, str], str] = {}
        self._queue: asyncio.Queue[Notification] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        """Trap PDUs handed to the network so far."""

    async def start(self) -> None:
        """Subscribe to the gNodeB's notifications and start sending."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=_QUEUE_MAX)
        self._gnb.mgmt.alarms.subscribe(self._enqueue)
        self._task = asyncio.create_task(self._run(), name=f"traps-{self._gnb.identity.name}")

    async def stop(self) -> None:
        """Stop sending and release the socket."""
        self._gnb.mgmt.alarms.unsubscribe(self._enqueue)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        snmp_engine, self._engine = self._engine, None
        if snmp_engine is not None:
            snmp_engine.close_dispatcher()
        self._configured.clear()

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Wait (bounded) until every queued notification has been sent."""
        queue = self._queue
        if queue is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.join(), timeout=timeout_s)

    def _enqueue(self, note: Notification) -> None:
        """Listener: runs on whichever thread raised the notification."""
        loop, queue = self._loop, self._queue
        if loop is None or queue is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._put, queue, note)

    def _put(self, queue: asyncio.Queue[Notification], note: Notification) -> None:
        try:
            queue.put_nowait(note)
        except asyncio.QueueFull:
            _log.warning("%s: trap queue full, dropping %s", self._gnb.identity.name, note.name)

    async def _run(self) -> None:
        queue = self._queue
        if queue is None:
            return
        while True:
            note = await queue.get()
            try:
                await self._send(note)
            except Exception:  # a bad target must not stop the sender
                _log.exception("%s: sending %s failed", self._gnb.identity.name, note.name)
            finally:
                queue.task_done()

    async def _send(self, note: Notification) -> None:
        targets = self._gnb.mgmt.trap_targets()
        if not targets:
            return
        binds = [(rfc1902.ObjectName(oid), make_value(*value))
                 for oid, value in varbinds(note, self._gnb)]
        for target in targets:
            name = await self._target(target)
            if name is not None:
                self._originator.send_varbinds(self._engine, name, None, b"", binds)
                self.sent += 1

    async def _target(self, target: TrapTarget) -> str | None:
        """The notification name configured for `target` (configured on first use)."""
        key = (target.host, target.port, target.version)
        if key in self._configured:
            return self._configured[key]
        try:
            infos = await asyncio.to_thread(socket.getaddrinfo, target.host, target.port,
                                            socket.AF_INET, socket.SOCK_DGRAM)
        except OSError as exc:
            _log.warning("trap target %s:%d unreachable: %s", target.host, target.port, exc)
            return None
        address = (str(infos[0][4][0]), target.port)
        snmp_engine = self._ensure_engine()
        n = len(self._configured) + 1
        params = "p-v2c" if target.version == "2c" else "p-v3"
        config.add_target_address(snmp_engine, f"t{n}", udp.DOMAIN_NAME, address, params,
                                  tagList=f"tag{n}")
        config.add_notification_target(snmp_engine, f"n{n}", f"filter{n}", f"tag{n}", "trap")
        self._configured[key] = f"n{n}"
        return f"n{n}"

    def _ensure_engine(self) -> Any:
        if self._engine is not None:
            return self._engine
        creds = self._credentials
        snmp_engine = engine.SnmpEngine(snmpEngineID=rfc1902.OctetString(self._engine_id))
        config.add_transport(snmp_engine, udp.DOMAIN_NAME,
                             udp.UdpAsyncioTransport().open_client_mode((self._host, 0)))
        config.add_v1_system(snmp_engine, "trap-area", creds.community)
        config.add_target_parameters(snmp_engine, "p-v2c", "trap-area", "noAuthNoPriv", 1)
        config.add_vacm_user(snmp_engine, 2, "trap-area", "noAuthNoPriv", (), (), (1, 3, 6))
        config.add_v3_user(snmp_engine, creds.v3_user,
                           config.USM_AUTH_HMAC192_SHA256, creds.auth_key,
                           config.USM_PRIV_CFB128_AES, creds.priv_key)
        config.add_target_parameters(snmp_engine, "p-v3", creds.v3_user, "authPriv")
        config.add_vacm_user(snmp_engine, 3, creds.v3_user, "authPriv", (), (), (1, 3, 6))
        config.add_context(snmp_engine, "")
        self._engine = snmp_engine
        self._originator = ntforg.NotificationOriginator()
        return snmp_engine


__all__ = ["TrapService", "TrapTarget", "engine_id_for", "varbinds"]
