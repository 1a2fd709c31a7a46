"""The air interface's model without traffic: slot windows, HARQ, timers, queues, cell settings.

Times are checked against values worked out by hand from the TDD pattern (30 kHz: 0.5 ms slots,
14 symbols each), not against the model's own arithmetic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
import statistics
from collections.abc import Iterator

import pytest

from drivers.hosts.host import TrafficHost
from harness.base.errors import ConfigError
from harness.base.loader import parse_yaml, validate_model
from harness.base.ports import free_dual_port
from harness.config.lab import Lab
from harness.engine.bench import Bench
from harness.simlab.cli import GnbCli
from harness.simlab.delay import DelayLine, PreciseTimer
from harness.simlab.gnb import CellConfig, CellRuntime, GnbIdentity, VirtualGnb
from harness.simlab.radio import (
    HARQ_RTT_SLOTS,
    MAX_HARQ_TX,
    AirParams,
    RadioLink,
    SlotPattern,
    segments,
)
from harness.simlab.relay import Direction, RateLimiter
from harness.simlab.relay_plan import DnPorts, plan_relays, relay_table
from harness.simlab.spec import SimCell, SimCredentials, SimGnbSpec

MS = 1e-3
SYMBOL_MS = 0.5 / 14


class Scripted(random.Random):
    """A Random whose random() returns a given sequence (then 0.99: no more failures)."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self._values: Iterator[float] = iter(values)

    def random(self) -> float:
        return next(self._values, 0.99)


# ---- slot pattern ----------------------------------------------------------------------------

def test_dddsu_windows_at_30khz() -> None:
    dl = SlotPattern.build("DDDSU", "10:2:2", 30, "dl")
    ul = SlotPattern.build("DDDSU", "10:2:2", 30, "ul")
    assert dl.slot_s == pytest.approx(0.5 * MS) and dl.period_s == pytest.approx(2.5 * MS)
    assert [s / MS for s in dl.starts] == pytest.approx([0, 0.5, 1.0, 1.5])
    assert [e / MS for e in dl.ends] == pytest.approx([0.5, 1.0, 1.5, 1.5 + 10 * SYMBOL_MS])
    assert [s / MS for s in ul.starts] == pytest.approx([2.0 - 2 * SYMBOL_MS, 2.0])
    assert [e / MS for e in ul.ends] == pytest.approx([2.0, 2.5])


def test_window_lookup_waits_for_a_slot_boundary() -> None:
    dl = SlotPattern.build("DDDSU", "10:2:2", 30, "dl")
    base = 1000 * dl.period_s  # far from the clock's origin, as loop.time() is
    for at_ms, want_ms in [(0.0, (0.0, 0.5)), (0.2, (0.5, 1.0)), (0.5, (0.5, 1.0)),
                           (1.6, (2.5, 3.0)), (2.4, (2.5, 3.0))]:
        start, end = dl.next_window(base + at_ms * MS)
        assert ((start - base) / MS, (end - base) / MS) == pytest.approx(want_ms, abs=1e-6)


def test_fdd_and_15khz_patterns() -> None:
    fdd = SlotPattern.build("FDD", None, 15, "ul")
    assert fdd.slot_s == pytest.approx(MS) and fdd.period_s == pytest.approx(MS)
    assert fdd.starts == (0.0,)
    slow = SlotPattern.build("DDDSU", "10:2:2", 15, "dl")
    assert slow.period_s == pytest.approx(5 * MS)
    assert SlotPattern.build("DDDD", None, 30, "ul").next_window(1.0)[0] == float("inf")


@pytest.mark.parametrize(("tdd", "special"), [("DXSU", "10:2:2"), ("DDDSU", None),
                                              ("DDDSU", "10:2:3"), ("DDDSU", "ten")])
def test_bad_patterns_are_refused(tdd: str, special: str | None) -> None:
    with pytest.raises(ConfigError):
        SlotPattern.build(tdd, special, 30, "dl")


