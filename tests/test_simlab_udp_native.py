"""The UDP relay's C core (`harness/simlab/_udpcore.c`) against the Python model, and abused.

Model equivalence: for the same parameters the core's admission (`Relay.admit`, the code its
thread runs per datagram) gives the same slot-aligned due times and the same drop decisions as
`Direction.admit_datagram` for a scripted arrival pattern, and the same distributions where the
model draws (BLER, loss, jitter). Then real sockets: zero-length and 65,507-byte datagrams, a
data-network receiver that is gone (ICMP port unreachable), faults changing the cell under a
running relay, and stopping while flooded (bounded, no thread left).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from harness.base.events import Event, TrialStarted
from harness.base.verdict import Verdict
from harness.engine.runner import Runner
from harness.monitors import MonitorReport, TrialScope
from harness.monitors.headroom import HeadroomMonitor
from harness.simlab.control import SimLabProcess
from harness.simlab.radio import AirParams, RadioLink
from harness.simlab.shaper import Direction, RateLimiter
from harness.simlab.udp_native import core_status, load_core, model_args
from harness.simlab.udp_relay import UdpRelay
from tests.conftest import require_tool
from tests.runner_helpers import inputs, later, run_in_process
from tests.test_simlab import GNB, lab_spec

LOCAL = "127.0.0.1"


def test_the_core_is_built_where_ci_runs() -> None:
    """CI builds from a clean clone (`make setup`): there the C core must import."""
    if os.environ.get("CI", "").lower() != "true" and load_core() is None:
        pytest.skip(f"C core not built here: {core_status()}")
    assert load_core() is not None, core_status()
    assert core_status().startswith("native")


@pytest.fixture
def core() -> ModuleType:
    module = load_core()
    if module is None:
        pytest.skip(f"C core not built: {core_status()}")
    return module


@pytest.fixture
def sock() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOCAL, 0))
    yield s
    s.close()


def _pair(core: ModuleType, sock: socket.socket, direction: str, rate_bps: float,
          params: AirParams, seed: int = 7) -> tuple[Direction, Any]:
    """A Python direction and a C relay configured from the same model objects."""
    py = Direction(RateLimiter(rate_bps), radio=RadioLink(direction, params, random.Random(seed)))
    shaper = core.Shaper()
    shaper.configure(rate_bps, py.limiter.limit_s())
    relay = core.Relay(sock.fileno(), socket.AF_INET, LOCAL, 9, shaper, shaper)
    k = 1 if direction == "dl" else 0
    relay.configure(*model_args(py, k, seed))
    return py, relay


def _script(seed: int = 3) -> list[tuple[float, int]]:
    """Arrivals (time, size): bursts above the rate (the queue fills and drops), gaps, odd
    sizes, zero-length datagrams, arrivals right on slot boundaries."""
    rng = random.Random(seed)
    t, out = 100.0, []
    for burst in range(60):
        for _ in range(rng.randint(1, 400)):
            out.append((t, rng.choice([0, 1, 64, 1400, 1400, 1400, 9000, 65_507])))
            t += rng.choice([0.0, 1e-6, 5e-6, 2e-5])
        t += 0.0005 * (burst % 7)  # 0.5 ms: a slot at 30 kHz
    return out


@pytest.mark.parametrize("direction", ["dl", "ul"])
@pytest.mark.parametrize("tdd,special,scs", [("DDDSU", "10:2:2", 30), ("FDD", None, 15),
                                             ("DDDDDDDSUU", "6:4:4", 30), ("DSUUU", "4:6:4", 60)])
def test_core_gives_the_models_due_times_and_drops(core: ModuleType, sock: socket.socket,
                                                   direction: str, tdd: str, special: str | None,
                                                   scs: int) -> None:
    params = AirParams(scs_khz=scs, tdd=tdd, special=special, core_delay_ms=1.3)
    py, relay = _pair(core, sock, direction, 200e6, params)
    script = _script()
    want = [py.admit_datagram(n, t) for t, n in script]
    got = [relay.admit(1 if direction == "dl" else 0, [n], [t], t)[0] for t, n in script]
    assert sum(w is None for w in want) > 100  # the script does overflow the queue
    assert [w is None for w in want] == [g is None for g in got]
    assert all(g == pytest.approx(w, abs=1e-9) for w, g in zip(want, got, strict=True)
               if w is not None and g is not None)


def _ks(a: list[float], b: list[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic."""
    a, b = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    while i < len(a) and j < len(b):
        x = min(a[i], b[j])
        while i < len(a) and a[i] <= x:
            i += 1
        while j < len(b) and b[j] <= x:
            j += 1
        d = max(d, abs(i / len(a) - j / len(b)))
    return d


