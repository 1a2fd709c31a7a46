"""The bench's trap receivers, and who each received trap came from.

One receiver listens where lab.yaml's `traps:` says (for real equipment: a trap is attributed
to the device whose `host` is the sender's address). Every simulated gNodeB gets a receiver of
its own on a free loopback port, because all simulated devices send from 127.0.0.1 and the
sender's address alone could not tell them apart. Alarm monitors subscribe while a trial runs.

A trap counts only when it is authenticated: sent from a lab device's address with that
device's community (or a community of `traps.communities`, or a configured v3 user). Forged and
malformed traps are refused and counted (`rejections`), never delivered as alarms.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from drivers.transport.traps import Trap, TrapReceiver, TrapUser
from harness.base.secrets import Secret
from harness.config.lab import Lab, TrapSettings

TrapListener = Callable[[str, Trap], None]
"""Called with (device name, or the sender's address when no device has it; trap)."""


@dataclass
class TrapHub:
    """Receivers started for a run; delivers each trap to the current listeners."""

    _receivers: list[TrapReceiver] = field(default_factory=list)
    _listeners: list[TrapListener] = field(default_factory=list)
    _hosts: dict[str, list[str]] = field(default_factory=dict)  # address → device names
    rejections: collections.Counter[tuple[str, str]] = field(
        default_factory=collections.Counter)  # (reason, sender: device or address) → count

    def subscribe(self, listener: TrapListener) -> Callable[[], None]:
        """Start delivering traps to `listener`; returns the function that stops it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)
        return unsubscribe

    def _deliver(self, device: str, trap: Trap) -> None:
        for listener in list(self._listeners):
            listener(device, trap)

    async def listen_lab(self, lab: Lab, settings: TrapSettings,
                         communities: Mapping[str, Secret | None] | None = None
                         ) -> tuple[str, int]:
        """Start the receiver lab.yaml's `traps:` describes; returns where it listens.

        Traps are accepted from the addresses of the lab's real gNodeBs and cores only, each
        with its own SNMP community (`communities`: device → community) or one of the
        `traps.communities`, or from a configured v3 user."""
        sources: dict[str, list[Secret]] = {}
        for name, dev in lab.devices.items():
            if dev.role in ("gnodeb", "core") and dev.simulated is None:
                address = await _address(dev.host)
                self._hosts.setdefault(address, []).append(name)
                own = (communities or {}).get(name)
                sources.setdefault(address, []).extend([own] if own is not None else [])
        host, _, port = settings.listen.rpartition(":")
        users = [TrapUser(user=u.user,
                          auth_protocol=u.auth.protocol if u.auth is not None else "none",
                          auth_key=u.auth.key if u.auth is not None else None,
                          priv_protocol=u.priv.protocol if u.priv is not None else "none",
                          priv_key=u.priv.key if u.priv is not None else None,
                          engine_id=u.engine_id) for u in settings.users]
        receiver = TrapReceiver(host, int(port), communities=list(settings.communities),
                                users=users, sources=sources, on_trap=self._by_address,
                                on_reject=self._rejected_by_address)
        return await self._start(receiver)

    async def listen_device(self, device: str, host: str, communities: Sequence[Secret],
                            sender: str | None = None) -> tuple[str, int]:
        """Start a receiver for one device only (on a free port of `host`): it accepts traps
        from `sender` (default `host`) with one of `communities`, and nothing else."""
        address = await _address(sender or host)
        receiver = TrapReceiver(host, 0, sources={address: list(communities)},
                                on_trap=lambda trap: self._deliver(device, trap),
                                on_reject=lambda reason, _host: self._count(reason, device))
        return await self._start(receiver)

    def _count(self, reason: str, sender: str) -> None:
        self.rejections[(reason, sender)] += 1

    def _rejected_by_address(self, reason: str, address: str) -> None:
        names = self._hosts.get(address, [])
        self._count(reason, names[0] if len(names) == 1 else address)

    @property
    def rejected(self) -> int:
        """Traps refused so far (forged, from an unknown address, or malformed)."""
        return sum(self.rejections.values())

    def rejection_summary(self, since: Mapping[tuple[str, str], int] | None = None) -> str:
        """'2 wrong community from gnb1; 1 malformed from 10.0.0.9' (those after `since`)."""
        now = self.rejections - collections.Counter(since or {})
        return "; ".join(f"{n} {reason} from {sender}" for (reason, sender), n in now.items())

    async def _start(self, receiver: TrapReceiver) -> tuple[str, int]:
        address = await receiver.start()
        self._receivers.append(receiver)
        return address

    def _by_address(self, trap: Trap) -> None:
        names = self._hosts.get(trap.source, [])
        self._deliver(names[0] if len(names) == 1 else trap.source, trap)

    @property
    def received(self) -> int:
        """Traps received so far by every receiver."""
        return sum(r.received for r in self._receivers)

    async def close(self) -> None:
        """Stop every receiver."""
        receivers, self._receivers = self._receivers, []
        for receiver in receivers:
            await receiver.close()


async def _address(host: str) -> str:
    """The IPv4 address traps from `host` come from (the name itself if it does not resolve)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, family=socket.AF_INET)
    except OSError:
        return host
    return str(infos[0][4][0]) if infos else host
