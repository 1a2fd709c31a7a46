"""Binds a virtual gNodeB's management plane to its running servers: faults, reboots, traps.

`GnbLifecycle` implements `harness.simlab.mgmt.ServerControl` over the SNMP agent, the SSH
server and the trap sender of one gNodeB, runs the fault-expiry housekeeping and performs
reboots: SNMP and SSH stop, the cells carry nothing for `reboot_s`, then the device boots
(uptime restarts, a verified image becomes the running version, alarms resynchronise, coldStart
and the install result are sent) and its servers listen again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.simlab.alarms import Notification
from harness.simlab.mgmt import TrapTarget
from harness.simlab.relay import TcpRelay
from harness.simlab.snmp_agent import AgentCredentials, SnmpAgent
from harness.simlab.spec import SimGnbSpec
from harness.simlab.ssh_server import SshCliServer
from harness.simlab.traps import TrapService, engine_id_for
from harness.simlab.udp_relay import UdpRelay

if TYPE_CHECKING:
    from harness.simlab.gnb import VirtualGnb

HOUSEKEEPING_S = 0.25
REPLY_GRACE_S = 0.3  # lets the CLI's answer to `install firmware`/`reboot` reach the operator
_log = logging.getLogger("harness.simlab.lifecycle")

FlowCounter = Callable[[int], "int | None"]


def flash_dir(state_dir: Path, name: str) -> Path:
    """The directory a gNodeB's SFTP server shows as `/` (its flash)."""
    return state_dir / f"{name}-flash"


def relay_flows(gnb: VirtualGnb, relays: list[TcpRelay | UdpRelay]) -> FlowCounter:
    """Counts a cell's active flows: the TCP connections and UDP flows of its relays."""
    def count(cell_id: int) -> int | None:
        cell = gnb.cells.get(cell_id)
        if cell is None or not relays:
            return None
        flows = 0
        for relay in relays:
            if relay.uplink is cell.uplink or relay.uplink.parent is cell.uplink:
                flows += len(relay.connections if isinstance(relay, TcpRelay) else relay.flows)
        return flows
    return count


class GnbLifecycle:
    """The `ServerControl` of one running gNodeB (methods are safe from any thread)."""

    def __init__(self, gnb: VirtualGnb, *, agent: SnmpAgent, ssh: SshCliServer,
                 traps: TrapService, flows: FlowCounter | None = None) -> None:
        self._gnb = gnb
        self._agent = agent
        self._ssh = ssh
        self._traps = traps
        self._flows = flows
        self._loop: asyncio.AbstractEventLoop | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._reboot: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, gnb: VirtualGnb, spec: SimGnbSpec, state_dir: Path, *, agent: SnmpAgent,
              ssh: SshCliServer, relays: list[TcpRelay | UdpRelay]) -> GnbLifecycle:
        """Wire a gNodeB started from `spec`: flash, reboot time, trap targets and sender."""
        mgmt = gnb.mgmt
        mgmt.flash_dir = flash_dir(state_dir, spec.name)
        mgmt.flash_dir.mkdir(parents=True, exist_ok=True)
        mgmt.reboot_s = spec.reboot_s
        for target in spec.trap_targets:
            mgmt.add_trap_target(TrapTarget(target.host, target.port, target.version))
        creds = spec.credentials
        traps = TrapService(gnb, host=spec.host, engine_id=engine_id_for(spec.name),
                            credentials=AgentCredentials(community=creds.community,
                                                         v3_user=creds.v3_user,
                                                         auth_key=creds.auth_key,
                                                         priv_key=creds.priv_key))
        return cls(gnb, agent=agent, ssh=ssh, traps=traps, flows=relay_flows(gnb, relays))

    @property
    def traps(self) -> TrapService:
        """The trap sender."""
        return self._traps

    async def start(self) -> None:
        """Bind to the gNodeB, start the trap sender and housekeeping; announce coldStart."""
        self._loop = asyncio.get_running_loop()
        await self._traps.start()
        self._gnb.mgmt.servers = self
        self._gnb.faults.refresh()
        self._gnb.mgmt.alarms.emit(Notification(name="coldStart",
                                                uptime_ticks=self._gnb.uptime_ticks()))
        self._housekeeping = asyncio.create_task(self._keep(), name="gnb-housekeeping")

    async def stop(self) -> None:
        """Unbind and stop the background work (the servers themselves are stopped elsewhere)."""
        for task in (self._reboot, self._housekeeping):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._reboot = self._housekeeping = None
        if self._gnb.mgmt.servers is self:
            self._gnb.mgmt.servers = None
        await self._traps.stop()

    @property
    def rebooting(self) -> bool:
        """Whether a reboot is in progress."""
        return self._reboot is not None and not self._reboot.done()

    async def wait_rebooted(self, timeout_s: float) -> None:
        """Wait (bounded) until a reboot in progress has finished."""
        task = self._reboot
        if task is not None:
            await asyncio.wait_for(asyncio.shield(task), timeout=timeout_s)

    # ---- ServerControl ------------------------------------------------------------------------

    def set_snmp_mode(self, mode: str) -> None:
        """`normal`, `silent` or `error`."""
        self._agent.silent = mode == "silent"
        self._agent.answer_errors = mode == "error"

    def set_ssh_faults(self, *, refuse_auth: bool, drop_sessions: bool) -> None:
        """Refuse logins; drop every session now and keep dropping new ones."""
        self._ssh.refuse_auth = refuse_auth
        self._ssh.drop_all = drop_sessions
        if drop_sessions:
            self._ssh.drop_sessions()

    def reboot(self, down_s: float) -> None:
        """Schedule a reboot on the server loop; returns at once."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the gNodeB's servers are not running")
        loop.call_soon_threadsafe(self._start_reboot, down_s)

    def snmp_requests(self) -> int:
        """SNMP PDUs the agent received."""
        return self._agent.requests_seen

    def ssh_sessions(self) -> int:
        """Open SSH connections."""
        return self._ssh.session_count

    def flow_count(self, cell_id: int) -> int | None:
        """Active relayed flows through a cell, when the relays report them."""
        return self._flows(cell_id) if self._flows is not None else None

    # ---- background work ----------------------------------------------------------------------

    def _start_reboot(self, down_s: float) -> None:
        if self.rebooting:
            return
        self._reboot = asyncio.create_task(self._do_reboot(down_s), name="gnb-reboot")

    async def _do_reboot(self, down_s: float) -> None:
        mgmt = self._gnb.mgmt
        await asyncio.sleep(REPLY_GRACE_S)
        _log.info("%s: rebooting for %.1f s", self._gnb.identity.name, down_s)
        mgmt.begin_reboot()
        await self._agent.stop()
        await asyncio.to_thread(self._ssh.stop)
        await asyncio.sleep(down_s)  # cancelled here when the lab stops: it stays down
        mgmt.complete_boot()
        try:
            await self._agent.start()
            await asyncio.to_thread(self._ssh.start)
        except Exception:
            _log.exception("%s: servers failed to come back after reboot",
                           self._gnb.identity.name)

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                self._gnb.faults.expire()
            except Exception:
                _log.exception("%s: fault housekeeping failed", self._gnb.identity.name)


__all__ = ["GnbLifecycle"]
