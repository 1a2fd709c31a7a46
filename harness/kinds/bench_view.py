"""What a trial kind reaches through the bench: devices by capability, ports and paths.

The engine's `Bench` is one; kinds never import it (layers: engine → kinds), so a kind can be
written and tested against any object with these members. It is the monitors' view (lab,
gNodeBs, cores, trap receivers) plus the traffic hosts and their paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from drivers.capabilities import TrafficEndpoint
from harness.monitors.bench_view import MonitorBench

__all__ = ["KindBench"]


class KindBench(MonitorBench, Protocol):
    """The bench as a kind sees it."""

    @property
    def hosts(self) -> Mapping[str, TrafficEndpoint]:
        """Traffic hosts (UE, DN) by lab name."""
        ...

    @property
    def traffic_ports(self) -> Mapping[str, int]:
        """The iperf3 server port of each data-network host."""
        ...

    @property
    def irtt_ports(self) -> Mapping[str, int]:
        """The irtt server port of each data-network host."""
        ...

    def endpoint(self, dn: str, via: str | None, ue: str | None = None,
                 kind: str = "traffic") -> tuple[str, int]:
        """Where UE host `ue` sends `kind` traffic to reach `dn` through gNodeB `via`."""
        ...
