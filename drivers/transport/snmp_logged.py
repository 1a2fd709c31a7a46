"""SNMP requests in the device log: what was read or written, how many values came back, how
long it took, and the error when it failed. The device's secrets (community, keys) are never in
a request; a SET's values go through the `DeviceLog`'s masking like everything else."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence, Sized
from typing import TypeVar

from drivers.transport.devlog import DeviceLog
from drivers.transport.snmp import SetValue, SnmpTarget, SnmpTransport, SnmpValue

T = TypeVar("T")
_SHOWN_OIDS = 6  # OIDs named per line; the rest are counted


def _oids(oids: Sequence[str]) -> str:
    shown = ", ".join(oids[:_SHOWN_OIDS])
    more = len(oids) - _SHOWN_OIDS
    return f"{shown} (+{more} more)" if more > 0 else shown


class LoggedSnmpTransport(SnmpTransport):
    """An `SnmpTransport` that writes each request to the device's log (reads at DEBUG,
    SETs at INFO, failures at WARNING)."""

    def __init__(self, target: SnmpTarget, *, device: str, log: DeviceLog) -> None:
        super().__init__(target, device=device)
        self.device_log = log

    async def _logged(self, op: str, what: str, call: Awaitable[T],
                      count: Callable[[T], int] | None = None, level: str = "debug") -> T:
        started = time.monotonic()
        try:
            result = await call
        except BaseException as exc:
            self.device_log.warning("snmp %s %s failed after %.0f ms: %s%s", op, what,
                                    (time.monotonic() - started) * 1e3, type(exc).__name__,
                                    f": {exc}" if str(exc) else "")
            raise
        got = count(result) if count is not None else (
            len(result) if isinstance(result, Sized) else 0)
        write = self.device_log.info if level == "info" else self.device_log.debug
        write("snmp %s %s -> %d value(s) in %.0f ms", op, what, got,
              (time.monotonic() - started) * 1e3)
        return result

    async def get(self, oids: Sequence[str]) -> dict[str, SnmpValue]:
        """GET (see `SnmpTransport.get`), logged."""
        return await self._logged("get", _oids(list(oids)), super().get(oids))

    async def get_next(self, oids: Sequence[str]) -> dict[str, tuple[str, SnmpValue]]:
        """GETNEXT (see `SnmpTransport.get_next`), logged."""
        return await self._logged("getnext", _oids(list(oids)), super().get_next(oids))

    async def bulk(self, oids: Sequence[str], non_repeaters: int = 0,
                   max_repetitions: int | None = None) -> list[tuple[str, SnmpValue]]:
        """GETBULK (see `SnmpTransport.bulk`), logged."""
        return await self._logged("getbulk", _oids(list(oids)),
                                  super().bulk(oids, non_repeaters, max_repetitions))

    async def walk_columns(self, columns: Sequence[str], *, max_repetitions: int | None = None
                           ) -> dict[str, dict[str, SnmpValue]]:
        """Walk subtrees (see `SnmpTransport.walk_columns`; `walk` comes through here)."""
        call = super().walk_columns(columns, max_repetitions=max_repetitions)
        return await self._logged("walk", _oids(list(columns)), call,
                                  count=lambda table: sum(len(c) for c in table.values()))

    async def set(self, values: Mapping[str, SetValue] | Sequence[tuple[str, SetValue]]
                  ) -> dict[str, SnmpValue]:
        """SET (see `SnmpTransport.set`), logged with the values written."""
        items = list(values.items()) if isinstance(values, Mapping) else list(values)
        what = ", ".join(f"{oid}={value!r}" for oid, value in items)
        return await self._logged("set", what, super().set(items), level="info")
