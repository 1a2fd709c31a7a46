"""iperf3 argv builders and the `-J` parser, against output captured from real iperf3 3.12 runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drivers.hosts.iperf3 import (
    Iperf3Options,
    client_argv,
    parse_result,
    server_argv,
    udp_burst,
)
from harness.base.errors import ConfigError, MeasurementError

FIXTURES = Path(__file__).parent / "fixtures" / "iperf3"


def _text(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_text(name))
    return doc


# --- argv -----------------------------------------------------------------------------------

def test_client_argv_dl_is_reverse_and_always_json() -> None:
    argv = client_argv(Iperf3Options(host="10.0.0.2", port=5201, duration_s=30))
    assert argv[:3] == ["iperf3", "-c", "10.0.0.2"]
    assert "-J" in argv and "-R" in argv and "--get-server-output" in argv
    assert argv[argv.index("-i") + 1] == "1"
    assert argv[argv.index("-t") + 1] == "30"
    assert argv[argv.index("--connect-timeout") + 1] == "5000"
    assert "-u" not in argv and "-P" not in argv and "-O" not in argv


def test_client_argv_ul_udp_with_every_option() -> None:
    opts = Iperf3Options(host="h", port=6000, direction="ul", protocol="udp", streams=4,
                         duration_s=1.5, omit_s=0.5, bitrate_bps=50e6, window_bytes=262144,
                         length_bytes=1400, bind="10.0.0.1", connect_timeout_s=2.5)
    argv = client_argv(opts, binary="/opt/iperf3")

    def value(flag: str) -> str:
        return argv[argv.index(flag) + 1]

    assert argv[0] == "/opt/iperf3"
    assert "-R" not in argv and "-u" in argv
    assert value("-t") == "2"              # iperf3 3.12 truncates a float -t: round up
    assert value("-O") == "1"
    assert value("-P") == "4"
    assert value("-b") == "50000000"
    assert value("-w") == "262144"
    assert value("-l") == "1400"
    assert value("-B") == "10.0.0.1"
    assert value("--connect-timeout") == "2500"
    assert value("-p") == "6000"


def test_client_argv_paces_a_fast_udp_rate_in_short_bursts() -> None:
    """iperf3 3.12 checks a UDP rate after every datagram unless `-b RATE/K`: at 1.7 Gbit/s
    of 1,400-byte datagrams K is the 15 sent in 100 µs; slow UDP, UDP whose datagram size
    iperf3 picks (32 KiB on loopback: 100 µs could not be kept) and TCP keep the plain rate."""
    def rate(protocol: str, bps: float, length: int | None = 1400) -> str:
        argv = client_argv(Iperf3Options(host="h", port=5201, protocol=protocol,
                                         bitrate_bps=bps, length_bytes=length))
        return argv[argv.index("-b") + 1]

    assert rate("udp", 1.7e9) == "1700000000/15"
    assert rate("udp", 2.2e9) == "2200000000/16"          # at most 16
    assert rate("udp", 500e6) == "500000000/4"
    assert rate("udp", 500e6, None) == "500000000"        # size left to iperf3: no bound
    assert rate("udp", 100e6) == "100000000"               # under 2 per 100 µs: unchanged
    assert rate("udp", 0) == "0"                           # unlimited
    assert rate("tcp", 1.7e9) == "1700000000"
    assert udp_burst(1.7e9, 64) == 16 and udp_burst(1e3, 1400) == 1


def test_server_argv() -> None:
    assert server_argv(5201) == ["iperf3", "-s", "-p", "5201", "-J", "-1"]
    assert server_argv(5202, bind="127.0.0.1", one_off=False, binary="ip3") == [
        "ip3", "-s", "-p", "5202", "-J", "-B", "127.0.0.1"]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"direction": "down"}, "direction"),
    ({"protocol": "sctp"}, "protocol"),
    ({"streams": 0}, "streams"),
    ({"duration_s": 0}, "duration_s"),
    ({"port": 0}, "port"),
    ({"protocol": "udp"}, "bitrate_bps"),
    ({"window_bytes": 0}, "window_bytes"),
])
def test_options_reject_bad_values(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        Iperf3Options(host="h", port=kwargs.pop("port", 5201), **kwargs)
    assert info.value.field == f"iperf3.{field}"


# --- parsing real output ----------------------------------------------------------------------

def test_tcp_ul_uses_server_receiver_intervals_and_flags_omitted() -> None:
    doc = _doc("tcp-ul-1stream")                      # -t 3 -O 1
    result = parse_result(_text("tcp-ul-1stream"), direction="ul")
    assert result.protocol == "tcp" and result.direction == "ul" and result.streams == 1
    assert result.start_unix_s == doc["start"]["timestamp"]["timesecs"] == 1795877956
    assert result.bytes_received == doc["end"]["sum_received"]["bytes"] == 14068613120
    assert result.bytes_sent == doc["end"]["sum_sent"]["bytes"] == 14067957760
    assert result.bits_per_second_received == pytest.approx(37514901097.0257)
    assert result.retransmits == 80
    # 1 omitted + 3 measured; the server's 0.14 ms tail interval is folded into the last one
    assert [i.omitted for i in result.intervals] == [True, False, False, False]
    assert len(result.measured_intervals) == doc["start"]["test_start"]["duration"] == 3
    assert sum(i.bytes for i in result.measured_intervals) == result.bytes_received
    assert result.intervals[-1].bytes == 4668718945 + 1048788
    assert result.intervals[-1].end_s == pytest.approx(1.000016 + 3.000112)
    # receiver's view: the server's intervals, not the client's sender intervals
    assert result.intervals[1].bytes == doc["server_output_json"]["intervals"][1]["sum"]["bytes"]
    # measured intervals continue after the omit period instead of restarting at 0
    starts = [i.start_s for i in result.intervals]
    assert starts == sorted(starts) and result.intervals[1].start_s == pytest.approx(1.000046)
    assert result.mean_rtt_ms == pytest.approx(0.029)       # sender mean_rtt 29 us
    assert result.host_cpu_percent == pytest.approx(99.0460550981539)
    assert result.remote_cpu_percent == pytest.approx(44.07020710395696)
    assert result.lost_percent is None and result.jitter_ms is None


def test_tcp_dl_reverse_four_streams_sums_streams_from_client() -> None:
    doc = _doc("tcp-dl-reverse-4streams")             # -R -P 4 -t 2
    result = parse_result(_text("tcp-dl-reverse-4streams"), direction="dl")
    assert result.streams == 4
    assert result.bytes_received == doc["end"]["sum_received"]["bytes"] == 10402660352
    assert result.bytes_sent == 10417602560
    assert result.retransmits == 16                   # the server (sender) counted them
    assert len(result.intervals) == 2
    first = doc["intervals"][0]
    assert result.intervals[0].bytes == sum(s["bytes"] for s in first["streams"]) == 5933629440
    assert sum(i.bytes for i in result.intervals) == result.bytes_received
    assert not any(i.omitted for i in result.intervals)
    # the client receives under -R: RTT comes from the server's sender streams (us -> ms)
    server_rtts = [s["sender"]["mean_rtt"] for s in doc["server_output_json"]["end"]["streams"]]
    assert result.mean_rtt_ms == pytest.approx(sum(server_rtts) / len(server_rtts) / 1000)


def test_udp_ul_reports_receiver_loss_and_jitter() -> None:
    doc = _doc("udp-ul-100M")                         # -u -b 100M -t 2
    result = parse_result(_text("udp-ul-100M"), direction="ul")
    assert result.protocol == "udp"
    assert result.bytes_received == 25001984
    assert result.bits_per_second_received == pytest.approx(99997886.21243565)
    assert result.lost_percent == 0.0
    assert result.jitter_ms == pytest.approx(doc["end"]["sum_received"]["jitter_ms"])
    assert result.retransmits is None and result.mean_rtt_ms is None
    assert [i.packets for i in result.intervals] == [382, 381]
    assert all(i.lost_packets == 0 and i.jitter_ms is not None for i in result.intervals)
    assert sum(i.bytes for i in result.intervals) == result.bytes_received


def test_udp_dl_reverse() -> None:
    result = parse_result(_text("udp-dl-reverse-100M"), direction="dl")
    assert result.bytes_received == result.bytes_sent == 25001984
    assert result.bits_per_second_received == pytest.approx(100001435.90666607)
    assert result.jitter_ms == pytest.approx(0.00556789284598093)
    assert len(result.intervals) == 2
    assert result.intervals[0].jitter_ms == pytest.approx(0.00305339419334002)
    assert result.intervals[0].packets == 382


def test_ul_without_server_json_falls_back_to_client_intervals() -> None:
    doc = _doc("tcp-ul-1stream")
    del doc["server_output_json"]
    result = parse_result(json.dumps(doc), direction="ul")
    assert [i.bytes for i in result.intervals] == [i["sum"]["bytes"] for i in doc["intervals"]]
    assert result.intervals[1].retransmits == doc["intervals"][1]["sum"]["retransmits"]


# --- failures are errors, never zeros -----------------------------------------------------------

def test_error_json_raises_with_iperf3_message() -> None:
    with pytest.raises(MeasurementError, match="unable to connect to server: Connection refused"):
        parse_result(_text("error-connect-refused"), direction="dl")


def test_interrupted_run_with_partial_numbers_is_an_error() -> None:
    end = _doc("client-interrupted")["end"]        # SIGTERM after 1.6 s of a 5 s run
    assert end["sum_sent"]["bytes"] > 0 and end["sum_received"]["bytes"] == 0
    with pytest.raises(MeasurementError, match="interrupt - the client has terminated"):
        parse_result(_text("client-interrupted"), direction="ul")


def test_truncated_json_says_so() -> None:
    with pytest.raises(MeasurementError, match="truncated"):
        parse_result(_text("truncated-tcp-dl"), direction="dl")


@pytest.mark.parametrize("text", ["", "   \n", "iperf3: error - unable to connect"])
def test_empty_or_text_output_is_an_error(text: str) -> None:
    with pytest.raises(MeasurementError):
        parse_result(text, direction="dl")


def test_missing_end_sum_is_an_error() -> None:
    doc = _doc("tcp-ul-1stream")
    del doc["end"]["sum_received"]
    with pytest.raises(MeasurementError, match=r"end\.sum_received"):
        parse_result(json.dumps(doc), direction="ul")


def test_no_intervals_is_an_error() -> None:
    doc = _doc("tcp-dl-reverse-4streams")
    doc["intervals"] = []
    with pytest.raises(MeasurementError, match="no intervals"):
        parse_result(json.dumps(doc), direction="dl")


def test_direction_mismatch_is_an_error() -> None:
    with pytest.raises(MeasurementError, match="-R"):
        parse_result(_text("tcp-dl-reverse-4streams"), direction="ul")
    with pytest.raises(ConfigError):
        parse_result(_text("tcp-dl-reverse-4streams"), direction="down")
