"""Multi-operator RAN sharing (MOCN) arithmetic (pure): each PLMN's share and their isolation.

One operator = one PLMN with its own UE-side and DN host (the run: kinds/sharing_run.py).

Shares are stated, like the gNodeB's configuration, as fractions of the cell capacity C (they
may add up to less than 1). C is the scenario's `capacity_mbps` when given, else estimated
from the together phase as Σ throughput / Σ configured shares (every operator saturated gets
its share). Then, per operator, measured share = throughput / C, compared with the configured
one in percentage points; and isolation = the victim's throughput together ÷ what it is
guaranteed, min(alone, share × C): a gNodeB that lets another PLMN's load eat into a
guaranteed share shows isolation below 100 %.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.base.units import Quantity

DEFAULT_CRITERIA = ("sharing.share_error.max <= 10 %", "sharing.isolation >= 90 %")
"""How a sharing trial is judged when the scenario gives no criteria."""


def plmn_key(plmn: str) -> str:
    """The metric-name form of a PLMN: "452-01" → "plmn_452_01" (criteria names are
    lower-case words)."""
    return "plmn_" + re.sub(r"[^0-9a-z]", "_", plmn.lower())


def metric_names(plmns: Sequence[str]) -> tuple[str, ...]:
    """Every metric a sharing trial over `plmns` produces."""
    per = [f"sharing.{plmn_key(p)}.{m}" for p in plmns
           for m in ("throughput", "share", "expected_share", "share_error")]
    return (*per, "sharing.isolation", "sharing.victim.alone", "sharing.victim.together",
            "sharing.capacity", "sharing.share_error.max", "sharing.total")


def capacity(together: dict[str, float], shares: dict[str, float],
             given: float | None) -> tuple[float, bool]:
    """The cell capacity (Mbit/s): `given`, else Σ together ÷ Σ shares (estimated: True)."""
    if given is not None:
        return given, False
    return sum(together.values()) / sum(shares.values()), True


def sharing_metrics(victim: str, victim_alone_mbps: float, together: dict[str, float],
                    shares: dict[str, float], capacity_mbps: float) -> dict[str, Quantity]:
    """Pure: the metrics of a sharing trial from its measured throughputs (Mbit/s)."""
    metrics: dict[str, Quantity] = {
        "sharing.capacity": Quantity(capacity_mbps, "Mbit/s"),
        "sharing.total": Quantity(sum(together.values()), "Mbit/s"),
        "sharing.victim.alone": Quantity(victim_alone_mbps, "Mbit/s"),
        "sharing.victim.together": Quantity(together[victim], "Mbit/s"),
    }
    errors: list[float] = []
    for plmn, mbps in together.items():
        key = plmn_key(plmn)
        measured = mbps / capacity_mbps * 100 if capacity_mbps > 0 else 0.0
        error = abs(measured - shares[plmn] * 100)
        errors.append(error)
        metrics[f"sharing.{key}.throughput"] = Quantity(mbps, "Mbit/s")
        metrics[f"sharing.{key}.share"] = Quantity(measured, "%")
        metrics[f"sharing.{key}.expected_share"] = Quantity(shares[plmn] * 100, "%")
        metrics[f"sharing.{key}.share_error"] = Quantity(error, "%")
    metrics["sharing.share_error.max"] = Quantity(max(errors), "%")
    guaranteed = min(victim_alone_mbps, shares[victim] * capacity_mbps)
    isolation = together[victim] / guaranteed * 100 if guaranteed > 0 else 0.0
    metrics["sharing.isolation"] = Quantity(isolation, "%")
    return metrics


__all__ = ["DEFAULT_CRITERIA", "capacity", "metric_names", "plmn_key", "sharing_metrics"]