@pytest.mark.parametrize("direction", ["dl", "ul"])
def test_core_draws_bler_loss_and_jitter_like_the_model(core: ModuleType, sock: socket.socket,
                                                        direction: str) -> None:
    params = AirParams(bler=0.2, loss=0.05, core_delay_ms=2.0, jitter_ms=1.5)
    n = 20_000
    py, relay = _pair(core, sock, direction, 10e9, params)
    k = 1 if direction == "dl" else 0
    times = [50.0 + i * 1.3e-4 for i in range(n)]  # 86 Mbit/s into 10 Gbit/s: never queued
    want = [py.admit_datagram(1400, t) for t in times]
    got = [relay.admit(k, [1400], [t], t)[0] for t in times]
    lost_py = sum(w is None for w in want) / n
    lost_c = sum(g is None for g in got) / n
    expect = 1 - (1 - 0.2 ** 4) * (1 - 0.05)  # residual BLER after 4 HARQ tries, then loss
    sigma = math.sqrt(expect * (1 - expect) / n)
    assert abs(lost_c - expect) < 4 * sigma and abs(lost_py - expect) < 4 * sigma
    delay_py = [w - t for w, t in zip(want, times, strict=True) if w is not None]
    delay_c = [g - t for g, t in zip(got, times, strict=True) if g is not None]
    # alpha = 0.001: c(alpha) = 1.95
    bound = 1.95 * math.sqrt((len(delay_py) + len(delay_c)) / (len(delay_py) * len(delay_c)))
    assert _ks(delay_py, delay_c) < bound
    tb = relay.counters()["down" if k else "up"]
    assert tb[3] == pytest.approx(py.tb_total, rel=0.02)  # transmissions: HARQ at the BLER
    assert tb[4] / tb[3] == pytest.approx(0.2, abs=0.01)
    # the same seed draws the same fates
    _, again = _pair(core, sock, direction, 10e9, params)
    assert [again.admit(k, [1400], [t], t)[0] for t in times[:2000]] == got[:2000]


# ---- real sockets ------------------------------------------------------------------------------

