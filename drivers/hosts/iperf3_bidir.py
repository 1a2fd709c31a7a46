"""iperf3 `--bidir` output split into its two flows, each parsed like a one-way run (pure).

In a bidirectional run the client sends on some streams (the uplink, "forward" flow) and
receives on the others (the downlink, "reverse" flow). The client's JSON reports the reverse
flow under `sum_bidir_reverse` / `sum_*_bidir_reverse`; the server's JSON (fetched with
`--get-server-output`) carries the senders' RTTs of the downlink streams. Each flow is turned
into the document a one-way run would have produced and handed to `parse_result`, so both flows
get exactly the same treatment (omit periods, slivers, receiver-side intervals).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from drivers.hosts.iperf3 import Iperf3Result, parse_result
from harness.base.errors import MeasurementError


def _doc(text: str) -> dict[str, Any]:
    body = text.strip()
    start = body.find("{")
    try:
        doc, _ = json.JSONDecoder().raw_decode(body, max(start, 0))
    except json.JSONDecodeError as exc:
        raise MeasurementError(f"iperf3 JSON output is truncated or invalid ({exc.msg})") from exc
    if not isinstance(doc, dict):
        raise MeasurementError("iperf3 JSON output is not an object")
    if doc.get("error"):
        raise MeasurementError(f"iperf3 reported an error: {doc['error']}")
    return doc


def _downlink_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The reverse flow as a `-R` run would report it (client receives, server sends)."""
    view = copy.deepcopy(doc)
    end = view.get("end")
    if not isinstance(end, dict) or "sum_received_bidir_reverse" not in end:
        raise MeasurementError("iperf3 output lacks 'end.sum_received_bidir_reverse': not a "
                               "--bidir run, or the run did not complete")
    end["sum_received"] = end.pop("sum_received_bidir_reverse")
    end["sum_sent"] = end.pop("sum_sent_bidir_reverse", end["sum_received"])
    end["streams"] = []  # the client's own streams hold no RTT of the downlink senders
    intervals = view.get("intervals")
    view["intervals"] = [{"sum": i.get("sum_bidir_reverse")} for i in intervals
                         if isinstance(i, dict)] if isinstance(intervals, list) else intervals
    start = view.get("start")
    if isinstance(start, dict) and isinstance(start.get("test_start"), dict):
        start["test_start"]["reverse"] = 1
    return view


def parse_bidir(text: str) -> tuple[Iperf3Result, Iperf3Result]:
    """(downlink, uplink) results of an `iperf3 --bidir -J --get-server-output` client run."""
    doc = _doc(text)
    uplink = parse_result(json.dumps(doc), direction="ul")
    downlink = parse_result(json.dumps(_downlink_view(doc)), direction="dl")
    return downlink, uplink