# ---- radio link: core delay, HARQ, loss ------------------------------------------------------

def test_dl_core_delay_comes_before_the_air_ul_after() -> None:
    params = AirParams(core_delay_ms=1.0)
    base = 4000 * 2.5 * MS
    # DL: ready at 0.2 ms, at the gNB at 1.2 ms, S slot's DL symbols [1.5, 1.857] ms.
    dl = RadioLink("dl", params).deliver_time(base + 0.2 * MS)
    assert (dl - base) / MS == pytest.approx(1.5 + 10 * SYMBOL_MS)
    # UL: ready at 0.2 ms, S slot's UL symbols end at 2.0 ms, then 1 ms of core: 3.0 ms.
    ul = RadioLink("ul", params).deliver_time(base + 0.2 * MS)
    assert (ul - base) / MS == pytest.approx(3.0)


def test_each_harq_retransmission_waits_a_harq_round_trip() -> None:
    link = RadioLink("dl", AirParams(core_delay_ms=0.0))
    base = 4000 * 2.5 * MS
    # First transmission in slot 0; the retransmission may start HARQ_RTT_SLOTS (4) slots later
    # at the earliest (2.0 ms: the U slot), so it goes in slot 0 of the next period.
    assert HARQ_RTT_SLOTS == 4
    assert (link.deliver_time(base, 1) - base) / MS == pytest.approx(0.5)
    assert (link.deliver_time(base, 2) - base) / MS == pytest.approx(3.0)
    assert (link.deliver_time(base, 3) - base) / MS == pytest.approx(5.5)


def test_harq_transmission_counts_follow_the_bler() -> None:
    link = RadioLink("dl", AirParams(bler=0.5), rng=random.Random(7))
    draws = [link.harq_transmissions() for _ in range(20000)]
    for n, p in [(1, 0.5), (2, 0.25), (3, 0.125), (4, 0.0625), (0, 0.0625)]:
        assert draws.count(n) / len(draws) == pytest.approx(p, abs=0.012)
    assert MAX_HARQ_TX == 4
    assert RadioLink("dl", AirParams(bler=0.0)).harq_transmissions() == 1
    failing = RadioLink("dl", AirParams(bler=0.1), rng=Scripted([0.0] * MAX_HARQ_TX))
    assert failing.harq_transmissions() == 0  # residual HARQ failure: the datagram is lost


def test_jitter_spreads_the_core_delay_around_its_value() -> None:
    link = RadioLink("ul", AirParams(core_delay_ms=1.0, jitter_ms=0.5), rng=random.Random(3))
    delays = [link.core_delay_s() / MS for _ in range(5000)]
    assert min(delays) >= 0.5 and max(delays) <= 1.5
    assert statistics.mean(delays) == pytest.approx(1.0, abs=0.02)
    assert statistics.pstdev(delays) == pytest.approx(1 / 12**0.5, abs=0.02)  # uniform, ±0.5


def test_loss_and_tcp_segments() -> None:
    link = RadioLink("ul", AirParams(loss=0.2), rng=random.Random(11))
    assert sum(link.lost() for _ in range(20000)) / 20000 == pytest.approx(0.2, abs=0.01)
    assert not RadioLink("ul", AirParams()).lost(1000)
    assert [segments(n) for n in (1, 1448, 1449, 64 * 1024)] == [1, 1, 2, 46]


@pytest.mark.parametrize("params", [AirParams(bler=1.0), AirParams(bler=-0.1),
                                    AirParams(loss=1.5), AirParams(core_delay_ms=-1),
                                    AirParams(jitter_ms=20_000),
                                    AirParams(core_delay_ms=float("nan"))])
def test_air_parameters_out_of_range_are_refused(params: AirParams) -> None:
    with pytest.raises(ConfigError):
        params.check()


# ---- precise timer and delay line ------------------------------------------------------------

