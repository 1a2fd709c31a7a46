"""The InfluxDB sink against a real server: Debian's VictoriaMetrics serves InfluxDB's
`/api/v2/write`; every test reads the points back through its `/api/v1/export`.

VictoriaMetrics keeps one series per numeric field (`measurement_field`), stores booleans as
1/0 and string fields as 0, keeps millisecond timestamps, and stores floats as decimals with
a per-block exponent (about 12 significant digits): the synthetic samples here use values it
stores exactly, so counts and values are compared exactly.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.base.sample import Sample
from harness.cli import cli
from harness.store.influx import InfluxTarget, InfluxWriter, WriteRefused, post_split
from harness.store.sink import InfluxSink
from harness.store.spool import DATA_NAME, Destination, Spool, SpoolBusy
from tests.conftest import free_port
from tests.victoria import VictoriaMetrics, assert_exactly_once, running_victoria

TOKEN = "test-token"


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    with running_victoria(tmp_path / "vm-data") as server:
        yield server


def target_of(url: str, bucket: str = "trials") -> InfluxTarget:
    return InfluxTarget(Destination(url, "lab", bucket), TOKEN, timeout_s=3.0)


def run_samples(run_id: str, n: int, start_ns: int | None = None) -> list[Sample]:
    """n samples per series over 3 series and 2 measurements, values VictoriaMetrics stores
    exactly."""
    t0 = start_ns if start_ns is not None else time.time_ns() - 60 * 10**9
    out = []
    for i in range(n):
        t = t0 + i * 10_000_000  # 10 ms apart: distinct at VictoriaMetrics' ms precision
        for device in ("gnb1", "gnb2"):
            out.append(Sample(t, "kpi", {"run_id": run_id, "device": device, "kpi": "PRB"},
                              {"value": i * 0.25, "raw": i, "ok": i % 2 == 0}))
        out.append(Sample(t, "throughput", {"run_id": run_id, "trial": "dl tcp"},
                          {"bits_per_second": 1e6 + i, "bytes": 125 * i, "note": "x"}))
    return out


def make_run_dir(reports: Path, run_id: str) -> Path:
    run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps(
        {"format_version": 1, "run_id": run_id, "verdict": "PASS", "scenario": {"name": "s"},
         "lab": {"name": "l"}, "trials": [], "devices": []}), encoding="utf-8")
    return run_dir


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_sink_writes_a_run_and_the_server_holds_exactly_its_points(
        vm: VictoriaMetrics, tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path / "reports", "run-a")
    sink = InfluxSink(target_of(vm.url), run_dir, batch_bytes=4096)  # many batches
    samples = run_samples("run-a", 300)
    for i in range(0, len(samples), 50):
        sink.write(samples[i:i + 50])
    status = sink.close()
    assert (status.sent, status.pending, status.refused) == (len(samples), 0, None)
    assert_exactly_once(vm, samples)
    assert (run_dir / DATA_NAME).read_bytes().count(b"\n") == len(samples)


def test_escaped_names_come_back_intact_through_an_independent_parser(
        vm: VictoriaMetrics, tmp_path: Path) -> None:
    nasty = ["a b", "a,b", "a=b", 'say "hi"', "ünïcødé ✓", " lead", "trail ", "x=,y z", "'"]
    samples = [Sample(time.time_ns() - 10**9 + i * 10**6, f"m {n}",
                      {f"k {n}": n, "plain": "v"}, {f"f {n}": float(i)})
               for i, n in enumerate(nasty)]
    sink = InfluxSink(target_of(vm.url), make_run_dir(tmp_path / "r", "run-n"))
    sink.write(samples)
    assert sink.close().sent == len(samples)
    assert_exactly_once(vm, samples)


def test_outage_mid_run_then_push_sends_every_point_exactly_once(
        vm: VictoriaMetrics, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_dir = make_run_dir(reports, "run-outage")
    target = target_of(vm.url)
    sink = InfluxSink(target, run_dir, backoff_s=(0.1, 0.3))
    samples = run_samples("run-outage", 120)
    first, during, after = samples[:120], samples[120:240], samples[240:]
    sink.write(first)
    wait_until(lambda: sink.status.sent == len(first))
    vm.stop()  # the server goes away in the middle of the run
    started = time.monotonic()
    sink.write(during)
    sink.write(after)
    assert time.monotonic() - started < 0.5, "writing must not wait for the network"
    wait_until(lambda: sink.status.unreachable is not None)
    status = sink.close(timeout_s=5)
    assert status.pending == len(during) + len(after)
    assert any("unreachable" in text for _, text in sink.messages())
    vm.start()  # same data directory, same port
    result = CliRunner().invoke(cli, ["push", str(run_dir), "--out", str(reports)],
                                env={"INFLUX_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert f"sent {len(during) + len(after)} point(s)" in result.output
    assert "0 pending" in result.output
    assert_exactly_once(vm, samples)
    again = CliRunner().invoke(cli, ["push", str(run_dir), "--out", str(reports)],
                               env={"INFLUX_TOKEN": TOKEN})
    assert again.exit_code == 0 and "sent 0 point(s)" in again.output
    assert_exactly_once(vm, samples)


def test_the_next_run_replays_what_an_earlier_run_left_spooled(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    server = VictoriaMetrics(tmp_path / "vm-data")  # not started yet: the first run sees no server
    first = run_samples("run-1", 50)
    sink = InfluxSink(target_of(server.url), make_run_dir(reports, "run-1"),
                      replay_from=reports)
    sink.write(first)
    assert sink.close(timeout_s=5).pending == len(first)
    server.start()
    try:
        second = run_samples("run-2", 50)
        sink = InfluxSink(target_of(server.url), make_run_dir(reports, "run-2"),
                          replay_from=reports)
        sink.write(second)
        wait_until(lambda: sink.status.replayed.get("run-1") == len(first))
        status = sink.close()
        assert (status.sent, status.pending) == (len(second), 0)
        assert any("run-1" in text for _, text in sink.messages())
        assert_exactly_once(server, first + second)
    finally:
        server.stop()


def test_a_refused_token_is_a_clear_error_and_the_points_stay_spooled(tmp_path: Path) -> None:
    # VictoriaMetrics with HTTP basic auth answers 401 to an InfluxDB token: a real 4xx
    server = VictoriaMetrics(tmp_path / "vm-data", basic_auth=("lab", "secret"))
    server.start()
    try:
        reports = tmp_path / "reports"
        run_dir = make_run_dir(reports, "run-401")
        sink = InfluxSink(target_of(server.url), run_dir)
        samples = run_samples("run-401", 40)
        sink.write(samples)
        status = sink.close()
        assert status.refused is not None and "401" in status.refused
        assert "INFLUX_TOKEN" in status.refused
        assert status.pending == len(samples) and status.sent == 0
        errors = [text for level, text in sink.messages() if level == "error"]
        assert errors and "harness push run-401" in errors[0]
        result = CliRunner().invoke(cli, ["push", str(run_dir), "--out", str(reports)],
                                    env={"INFLUX_TOKEN": "still-wrong"})
        assert result.exit_code == 1
        assert "401" in result.output and f"{len(samples)} pending" in result.output
        assert Spool(run_dir).pending_lines(target_of(server.url).dest) == len(samples)
    finally:
        server.stop()


class _FakeInflux(http.server.BaseHTTPRequestHandler):
    """Stands in for two InfluxDB 2.x faults VictoriaMetrics cannot produce: a request body
    over the server's size limit (413) and a bucket that does not exist (404)."""

    received: list[bytes] = []
    limit = 2000

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if "bucket=missing" in self.path:
            self._answer(404, b'{"code":"not found","message":"bucket \\"missing\\" not found"}')
        elif len(body) > self.limit:
            self._answer(413, b'{"code":"request too large"}')
        else:
            type(self).received.append(body)
            self._answer(204, b"")

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_too_large_bodies_are_split_and_a_missing_bucket_is_named() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _FakeInflux)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        lines = b"".join(f"m,t=x v={i}i {i}\n".encode() for i in range(400))
        _FakeInflux.received = []
        post_split(InfluxWriter(target_of(url)), lines)
        assert b"".join(_FakeInflux.received) == lines  # every line once, in order
        assert all(len(body) <= _FakeInflux.limit for body in _FakeInflux.received)
        with pytest.raises(WriteRefused, match="no bucket 'missing' in org 'lab'") as caught:
            InfluxWriter(target_of(url, bucket="missing")).post(b"m v=1i 1\n")
        assert caught.value.status == 404
    finally:
        server.shutdown()
        server.server_close()


