"""Which iperf3 failures the client re-runs: a refused control connection, before traffic."""

from __future__ import annotations

from pathlib import Path

from drivers.hosts.iperf3_control import control_refused, measured_anything

FIXTURES = Path(__file__).parent / "fixtures" / "iperf3"


def test_refusal_before_any_interval_is_not_started() -> None:
    text = ('{"start": {}, "intervals": [], "end": {},'
            ' "error": "control socket has closed unexpectedly"}')
    assert control_refused(text) and not measured_anything(text)


def test_a_run_that_carried_traffic_is_never_rerun() -> None:
    interrupted = (FIXTURES / "client-interrupted.json").read_text(encoding="utf-8")
    assert measured_anything(interrupted)
    assert measured_anything("{not json")  # cannot tell → treated as started


def test_connection_refused_is_not_a_busy_server() -> None:
    refused = (FIXTURES / "error-connect-refused.json").read_text(encoding="utf-8")
    assert not control_refused(refused)