def test_precise_timer_fires_within_a_fraction_of_a_slot() -> None:
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        timer = PreciseTimer(loop)
        assert timer.precise
        late: list[float] = []
        try:
            for i in range(40):
                done: asyncio.Future[None] = loop.create_future()
                when = loop.time() + (0.3 + 0.07 * i) * MS

                def fire(when: float = when, done: asyncio.Future[None] = done) -> None:
                    late.append(loop.time() - when)
                    done.set_result(None)

                timer.call_at(when, fire)
                await asyncio.wait_for(done, timeout=1)
        finally:
            timer.close()
        return late

    late = asyncio.run(scenario())
    assert min(late) >= -50e-6  # never early (beyond the 30 µs it runs ahead on purpose)
    # asyncio's own timers are ~0.5 ms late in the median (epoll's 1 ms resolution)
    assert statistics.median(late) < 0.25 * MS


def test_delay_line_keeps_order_and_times() -> None:
    async def scenario() -> list[tuple[bytes, float]]:
        loop = asyncio.get_running_loop()
        timer = PreciseTimer(loop)
        out: list[tuple[bytes, float]] = []
        drained: asyncio.Future[None] = loop.create_future()

        def empty() -> None:
            if not drained.done():
                drained.set_result(None)

        line = DelayLine(timer, lambda ds: out.extend((d, loop.time()) for d in ds),
                         on_empty=empty)
        now = loop.time()
        line.push(now + 3 * MS, b"a")
        line.push(now + 1 * MS, b"b")  # due earlier, but must not overtake "a"
        line.push(now + 5 * MS, b"c")
        assert line.pending_bytes == 3 and len(line) == 3
        await asyncio.wait_for(drained, timeout=1)
        timer.close()
        return [(d, t - now) for d, t in out]

    out = asyncio.run(scenario())
    assert [d for d, _ in out] == [b"a", b"b", b"c"]
    assert out[0][1] >= 3 * MS - 50e-6 and out[2][1] >= 5 * MS - 50e-6
    assert out[1][1] == pytest.approx(out[0][1], abs=0.2 * MS)


# ---- shaper queue and counters ---------------------------------------------------------------

def test_queue_accepts_up_to_its_limit_then_drops() -> None:
    limiter = RateLimiter(8e6, queue_s=0.0105)  # 1 MB/s: 10.5 ms = 10.5 kB
    now = 100.0
    accepted = [limiter.offer(1000, now) for _ in range(15)]
    ends = [a for a in accepted if a is not None]
    assert len(ends) == 11  # the 11th found 10 ms queued (< 10.5), the 12th 11 ms
    assert accepted[11:] == [None] * 4
    assert ends[0] == pytest.approx(now + 0.001) and ends[-1] == pytest.approx(now + 0.011)
    # A TCP reader stops at 2/3 of the queue: 7 ms of it.
    assert limiter.full(now + 0.011 - 0.007) and not limiter.full(now + 0.011 - 0.0069)
    assert limiter.drained_at() == pytest.approx(now + 0.011 - 0.007)
    fast = RateLimiter(100e9)
    assert fast.limit_s() == pytest.approx(8 * 1024 * 1024 * 8 / 100e9)  # the byte cap binds
    assert RateLimiter(0.0).offer(10, now) is None


def test_counts_go_up_to_the_parent_direction() -> None:
    cell_dir = Direction(RateLimiter(1e6))
    lane = Direction(RateLimiter(1e6), parent=cell_dir)
    seen: list[int] = []
    cell_dir.on_bytes.append(seen.append)
    lane.count(3000)  # a TCP chunk: ceil(3000 / 1448) = 3 segments
    lane.count(1400, 1)  # a datagram
    lane.drop()
    assert (lane.bytes, lane.packets, lane.drops) == (4400, 4, 1)
    assert (cell_dir.bytes, cell_dir.packets, cell_dir.drops) == (4400, 4, 1)
    assert seen == [3000, 1400]


