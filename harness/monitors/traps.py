"""The bench's trap receivers, and who each received trap came from.

One receiver listens where lab.yaml's `traps:` says (for real equipment: a trap is attributed
to the device whose `host` is the sender's address). Every simulated gNodeB gets a receiver of
its own on a free loopback port, because all simulated devices send from 127.0.0.1 and the
sender's address alone could not tell them apart. Alarm monitors subscribe while a trial runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from drivers.transport.traps import Trap, TrapReceiver, TrapUser
from harness.config.lab import Lab, TrapSettings
from harness.config.secrets import Secret

TrapListener = Callable[[str, Trap], None]
"""Called with (device name, or the sender's address when no device has it; trap)."""


@dataclass
class TrapHub:
    """Receivers started for a run; delivers each trap to the current listeners."""

    _receivers: list[TrapReceiver] = field(default_factory=list)
    _listeners: list[TrapListener] = field(default_factory=list)
    _hosts: dict[str, list[str]] = field(default_factory=dict)  # address → device names

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

    async def listen_lab(self, lab: Lab, settings: TrapSettings) -> tuple[str, int]:
        """Start the receiver lab.yaml's `traps:` describes; returns where it listens."""
        for name, dev in lab.devices.items():
            if dev.role in ("gnodeb", "core") and dev.simulated is None:
                self._hosts.setdefault(dev.host, []).append(name)
        host, _, port = settings.listen.rpartition(":")
        users = [TrapUser(user=u.user,
                          auth_protocol=u.auth.protocol if u.auth is not None else "none",
                          auth_key=u.auth.key if u.auth is not None else None,
                          priv_protocol=u.priv.protocol if u.priv is not None else "none",
                          priv_key=u.priv.key if u.priv is not None else None,
                          engine_id=u.engine_id) for u in settings.users]
        receiver = TrapReceiver(host, int(port), communities=list(settings.communities),
                                users=users, on_trap=self._by_address)
        return await self._start(receiver)

    async def listen_device(self, device: str, host: str,
                            communities: Sequence[Secret] = ()) -> tuple[str, int]:
        """Start a receiver for one device only (on a free port of `host`)."""
        receiver = TrapReceiver(host, 0, communities=list(communities),
                                on_trap=lambda trap: self._deliver(device, trap))
        return await self._start(receiver)

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
