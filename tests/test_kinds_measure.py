"""Pure parts of the trial kinds on captured tool output: RFC 6349, --bidir, UDP, ping, jitter."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from drivers.hosts.iperf3 import Iperf3Options, client_argv, parse_result
from drivers.hosts.iperf3_bidir import parse_bidir
from drivers.hosts.ping import PingOptions, parse_ping, ping_argv
from harness.kinds.throughput import throughput_metrics
from harness.measure.latency import ipdv_ms, latency_metrics, rfc3550_jitter
from harness.measure.rfc6349 import buffer_delay_percent, efficiency_percent, rfc6349_from_iperf3

FIXTURES = Path(__file__).parent / "fixtures"


def _text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_rfc6349_uplink_from_client_sender_stream() -> None:
    figures = rfc6349_from_iperf3(_text("iperf3/tcp-ul-1stream.json"), "ul")
    assert figures is not None
    sent, retrans, mss = 14067957760, 80, 32768  # end.streams[0].sender, start.tcp_mss_default
    assert figures.efficiency_percent == pytest.approx((sent - retrans * mss) / sent * 100)
    assert figures.mean_rtt_ms == pytest.approx(0.029) and figures.baseline_rtt_ms == 0.020
    assert figures.buffer_delay_percent == pytest.approx((0.029 - 0.020) / 0.020 * 100)
    assert rfc6349_from_iperf3(_text("iperf3/tcp-ul-1stream.json"), "dl") is None


def test_rfc6349_downlink_from_server_senders_of_a_bidir_run() -> None:
    figures = rfc6349_from_iperf3(_text("iperf3/tcp-bidir-2streams.json"), "dl")
    assert figures is not None
    sent = 2 * 909639680
    assert figures.transmitted_bytes == sent and figures.retransmitted_segments == 20
    assert figures.efficiency_percent == pytest.approx((sent - 20 * 32768) / sent * 100)
    assert figures.mean_rtt_ms == pytest.approx((0.849 + 0.832) / 2)
    assert figures.baseline_rtt_ms == pytest.approx(0.798)
    assert figures.buffer_delay_percent == pytest.approx((0.8405 - 0.798) / 0.798 * 100)


def test_rfc6349_not_for_udp_and_formulas() -> None:
    assert rfc6349_from_iperf3(_text("iperf3/udp-ul-100M.json"), "ul") is None
    assert efficiency_percent(1000, 10) == 99.0
    assert buffer_delay_percent(30.0, 20.0) == 50.0
    with pytest.raises(ValueError):
        buffer_delay_percent(1.0, 0.0)


def test_bidir_split_into_two_one_way_results() -> None:
    downlink, uplink = parse_bidir(_text("iperf3/tcp-bidir-2streams.json"))
    assert uplink.direction == "ul" and downlink.direction == "dl"
    assert uplink.bytes_received == 5693767680
    assert downlink.bytes_received == 1809055744
    assert downlink.retransmits == 20 and uplink.retransmits == 32
    assert len(downlink.intervals) == len(uplink.intervals) == 2
    dl = throughput_metrics(downlink, "dl.")
    assert dl["dl.throughput.mean"].value == pytest.approx(7233633335.265974 / 1e6)
    assert "throughput.mean" not in dl


def test_bidir_argv_and_options() -> None:
    opts = Iperf3Options(host="127.0.0.1", port=5201, direction="ul", bidir=True)
    argv = client_argv(opts)
    assert "--bidir" in argv and "-R" not in argv
    with pytest.raises(Exception, match="bidir"):
        Iperf3Options(host="127.0.0.1", port=5201, direction="dl", bidir=True)


def test_udp_metrics_loss_and_jitter() -> None:
    result = parse_result(_text("iperf3/udp-dl-reverse-100M.json"), direction="dl")
    metrics = throughput_metrics(result)
    assert metrics["throughput.loss"].unit == "%"
    assert metrics["throughput.loss"].value == pytest.approx(result.lost_percent)
    assert metrics["throughput.jitter"].unit == "ms"
    assert metrics["throughput.jitter"].value == pytest.approx(result.jitter_ms)
    packets = sum(i.packets or 0 for i in result.measured_intervals)
    assert metrics["throughput.packets"].value == packets > 0
    assert "throughput.retransmits" not in metrics


def test_rfc3550_jitter_by_hand() -> None:
    # D = 2, 1 (lost packet skipped), 3: J1 = 2/16; J2 = J1 + (1 - J1)/16; J3 = J2 + (3 - J2)/16
    j1 = 2 / 16
    j2 = j1 + (1 - j1) / 16
    j3 = j2 + (3 - j2) / 16
    assert rfc3550_jitter([10.0, 12.0, None, 11.0, 14.0]) == pytest.approx(j3)
    assert rfc3550_jitter([10.0]) is None
    assert ipdv_ms([10.0, 12.0, None, 11.0, 14.0]) == [2.0, 3.0]


def test_latency_metrics_names_and_values() -> None:
    metrics = latency_metrics([1.0, 2.0, 3.0, None, 4.0], 20.0)
    assert metrics["rtt.mean"].value == 2.5 and metrics["rtt.mean"].unit == "ms"
    assert metrics["rtt.min"].value == 1.0 and metrics["rtt.max"].value == 4.0
    assert metrics["rtt.samples"].value == 4
    assert metrics["loss.percent"].value == 20.0 and metrics["loss.percent"].unit == "%"
    assert metrics["ipdv.mean"].value == 1.0


def test_ping_parse_captured_output() -> None:
    result = parse_ping(_text("ping/loopback-10.txt"))
    assert result.transmitted == 10 and result.received == 10 and result.loss_percent == 0
    assert result.rtts_ms[0] == 0.024 and result.rtts_ms[-1] == 0.016
    assert math.isclose(sum(r for r in result.rtts_ms if r is not None) / 10, 0.0187)


def test_ping_parse_loss_and_argv() -> None:
    text = ("64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=5.10 ms\n"
            "64 bytes from 10.0.0.2: icmp_seq=3 ttl=64 time=6.30 ms\n\n"
            "--- 10.0.0.2 ping statistics ---\n"
            "4 packets transmitted, 2 received, 50% packet loss, time 603ms\n")
    result = parse_ping(text)
    assert result.rtts_ms == [5.1, None, 6.3, None] and result.loss_percent == 50.0
    assert ping_argv(PingOptions("10.0.0.2", count=5)) == ["ping", "-n", "-c", "5", "-i", "0.2",
                                                            "10.0.0.2"]
    with pytest.raises(Exception, match=r"0\.2"):
        PingOptions("10.0.0.2", interval_s=0.01)
    with pytest.raises(Exception, match="statistics"):
        parse_ping("ping: unknown host")
