"""The irtt JSON parser on captured real output (irtt 0.9, `irtt client -o FILE --fill=rand`).

Fixtures, 1 s at 20 ms intervals on loopback: straight to an irtt server; through the simulated
cell's UDP relay (30 kHz DDDSU, 1 ms core delay); through the relay with 20 % loss each way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers.hosts.irtt import IrttOptions, client_argv, parse_irtt, server_argv
from harness.base.errors import ConfigError, MeasurementError

FIXTURES = Path(__file__).parent / "fixtures" / "irtt"
NAMES = ["loopback-direct", "relay-idle-dddsu-30khz", "relay-loss-20pct"]


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_statistics_agree_with_irtts_own(name: str) -> None:
    text = fixture(name)
    stats = json.loads(text)["stats"]
    result = parse_irtt(text)
    assert result.rtt is not None and result.ipdv is not None
    assert result.rtt.n == stats["rtt"]["n"] == len(result.rtts_ms)
    for key in ("min", "max", "mean"):
        assert getattr(result.rtt, key) == pytest.approx(stats["rtt"][key] / 1e6, abs=1e-6)
    # irtt interpolates its median; ours is the empirical (inverted-CDF) one
    ordered = sorted(result.rtts_ms)
    assert result.rtt.median == ordered[(len(ordered) + 1) // 2 - 1]
    assert result.ipdv.n == stats["ipdv_round_trip"]["n"]
    assert result.ipdv.mean == pytest.approx(stats["ipdv_round_trip"]["mean"] / 1e6, abs=1e-6)
    assert result.packets_sent == stats["packets_sent"]
    assert result.packets_received == stats["packets_received"]
    assert result.loss_percent == stats["packet_loss_percent"]
    assert result.interval_s == pytest.approx(0.02)
    assert result.start_unix_s is not None and result.start_unix_s > 1.6e9
    assert result.rtt.min <= result.rtt.median <= result.rtt.p95 <= result.rtt.max


def test_relay_fixture_shows_the_slot_model() -> None:
    direct, relayed = parse_irtt(fixture("loopback-direct")), parse_irtt(fixture(
        "relay-idle-dddsu-30khz"))
    assert direct.rtt is not None and relayed.rtt is not None
    assert direct.rtt.median < 0.5  # loopback: a fraction of a millisecond
    assert relayed.rtt.min >= 3.5 and relayed.rtt.max < 10  # slots + 2 ms core delay


def test_lost_packets_carry_their_direction() -> None:
    result = parse_irtt(fixture("relay-loss-20pct"))
    lost = [p for p in result.packets if p.lost is not None]
    assert len(lost) == result.packets_sent - result.packets_received > 0
    assert {p.lost for p in lost} <= {"up", "down", "unknown"}
    assert {"up", "down"} <= {p.lost for p in lost}
    assert all(p.rtt_ms is None and p.ipdv_ms is None for p in lost)
    assert result.upstream_loss_percent is not None and result.upstream_loss_percent > 0
    arrived = [p for p in result.packets if p.lost is None]
    assert all(p.rtt_ms is not None and p.send_delay_ms is not None for p in arrived)
    assert [p.seqno for p in result.packets] == sorted(p.seqno for p in result.packets)


@pytest.mark.parametrize(("text", "message"), [
    ("", "no output"),
    ('{"stats": {', "truncated or invalid"),
    ("[1, 2]", "not an object"),
    ('{"round_trips": []}', "stats"),
    ('{"stats": {"packets_sent": 1, "packets_received": 1}}', "round_trips"),
    ('{"stats": {"packets_sent": 0, "packets_received": 0, "packet_loss_percent": 0},'
     ' "round_trips": []}', "no packets"),
    ('{"stats": {"packets_sent": 1, "packets_received": 1, "packet_loss_percent": 0},'
     ' "round_trips": [{"seqno": 0, "lost": "maybe"}]}', "unknown loss state"),
])
def test_unusable_output_is_a_measurement_error(text: str, message: str) -> None:
    with pytest.raises(MeasurementError, match=message):
        parse_irtt(text)


def test_argv() -> None:
    opts = IrttOptions(host="127.0.0.1", port=2112, interval_s=0.0103, duration_s=2,
                       length_bytes=172)
    assert client_argv(opts) == ["irtt", "client", "-Q", "-o", "-", "--fill=rand", "-i",
                                 "10300us", "-d", "2000ms", "-l", "172", "127.0.0.1:2112"]
    assert server_argv(2112) == ["irtt", "server", "-b", "127.0.0.1:2112"]


@pytest.mark.parametrize("changes", [{"port": 0}, {"interval_s": 0.0}, {"duration_s": 0.001},
                                     {"length_bytes": 0}])
def test_bad_options_are_refused(changes: dict[str, float]) -> None:
    base: dict[str, float] = {"port": 2112, "interval_s": 0.01, "duration_s": 1.0}
    with pytest.raises(ConfigError):
        IrttOptions(host="127.0.0.1", **{**base, **changes})  # type: ignore[arg-type]