# ---- cell settings, PLMN shares, CLI ---------------------------------------------------------

def mocn_cell(**changes: object) -> CellConfig:
    cfg = CellConfig(id=1, plmns=("452-02", "452-04", "452-05"))
    return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]


def test_quality_multiplies_the_capacity() -> None:
    full, half = CellConfig(id=1), CellConfig(id=1, quality=0.5)
    for direction in ("dl", "ul"):
        assert half.capacity_bps(direction) == pytest.approx(full.capacity_bps(direction) / 2)


def test_plmn_shares_split_the_cell() -> None:
    assert mocn_cell().plmn_share("452-02") is None  # no shares: one pool
    cfg = mocn_cell(plmn_shares=(("452-02", 0.5),))
    assert [cfg.plmn_share(p) for p in cfg.plmns] == pytest.approx([0.5, 0.25, 0.25])
    runtime = CellRuntime(cfg)
    rates = {p: (dl.limiter.rate_bps, ul.limiter.rate_bps)
             for p, (dl, ul) in runtime.plmn_directions.items()}
    assert rates["452-02"][0] == pytest.approx(0.5 * cfg.capacity_bps("dl"))
    assert rates["452-05"][1] == pytest.approx(0.25 * cfg.capacity_bps("ul"))
    # Shares cleared: every PLMN draws on the cell's own shaper again.
    runtime.apply(mocn_cell())
    dl, _ = runtime.plmn_directions["452-04"]
    assert dl.limiter is runtime.downlink.limiter
    runtime.lane("452-04", "dl").count(1448)
    assert runtime.downlink.bytes == 1448 and runtime.downlink.packets == 1
    with pytest.raises(ConfigError, match="452-09"):
        runtime.lane("452-09", "dl")


@pytest.mark.parametrize("changes", [
    {"quality": 1.5}, {"quality": -0.1}, {"bler": 1.0}, {"loss": 2.0}, {"core_delay_ms": -1.0},
    {"plmn_shares": (("452-09", 0.5),)}, {"plmn_shares": (("452-02", 0.7), ("452-04", 0.4))},
    {"plmn_shares": (("452-02", 0.0),)}, {"plmn_shares": (("452-02", 0.2), ("452-02", 0.2))},
    {"plmns": ()},
])
def test_bad_cell_settings_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        mocn_cell(**changes).check()


def cli_gnb() -> tuple[VirtualGnb, GnbCli]:
    gnb = VirtualGnb(GnbIdentity(name="gnb-radio"), [mocn_cell()])
    return gnb, GnbCli(gnb)


@pytest.mark.parametrize(("command", "field", "value"), [
    ("set cell 1 quality 0.5", "quality", 0.5),
    ("set cell 1 bler 0.1", "bler", 0.1),
    ("set cell 1 loss 0.02", "loss", 0.02),
    ("set cell 1 delay 5", "core_delay_ms", 5.0),
    ("set cell 1 jitter 0.5", "jitter_ms", 0.5),
    ("set cell 1 plmn-share 452-04 0.3", "plmn_shares", (("452-04", 0.3),)),
])
def test_cli_sets_air_parameters(command: str, field: str, value: object) -> None:
    gnb, cli = cli_gnb()
    out, status = cli(command)
    assert status == 0, out
    runtime = gnb.cells[1]
    assert getattr(runtime.config, field) == value
    if field == "quality":
        assert runtime.downlink.limiter.rate_bps == pytest.approx(
            runtime.config.capacity_bps("dl"))
    if field == "core_delay_ms":
        assert runtime.downlink.radio is not None
        assert runtime.downlink.radio.params.core_delay_ms == 5.0
    row = cli("show cell 1")[0].splitlines()[1]
    assert ("452-04:0.3" in row) == (field == "plmn_shares")