class _Echo:
    """A UDP echo server in a thread (the data network); counts bytes and datagrams."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCAL, 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.sizes: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65_535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.sizes.append(len(data))
            self.sock.sendto(data, addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def _lanes(rate_bps: float = 100e6, **air: Any) -> tuple[Direction, Direction]:
    params = AirParams(**air)
    return (Direction(RateLimiter(rate_bps), radio=RadioLink("ul", params)),
            Direction(RateLimiter(rate_bps), radio=RadioLink("dl", params)))


async def _started(target_port: int, up: Direction, down: Direction,
                   native: bool = True) -> UdpRelay:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOCAL, 0))
        port = int(probe.getsockname()[1])
    relay = UdpRelay(listen=(LOCAL, port), target=(LOCAL, target_port), uplink=up,
                     downlink=down, native=native)
    await relay.start()
    return relay


def _ue() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.settimeout(2)
    return s


def test_zero_length_and_largest_datagrams_cross_both_ways(core: ModuleType) -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], UdpRelay]:
        echo = _Echo()
        up, down = _lanes(10e9)
        relay = await _started(echo.port, up, down)
        ue = _ue()
        sent = [b"", b"x", os.urandom(1400), os.urandom(65_507), b"", os.urandom(8000)]
        try:
            for data in sent:
                ue.sendto(data, relay.listen)
            got = [await asyncio.to_thread(ue.recv, 65_535) for _ in sent]
            await asyncio.sleep(0.05)
        finally:
            await relay.stop()
            echo.close()
            ue.close()
        return sent, got, relay

    sent, got, relay = asyncio.run(scenario())
    assert got == sent  # in order, intact, zero-length included
    assert relay.core is None
    raw = relay.last_counters
    assert raw["unstamped"] == 0  # every datagram admitted at its kernel arrival stamp
    total = sum(len(d) for d in sent)
    assert relay.uplink.bytes == relay.downlink.bytes == total  # counted from what was sent
    assert relay.uplink.packets == relay.downlink.packets == len(sent)


def test_a_receiver_that_is_gone_costs_only_its_datagrams(core: ModuleType) -> None:
    """ICMP port unreachable from a DN that is gone: those datagrams are lost and counted,
    and the same flow carries again once a receiver is back on the port."""
    async def scenario() -> tuple[UdpRelay, int, bytes]:
        gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gone.bind((LOCAL, 0))
        port = int(gone.getsockname()[1])
        gone.close()  # nobody listens: the kernel answers with ICMP port unreachable
        up, down = _lanes(10e9, core_delay_ms=0.0)
        relay = await _started(port, up, down)
        ue = _ue()
        try:
            for _ in range(50):
                ue.sendto(b"lost", relay.listen)
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.1)
            back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            back.bind((LOCAL, port))
            back.settimeout(2)
            ue.sendto(b"again", relay.listen)
            data = await asyncio.to_thread(back.recv, 100)
            back.close()
            await asyncio.sleep(0.05)
            raw = relay.core.counters() if relay.core is not None else {}
        finally:
            await relay.stop()
            ue.close()
        return relay, int(raw["up"]["send_errors"]) + int(raw["read_errors"]), data

    relay, refusals, data = asyncio.run(scenario())
    assert data == b"again"
    # The kernel reports a refusal on the flow's next send (that datagram is lost) or read.
    assert refusals > 0
    assert relay.uplink.packets + relay.uplink.drops == 51


def test_faults_act_on_the_native_relay(core: ModuleType) -> None:
    """What the faults change on the cell (rate, loss, delay) reaches a running core."""
    async def scenario() -> dict[str, Any]:
        echo = _Echo()
        up, down = _lanes(100e6)
        relay = await _started(echo.port, up, down)
        ue = _ue()
        ue.settimeout(0.5)
        out: dict[str, Any] = {}

        seq = iter(range(1_000_000))

        async def rtts(n: int) -> list[float | None]:
            """n pings one after the other; None: no reply within 0.5 s (late ones ignored)."""
            res: list[float | None] = []
            for _ in range(n):
                tag = str(next(seq)).encode()
                t = time.monotonic()
                ue.sendto(tag, relay.listen)
                rtt: float | None = None
                with contextlib.suppress(TimeoutError):
                    while time.monotonic() - t < 0.5 and rtt is None:
                        if await asyncio.to_thread(ue.recv, 10) == tag:
                            rtt = time.monotonic() - t
                res.append(rtt)
            return res

        try:
            out["base"] = await rtts(10)
            for d in (up, down):  # latency fault: +20 ms core delay
                assert d.radio is not None
                d.radio.configure(AirParams(core_delay_ms=21.0))
            await asyncio.sleep(0.05)
            out["latency"] = await rtts(10)
            for d in (up, down):
                assert d.radio is not None
                d.radio.configure(AirParams(loss=1.0))
            await asyncio.sleep(0.05)
            out["loss"] = await rtts(3)
            for d in (up, down):
                assert d.radio is not None
                d.radio.configure(AirParams())
                d.limiter.rate_bps = 0.0  # cell-outage, link-down
            await asyncio.sleep(0.05)
            out["down"] = await rtts(3)
            for d in (up, down):
                d.limiter.rate_bps = 100e6
            await asyncio.sleep(0.05)
            out["back"] = await rtts(3)
        finally:
            await relay.stop()
            echo.close()
            ue.close()
        return out

    out = asyncio.run(scenario())
    base = sorted(r if r is not None else math.inf for r in out["base"])
    assert base[len(base) // 2] < 0.015
    assert all(r is not None and r > 0.040 for r in out["latency"])  # + 2 × 20 ms
    assert out["loss"] == [None] * 3
    assert out["down"] == [None] * 3
    assert all(r is not None for r in out["back"])


def test_stop_while_flooded_is_bounded_and_leaves_no_thread(core: ModuleType) -> None:
    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    async def scenario() -> tuple[float, int, UdpRelay]:
        echo = _Echo()
        up, down = _lanes(20e6)  # a small cell: the queue is full, most is dropped
        relay = await _started(echo.port, up, down)
        stop = threading.Event()

        def flood() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                payload = b"f" * 1400
                while not stop.is_set():
                    with contextlib.suppress(OSError):
                        s.sendto(payload, relay.listen)

        floods = [threading.Thread(target=flood, daemon=True) for _ in range(2)]
        for f in floods:
            f.start()
        await asyncio.sleep(0.5)
        running = threads()
        t = time.monotonic()
        await relay.stop()
        took = time.monotonic() - t
        gone = running - threads()
        stop.set()
        for f in floods:
            f.join(2)
        echo.close()
        return took, gone, relay

    took, gone, relay = asyncio.run(scenario())
    assert took < 0.5
    assert gone == 1  # the native thread was joined before stop() returned
    assert relay.core is None and relay.listener is None
    assert relay.uplink.drops > 0 and relay.uplink.packets > 0


# ---- in the lab process --------------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["native", "python"])
def test_lab_status_names_the_udp_relay_and_faults_act_on_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """The lab says which UDP relay runs (`harness sim status`); a loss fault on the gNodeB
    silences UDP through it and clearing the fault brings it back, with either relay."""
    if mode == "native" and load_core() is None:
        pytest.skip(f"C core not built: {core_status()}")
    if mode == "python":
        monkeypatch.setenv("HARNESS_UDP_RELAY", "python")
    echo = _Echo()
    spec = lab_spec(tmp_path, target_port=echo.port)
    port = spec.gnbs[0].relays[0].listen_port

    async def scenario() -> tuple[dict[str, Any], list[bool]]:
        ue = _ue()
        ue.settimeout(0.3)

        def answered() -> bool:
            ue.sendto(b"ping", (LOCAL, port))
            try:
                return ue.recv(10) == b"ping"
            except TimeoutError:
                return False

        async with SimLabProcess(spec) as lab:
            status = await lab.status()
            seen = [await asyncio.to_thread(answered)]
            await lab.fault(GNB, "loss", ratio=1.0)
            await asyncio.sleep(0.05)
            seen.append(await asyncio.to_thread(answered))
            await lab.clear(GNB, "loss")
            await asyncio.sleep(0.05)
            seen.append(await asyncio.to_thread(answered))
        ue.close()
        return status, seen

    try:
        status, seen = asyncio.run(scenario())
    finally:
        echo.close()
    assert status["udp_relay"].startswith(mode)
    assert seen == [True, False, True]


# ---- the relay's own shortfall: counted apart from the cell's drops ----------------------------

def _flood_up(count: int, *, core_delay_ms: float, rcvbuf: int, native: bool = True,
              pause_every: int = 0) -> UdpRelay:
    """`count` datagrams of 1,400 bytes from one UE through an uncapped cell (100 Gbit/s) to
    a DN that never reads, the relay's listening socket sized `rcvbuf`; a 2 ms pause after
    every `pause_every` datagrams (0: none). The relay, stopped."""
    async def scenario() -> UdpRelay:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind((LOCAL, 0))
        up, down = _lanes(100e9, core_delay_ms=core_delay_ms)
        relay = await _started(int(sink.getsockname()[1]), up, down, native)
        relay.listener_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)

        def send() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ue:
                for i in range(count):
                    ue.sendto(b"d" * 1400, relay.listen)
                    if pause_every and i % pause_every == pause_every - 1:
                        time.sleep(0.002)

        try:
            await asyncio.to_thread(send)
            await asyncio.sleep(0.2)
        finally:
            await relay.stop()
            sink.close()
        return relay

    return asyncio.run(scenario())


def test_a_full_delay_line_is_the_relays_loss_not_the_cells(core: ModuleType) -> None:
    """3 s of core delay and 42 MB sent at once: the relay's 32 MiB delay line overflows. Those
    datagrams are the relay's loss (`relay_lost`: this machine, not the cell), never a drop of
    the simulated cell, whose queue (100 Gbit/s) had room for all of them."""
    count = 30_000
    # pauses: the listener's buffer keeps up, the delay line overflows
    up = _flood_up(count, core_delay_ms=3000.0, rcvbuf=4 << 20, pause_every=500).uplink
    assert up.drops == 0  # the cell lost nothing
    assert up.packets == 0  # still on the "air" at stop
    # what the line held, the rest lost by the relay (at the line or, had it lagged, the socket)
    assert up.relay_lost == count - core.RING_BYTES // 1400


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_what_the_relay_could_not_read_in_time_is_its_loss(core: ModuleType,
                                                           native: bool) -> None:
    """The relay's listening socket holds ~1 datagram; a UE sends 5,000 as fast as it can. What
    the kernel dropped there before the relay read it (SO_MEMINFO) is the relay's loss: every
    datagram sent is relayed, dropped by the cell or lost by the relay, none unaccounted. The
    same for the Python relay."""
    count = 5_000
    up = _flood_up(count, core_delay_ms=0.0, rcvbuf=1024, native=native).uplink
    assert up.relay_lost > 0 and up.drops == 0
    assert up.packets + up.drops + up.relay_lost == count


@pytest.mark.e2e
def test_the_lab_reports_the_relays_loss_and_the_trial_is_inconclusive(
        tmp_path: Path, core: ModuleType) -> None:
    """In the lab process: 1.5 s of core delay and 42 MB sent down at 400 Mbit/s (a quarter of
    the cell's capacity: its queue drops nothing) overflow the relay's delay line; `status`
    reports it per cell and the headroom monitor of a trial on that gNodeB makes the trial
    INCONCLUSIVE with the reason (metric `simlab.relay_lost`)."""
    dn = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dn.bind((LOCAL, 0))
    dn.settimeout(5)
    spec = lab_spec(tmp_path, target_port=int(dn.getsockname()[1]))
    cell = dataclasses.replace(spec.gnbs[0].cells[0], core_delay_ms=1500.0)
    spec = dataclasses.replace(spec, gnbs=[dataclasses.replace(spec.gnbs[0], cells=[cell])])
    port = spec.gnbs[0].relays[0].listen_port
    count = 30_000

    async def scenario() -> tuple[MonitorReport, MonitorReport, dict[str, Any]]:
        async with SimLabProcess(spec) as lab:
            scope = TrialScope(trial_id="t1", repetition=1, devices=(GNB,), cell=1,
                               direction="dl", via=GNB, tags={}, emit=lambda _: None)
            ue = _ue()
            quiet = HeadroomMonitor(scope, (GNB,), lab.status)
            await quiet.start()
            ue.sendto(b"hello", (LOCAL, port))  # opens the flow: the DN learns its address
            _, flow = await asyncio.to_thread(dn.recvfrom, 100)
            calm = await quiet.stop({})
            monitor = HeadroomMonitor(scope, (GNB,), lab.status)
            await monitor.start()

            def send_down() -> None:
                for i in range(count):
                    dn.sendto(b"s" * 1400, flow)
                    if i % 100 == 99:
                        time.sleep(0.0028)  # ~400 Mbit/s

            await asyncio.to_thread(send_down)
            await asyncio.sleep(0.1)  # the lab moves the core's counters every 10 ms
            report = await monitor.stop({})
            status = await lab.status()
            ue.close()
        return calm, report, status

    try:
        calm, report, status = asyncio.run(scenario())
    finally:
        dn.close()
    assert calm.acceptance == [] and calm.metrics["simlab.relay_lost"].value == 0
    assert calm.voids == []
    cell_status = status["devices"][GNB]["cells"]["1"]
    assert cell_status["relay_lost"] > 0
    lost = report.metrics["simlab.relay_lost"].value
    assert lost == cell_status["relay_lost"]
    [verdict] = report.acceptance
    assert verdict.verdict is Verdict.INCONCLUSIVE and verdict.source == "simulated lab headroom"
    assert f"lost {int(lost)} datagrams" in verdict.detail
    assert "not the simulated cell" in verdict.detail
    [void] = report.voids  # the trial's own criteria are withheld from PASS and FAIL too
    assert f"lost {int(lost)} datagrams" in void


@pytest.mark.e2e
def test_a_relay_that_was_descheduled_says_it_sent_late(tmp_path: Path,
                                                        core: ModuleType) -> None:
    """The lab process stopped for 100 ms (SIGSTOP, as a busy machine deschedules it) while a
    UE sends: the datagrams wait in the socket with their kernel arrival stamps, are admitted at
    those times and leave more than 2 ms after their due time. The lab counts them as the
    relay's lateness (not loss), and the headroom monitor notes it without judging it."""
    echo = _Echo()
    spec = lab_spec(tmp_path, target_port=echo.port)
    port = spec.gnbs[0].relays[0].listen_port

    async def scenario() -> MonitorReport:
        async with SimLabProcess(spec) as lab:
            assert lab.pid is not None
            scope = TrialScope(trial_id="t1", repetition=1, devices=(GNB,), cell=1,
                               direction="ul", via=GNB, tags={}, emit=lambda _: None)
            monitor = HeadroomMonitor(scope, (GNB,), lab.status)
            await monitor.start()
            ue = _ue()
            os.kill(lab.pid, signal.SIGSTOP)
            try:
                for _ in range(20):
                    ue.sendto(b"late", (LOCAL, port))
                time.sleep(0.1)
            finally:
                os.kill(lab.pid, signal.SIGCONT)
            await asyncio.sleep(0.2)
            ue.close()
            return await monitor.stop({})

    try:
        report = asyncio.run(scenario())
    finally:
        echo.close()
    assert report.metrics["simlab.relay_late"].value >= 20  # up, and the echo's replies down
    assert report.metrics["simlab.relay_lost"].value == 0 and report.acceptance == []
    [note] = report.notes
    assert "more than 2 ms after their due time" in note


@pytest.mark.e2e
def test_a_lab_that_stops_answering_is_a_monitor_error_not_a_verdict(tmp_path: Path) -> None:
    """The lab gone between the trial's start and end: the headroom monitor reports that it
    could not watch (the trial's measurement stands), with no metric and no acceptance."""
    spec = lab_spec(tmp_path)

    async def scenario() -> MonitorReport:
        lab = SimLabProcess(spec)
        await lab.start()
        scope = TrialScope(trial_id="t1", repetition=1, devices=(GNB,), cell=1,
                           direction="dl", via=GNB, tags={}, emit=lambda _: None)
        monitor = HeadroomMonitor(scope, (GNB,), lab.status)
        try:
            await monitor.start()
        finally:
            await lab.stop()
        return await monitor.stop({})

    report = asyncio.run(scenario())
    [error] = report.errors
    assert error.startswith("headroom: the simulated lab's status could not be read")
    assert report.acceptance == [] and report.metrics == {}


VOID_SCENARIO = """\
name: void
title: {vi: "Vô hiệu", en: "Void"}
defaults: {duration: 4s}
monitors: {crosscheck: {enabled: false}}
trials:
  - id: udp
    kind: throughput
    protocol: udp
    bitrate: 80 Mbit/s
    length: 1400 B
    ue: ue1
    dn: dn1
    via: gnb1
    min_samples: 1
    criteria: ["throughput.loss <= 1 %"]
"""


@pytest.mark.e2e
def test_a_fail_the_simulator_caused_is_inconclusive(tmp_path: Path) -> None:
    """A UDP trial at 2/3 of the cell's capacity (the cell drops nothing) while the lab
    process is descheduled for 1.2 s (SIGSTOP, as a machine short of CPU does): its relay's
    socket overflows, so ~20 % of the datagrams are lost by the simulator, not by the cell.
    The loss criterion reads INCONCLUSIVE naming the relay's loss, and so does the trial; on
    the old code it read FAIL, blaming the cell (the worst verdict won over the headroom row)."""
    require_tool("iperf3")

    def on_event(runner: Runner, event: Event) -> None:
        if isinstance(event, TrialStarted):
            assert runner.bench is not None and runner.bench.sim is not None
            pid = runner.bench.sim.pid
            assert pid is not None

            async def deschedule() -> None:
                os.kill(pid, signal.SIGSTOP)
                try:
                    await asyncio.sleep(1.2)
                finally:
                    os.kill(pid, signal.SIGCONT)

            tasks.append(later(2.0, deschedule))

    tasks: list[asyncio.Task[None]] = []
    outcome, _ = run_in_process(inputs(tmp_path, VOID_SCENARIO), tmp_path / "out",
                                on_event=on_event)
    [trial] = outcome.summary["trials"]
    metrics = {name: q["value"] for name, q in trial["metrics"].items()}
    assert metrics["simlab.relay_lost"] > 0, trial
    assert metrics["throughput.loss"] > 1.0, metrics  # the criterion alone would FAIL
    [criterion] = trial["criteria"]
    assert criterion["verdict"] == "INCONCLUSIVE", criterion
    assert "the simulator's relay itself lost" in criterion["detail"]
    assert trial["void"] and "not the simulated cell's" in trial["void"][0]
    assert trial["verdict"] == "INCONCLUSIVE" and outcome.verdict is Verdict.INCONCLUSIVE
    [headroom] = [a for a in trial["acceptance"] if a["source"] == "simulated lab headroom"]
    assert headroom["verdict"] == "INCONCLUSIVE"