def test_points_far_in_the_future_are_not_sent(vm: VictoriaMetrics, tmp_path: Path) -> None:
    sink = InfluxSink(target_of(vm.url), make_run_dir(tmp_path / "r", "run-f"))
    now = time.time_ns()
    good = run_samples("run-f", 5)
    ahead = [Sample(now + 3 * 86_400 * 10**9, "kpi", {"run_id": "run-f"}, {"value": 1.0})]
    sink.write(good + ahead)
    status = sink.close()
    assert (status.sent, status.future_dropped) == (len(good), 1)
    assert any("ahead of this machine's clock" in text for _, text in sink.messages())
    assert_exactly_once(vm, good)


def test_resending_everything_is_idempotent(tmp_path: Path) -> None:
    # configured like InfluxDB (same series + same time = one point): -dedup.minScrapeInterval
    server = VictoriaMetrics(tmp_path / "vm-data", dedup=True)
    server.start()
    try:
        reports = tmp_path / "reports"
        run_dir = make_run_dir(reports, "run-i")
        sink = InfluxSink(target_of(server.url), run_dir)
        samples = run_samples("run-i", 60)
        sink.write(samples)
        assert sink.close().pending == 0
        for _ in range(2):
            result = CliRunner().invoke(cli, ["push", "run-i", "--all", "--out", str(reports)],
                                        env={"INFLUX_TOKEN": TOKEN})
            assert result.exit_code == 0 and f"sent {len(samples)}" in result.output
        assert_exactly_once(server, samples)
    finally:
        server.stop()


def test_spool_cuts_a_torn_tail_and_admits_one_sender(tmp_path: Path) -> None:
    dest = Destination("http://127.0.0.1:1", "o", "b")
    spool = Spool(tmp_path, dest)
    spool.append(b"m v=1i 1\nm v=2i 2\n")
    spool.ack(dest, 9)
    with pytest.raises(SpoolBusy, match="another harness process"):
        Spool(tmp_path)
    spool.close()
    with open(tmp_path / DATA_NAME, "ab") as data:
        data.write(b"m v=3")  # a crash in the middle of an append
    spool = Spool(tmp_path)
    assert spool.destination == dest
    assert spool.size == 18 and spool.pending_lines(dest) == 1
    assert list(spool.batches(dest, 4)) == [(18, b"m v=2i 2\n")]
    spool.close()