def test_cli_plmn_share_off_clears_it() -> None:
    gnb, cli = cli_gnb()
    assert cli("set cell 1 plmn-share 452-04 0.3")[1] == 0
    assert cli("set cell 1 plmn-share 452-04 off")[1] == 0
    assert gnb.cells[1].config.plmn_shares == ()


@pytest.mark.parametrize("command", [
    "set cell 1 quality 1.5", "set cell 1 quality lots", "set cell 1 bler 1",
    "set cell 1 loss -0.1", "set cell 1 delay -2", "set cell 1 jitter inf",
    "set cell 1 plmn-share 452-09 0.3", "set cell 1 plmn-share 452-04",
    "set cell 1 plmn-share 452-04 1.2", "set cell 1 plmn-share 452-04 0",
])
def test_cli_refuses_bad_air_parameters(command: str) -> None:
    gnb, cli = cli_gnb()
    cli("set cell 1 plmn-share 452-02 0.8")
    before = gnb.cells[1].config
    out, status = cli(command)
    assert status == 1 and out.startswith("% ")
    assert gnb.cells[1].config == before


# ---- lab.yaml, relay planning, bench endpoints -----------------------------------------------

LAB = """
name: mocn-lab
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    simulated:
      cells:
        - {id: 1, bandwidth_mhz: 40, plmns: ["452-02", "452-04"], quality: 0.8, bler: 0.1,
           loss: 0.01, core_delay: 2ms, jitter: 500ms, plmn_shares: {"452-02": 0.6}}
  ue1: {role: ue-host, plmn: "452-04"}
  ue2: {role: ue-host}
  ue3: {role: ue-host, plmn: "452-99"}
  dn1: {role: dn-host, traffic_port: 5201, irtt_port: 2112}
"""


def load_lab(text: str) -> Lab:
    data, index = parse_yaml(text, file="lab.yaml")
    return validate_model(data, index, Lab, file="lab.yaml")


def test_lab_cell_air_fields_load() -> None:
    lab = load_lab(LAB)
    sim = lab.devices["gnb1"].simulated
    assert sim is not None and hasattr(sim, "cells")
    cell = sim.cells[0]
    assert (cell.quality, cell.bler, cell.loss) == (0.8, 0.1, 0.01)
    assert cell.core_delay == pytest.approx(0.002) and cell.jitter == pytest.approx(0.5)
    assert cell.plmn_shares == {"452-02": 0.6}
    assert lab.devices["ue1"].plmn == "452-04" and lab.devices["dn1"].irtt_port == 2112


@pytest.mark.parametrize(("old", "new", "where"), [
    ('plmn_shares: {"452-02": 0.6}', 'plmn_shares: {"452-03": 0.6}', "plmn_shares"),
    ('plmn_shares: {"452-02": 0.6}', 'plmn_shares: {"452-02": 0.6, "452-04": 0.6}',
     "plmn_shares"),
    ("quality: 0.8", "quality: 1.8", "quality"),
    ("bler: 0.1", "bler: 1", "bler"),
    ("core_delay: 2ms", "core_delay: 2h", "core_delay"),
    ("dn1: {role: dn-host,", "dn1: {role: dn-host, plmn: '452-02',", "plmn"),
    ("ue2: {role: ue-host}", "ue2: {role: ue-host, irtt_port: 2000}", "irtt_port"),
])
def test_lab_refuses_bad_air_fields(old: str, new: str, where: str) -> None:
    assert old in LAB
    with pytest.raises(ConfigError) as info:
        load_lab(LAB.replace(old, new))
    assert where in str(info.value)


