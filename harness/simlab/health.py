"""Load-dependent health of the virtual gNodeB: CPU load, memory use, board temperatures.

A simple, documented model, so that HOST-RESOURCES-MIB and ENTITY-SENSOR-MIB values move with
the traffic the relay carries (and an overheat fault can push a sensor over its threshold):

- CPU load per core (percent) targets 4 % + 60 % × utilisation + 0.5 % per active flow (core 0
  also does the O&M work: +3 %), and follows its target with a 5 s time constant;
- memory in use targets 2.4 GiB + 0.6 GiB × utilisation + 24 MiB per active flow (τ = 5 s);
- the baseband board's temperature targets 38 °C + 30 °C × CPU load fraction, each radio unit's
  36 °C + 34 °C × its cell's utilisation (τ = 20 s); an injected overheat adds its offset at once.

Utilisation is carried throughput over capacity, summed over directions, between 0 and 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CORES = 4
MEMORY_KIB = 8 * 1024 * 1024
HIGH_TEMPERATURE_C = 75.0
"""A sensor at or above this raises a high-temperature alarm..."""
NORMAL_TEMPERATURE_C = 70.0
"""...which clears once it is below this (hysteresis)."""
_CPU_TAU_S = 5.0
_TEMP_TAU_S = 20.0
_GIB_KIB = 1024 * 1024


def _follow(value: float, target: float, dt: float, tau: float) -> float:
    """First-order lag: move `value` toward `target` over `dt` with time constant `tau`."""
    if dt <= 0:
        return value
    return target + (value - target) * math.exp(-dt / tau)


@dataclass
class Health:
    """CPU, memory and temperatures, advanced by `tick`."""

    cpu: list[float] = field(default_factory=lambda: [7.0] + [4.0] * (CORES - 1))
    memory_used_kib: float = 2.4 * _GIB_KIB
    board_c: float = 40.0
    radio_c: dict[int, float] = field(default_factory=dict)
    overheat_c: float = 0.0
    hot: set[str] = field(default_factory=set)
    """Sensors (`board`, `radio<cell>`) currently over the threshold (with hysteresis)."""

    def tick(self, dt: float, utilisation: float, cell_utilisation: dict[int, float],
             flows: int) -> None:
        """Advance the model by `dt` seconds at the given load."""
        load = min(1.0, max(0.0, utilisation))
        base = 4.0 + 60.0 * load + 0.5 * flows
        for core in range(len(self.cpu)):
            target = min(100.0, base + (3.0 if core == 0 else 0.0))
            self.cpu[core] = _follow(self.cpu[core], target, dt, _CPU_TAU_S)
        memory = (2.4 + 0.6 * load) * _GIB_KIB + 24 * 1024 * flows
        self.memory_used_kib = _follow(self.memory_used_kib, min(memory, MEMORY_KIB * 0.95),
                                       dt, _CPU_TAU_S)
        self.board_c = _follow(self.board_c, 38.0 + 30.0 * self.cpu_fraction(), dt, _TEMP_TAU_S)
        for cell, cell_load in cell_utilisation.items():
            current = self.radio_c.get(cell, 36.0)
            target = 36.0 + 34.0 * min(1.0, max(0.0, cell_load))
            self.radio_c[cell] = _follow(current, target, dt, _TEMP_TAU_S)
        for gone in set(self.radio_c) - set(cell_utilisation):
            del self.radio_c[gone]
        self._update_hot()

    def cpu_fraction(self) -> float:
        """Mean CPU load over the cores, 0..1."""
        return sum(self.cpu) / len(self.cpu) / 100.0

    def temperatures(self) -> dict[str, float]:
        """Every sensor's reading in °C (overheat included): `board`, `radio<cell>`."""
        readings = {"board": self.board_c + self.overheat_c}
        for cell, value in sorted(self.radio_c.items()):
            readings[f"radio{cell}"] = value + self.overheat_c
        return readings

    def _update_hot(self) -> None:
        for name, value in self.temperatures().items():
            if value >= HIGH_TEMPERATURE_C:
                self.hot.add(name)
            elif value < NORMAL_TEMPERATURE_C:
                self.hot.discard(name)
        self.hot &= set(self.temperatures())

    def set_overheat(self, celsius: float) -> None:
        """Apply (or, with 0, remove) an overheat offset; alarms follow at once."""
        self.overheat_c = celsius
        self._update_hot()


__all__ = ["CORES", "HIGH_TEMPERATURE_C", "MEMORY_KIB", "NORMAL_TEMPERATURE_C", "Health"]
