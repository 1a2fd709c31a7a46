"""The metric names a trial's `monitor:` gives, per gNodeB cell (harness.monitors.kpi), and why
a criterion's name of a monitored KPI is refused: a cell the trial does not poll, or the bare
name of a KPI polled on several cells (ambiguous: the criterion must name the cell)."""

from __future__ import annotations

from harness.config.lab import Lab
from harness.kinds.base import TrialBase
from harness.monitors.kpi import KPI_STATS, ambiguous_kpi, kpi_metric_names

__all__ = ["kpi_cell_problem", "monitored_metrics", "unsimulated_cells"]


def _kpi_cells(spec: TrialBase, lab: Lab, device: str) -> list[int]:
    """The cells a monitored device's KPIs are polled on: a gNodeB's monitored cells, none
    for a core (its KPIs have no cell)."""
    dev = lab.devices.get(device)
    if dev is None or dev.role != "gnodeb":
        return []
    return list(spec.monitor_cells or [spec.cell])


def monitored_metrics(spec: TrialBase, lab: Lab) -> set[str]:
    """The metric names the trial's `monitor:` can give (see harness.monitors.kpi)."""
    return {name for device, kpis in spec.monitor.items() for kpi in kpis
            for name in kpi_metric_names(device, kpi, _kpi_cells(spec, lab, device))}


def kpi_cell_problem(name: str, spec: TrialBase, lab: Lab) -> str | None:
    """Why `name`, a monitored KPI's metric, names a cell not polled or no cell where it
    must name one; None when it is not a monitored KPI's name at all."""
    for device, kpis in spec.monitor.items():
        cells = _kpi_cells(spec, lab, device)
        for kpi in kpis:
            base = f"{device}.{kpi}."
            if not name.startswith(base):
                continue
            rest = name[len(base):].split(".")
            if rest[-1] in KPI_STATS and len(rest) == 1 and len(cells) > 1:
                return ambiguous_kpi(device, kpi, cells)
            if len(rest) == 2 and rest[0].startswith("cell") and rest[1] in KPI_STATS:
                polled = ", ".join(str(c) for c in cells) or "none (a core's KPIs have no cell)"
                return (f"{device}.{kpi} is not monitored on {rest[0]}: the trial polls "
                        f"cells {polled} (add the cell to monitor_cells:)")
    return None


def unsimulated_cells(spec: TrialBase, lab: Lab) -> str | None:
    """Why `monitor_cells:` names a cell a monitored simulated gNodeB does not have (a real
    device's cells are known only when it is reached); None when every cell exists."""
    for device in spec.monitor:
        dev = lab.devices.get(device)
        simulated = getattr(dev, "simulated", None) if dev is not None else None
        have = sorted(int(c.id) for c in getattr(simulated, "cells", None) or [])
        if dev is None or dev.role != "gnodeb" or not have:
            continue
        missing = [c for c in _kpi_cells(spec, lab, device) if c not in have]
        if missing:
            return (f"{device} has no cell {', '.join(map(str, missing))} (its simulated "
                    f"cells: {', '.join(map(str, have))})")
    return None