def test_relays_are_planned_per_plmn_dn_and_kind() -> None:
    cells = [SimCell(id=1, bandwidth_mhz=100, scs_khz=30, tdd="DDDSU", special="10:2:2",
                     layers_dl=4, layers_ul=1, modulation_dl="256qam", modulation_ul="64qam",
                     plmns=["452-02", "452-04"], pci=1),
             SimCell(id=2, bandwidth_mhz=20, scs_khz=30, tdd="DDDSU", special="10:2:2",
                     layers_dl=4, layers_ul=1, modulation_dl="256qam", modulation_ul="64qam",
                     plmns=["452-04", "452-05"], pci=2)]
    dns = {"dn1": DnPorts("127.0.0.1", 5201, 2112), "dn2": DnPorts("127.0.0.1", 5202, 2113)}
    relays = plan_relays("127.0.0.1", cells, dns)
    assert len(relays) == 3 * 2 * 2
    assert len({r.listen_port for r in relays}) == len(relays)
    assert {(r.plmn, r.cell) for r in relays} == {("452-02", 1), ("452-04", 1), ("452-05", 2)}
    assert (relays[0].plmn, relays[0].dn, relays[0].kind) == ("452-02", "dn1", "traffic")
    irtt = next(r for r in relays if r.kind == "irtt" and r.dn == "dn2")
    assert irtt.target_port == 2113
    creds = SimCredentials("c", "u", "a", "p", "admin", "pw")
    gnb = SimGnbSpec(name="g", host="127.0.0.1", snmp_port=1, ssh_port=2, credentials=creds,
                     cells=cells, relays=relays, serial="s", firmware="f", model="m")
    table = relay_table(gnb)
    assert table[("dn2", "452-02", "irtt")] == ("127.0.0.1", irtt.listen_port)
    assert len(table) == len(relays)
    port = free_dual_port()
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", port))


def test_bench_endpoint_follows_the_ue_hosts_plmn() -> None:
    bench = Bench(lab=load_lab(LAB))
    bench.hosts["dn1"] = TrafficHost("dn1", address="127.0.0.1")
    bench.traffic_ports["dn1"], bench.irtt_ports["dn1"] = 5201, 2112
    bench.default_plmns["gnb1"] = "452-02"
    for i, (plmn, kind) in enumerate([(p, k) for p in ("452-02", "452-04")
                                      for k in ("traffic", "irtt")]):
        bench.relay_paths[("gnb1", "dn1", plmn, kind)] = ("127.0.0.1", 40000 + i)
    assert bench.endpoint("dn1", "gnb1", ue="ue1") == ("127.0.0.1", 40002)
    assert bench.endpoint("dn1", "gnb1", ue="ue1", kind="irtt") == ("127.0.0.1", 40003)
    assert bench.endpoint("dn1", "gnb1", ue="ue2") == ("127.0.0.1", 40000)  # default PLMN
    assert bench.endpoint("dn1", "gnb1") == ("127.0.0.1", 40000)
    with pytest.raises(ConfigError, match="452-99"):
        bench.endpoint("dn1", "gnb1", ue="ue3")
    # Not through a simulated gNodeB: straight to the DN host's ports.
    assert bench.endpoint("dn1", None, kind="irtt") == ("127.0.0.1", 2112)
    assert bench.endpoint("dn1", "real-gnb") == ("127.0.0.1", 5201)


def test_harq_counters_follow_the_bler_and_failures_drop() -> None:
    link = RadioLink("dl", AirParams(bler=0.3), rng=random.Random(5))
    cell_dir = Direction(RateLimiter(1e9))
    lane = Direction(RateLimiter(1e9), radio=link, parent=cell_dir)
    n = 20000
    delivered = [lane.admit_datagram(100, 10.0 + i * 1e-3) for i in range(n)]
    assert lane.tb_errors / lane.tb_total == pytest.approx(0.3, abs=0.01)
    assert (cell_dir.tb_total, cell_dir.tb_errors) == (lane.tb_total, lane.tb_errors)
    # Residual HARQ failure: all 4 transmissions fail with probability 0.3^4 = 0.81 %.
    assert lane.drops == delivered.count(None)
    assert lane.drops / n == pytest.approx(0.3**4, abs=0.003)
