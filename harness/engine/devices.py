"""summary.json's `devices`: each device's facts as the run found them (vendor, model, serial,
firmware; "" with an `error` when a device could not say), its driver and SSH key policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.capabilities import ProfiledDevice, TrafficEndpoint
from harness.base.errors import HarnessError
from harness.config.lab import Lab
from harness.engine.bench import Bench

__all__ = ["device_entries"]


async def device_entries(bench: Bench, lab: Lab,
                         warn: Callable[[str], None]) -> list[dict[str, Any]]:
    """One entry per gNodeB, core and traffic host of the bench; `warn` says a device that
    could not give its facts."""
    devices: list[dict[str, Any]] = []
    equipment: list[tuple[str, ProfiledDevice]] = [*bench.gnbs.items(), *bench.cores.items()]
    for name, device in equipment:
        entry: dict[str, Any] = {"name": name, "role": device.profile.role,
                                 "profile": device.profile.name}
        try:
            facts = await device.facts()
            entry.update(vendor=facts.vendor, model=facts.model, serial=facts.serial,
                         firmware=facts.firmware, description=facts.description)
        except HarnessError as exc:
            entry.update(vendor="", model="", serial="", firmware="", error=str(exc))
            warn(f"{name}: {exc}")
        devices.append(entry)
    for name, host in bench.hosts.items():
        devices.append(await _host_entry(name, host, lab.devices[name].role))
    for entry in devices:
        entry["driver"] = bench.drivers.get(entry["name"], "")
        entry["ssh_host_key_policy"] = bench.ssh_policies.get(entry["name"])
    return devices


async def _host_entry(name: str, host: TrafficEndpoint, role: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "role": role, "vendor": "", "model": "traffic host",
                             "serial": "", "firmware": ""}
    try:
        entry["firmware"] = f"iperf3 {await host.tool_version('iperf3')}"
    except HarnessError as exc:
        entry["error"] = str(exc)
    return entry
