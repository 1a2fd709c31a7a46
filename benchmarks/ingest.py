"""How fast samples reach the stores: points per second, 5 fields each, into

- **sqlite**: the embedded store (`SqliteStore.write`, batches of 10,000 samples);
- **sink**: VictoriaMetrics through our InfluxDB sink (line protocol, spool with fsync'd
  batches, influxdb-client's WriteService, acknowledged offsets), timed from the first sample
  handed over until every point is acknowledged;
- **raw**: the same lines (checked byte for byte on a prefix) built with a bare f-string and
  POSTed with `http.client`, batch after batch: what any client must at least pay;
- **raw-post**: the lines built beforehand, only the POSTs timed (the transport's ceiling).

Each server phase gets a fresh VictoriaMetrics (Debian `victoria-metrics`) on a free loopback
port; the benchmark checks that every point arrived (`vm_rows_inserted_total`). Targets: sink
≥ 0.8 × raw, SQLite ≥ 300k points/s. Wall-clock and CPU seconds are both shown: other work on
the machine shows up as a gap between the two.

    .venv/bin/python benchmarks/ingest.py [--points 1000000] [--gzip] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import __version__
from harness.base.sample import Sample
from harness.store.influx import DEFAULT_BATCH_BYTES, InfluxTarget
from harness.store.lineprotocol import LineEncoder
from harness.store.sink import InfluxSink
from harness.store.spool import Destination
from harness.store.sqlite import SqliteStore

FORMAT_VERSION = 1
BATCH = 10_000
FIELDS = 5
TARGET_RATIO = 0.8
TARGET_SQLITE = 300_000


@dataclass(frozen=True)
class Row:
    """One way of storing the points."""

    path: str
    points: int
    wall_s: float
    cpu_s: float

    @property
    def rate(self) -> float:
        """Points per wall-clock second."""
        return self.points / self.wall_s


def make_samples(n: int, seed: int = 1) -> list[Sample]:
    """n KPI-like samples over 60 series (run, trial, device, cell, KPI tags), 5 fields."""
    rng = random.Random(seed)
    t0 = time.time_ns() - n * 1_000_000 - 3_600 * 10**9
    tags = [{"cell": str(1 + i % 3), "device": f"gnb{i % 4}", "kpi": f"DRB.K{i % 5}",
             "repetition": "1", "run_id": "20261128T150502Z-ingest-0001",
             "scenario": "ingest", "trial": f"throughput-{i % 2}", "unit": "Mbit/s"}
            for i in range(60)]
    return [Sample(t0 + i * 1_000_000, "kpi", tags[i % 60],
                   {"value": rng.random() * 1e3, "raw": i, "delta": rng.random(),
                    "rate": rng.random() * 1e6, "ok": i % 7 != 0})
            for i in range(n)]


def naive_line(s: Sample) -> str:
    """The bare f-string any client would write (no escaping, no checks)."""
    tags = ",".join(f"{k}={v}" for k, v in s.tags.items())
    f = s.fields
    return (f"{s.measurement},{tags} value={f['value']!r},raw={f['raw']}i,"
            f"delta={f['delta']!r},rate={f['rate']!r},ok={'true' if f['ok'] else 'false'} "
            f"{s.time_ns}")


@contextmanager
def timed(rows: list[Row], path: str, points: int) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    rows.append(Row(path, points, time.perf_counter() - wall, time.process_time() - cpu))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def victoria(work: Path) -> Iterator[str]:
    """A fresh VictoriaMetrics; yields its URL."""
    binary = shutil.which("victoria-metrics")
    if binary is None:
        sys.exit("victoria-metrics not found: apt-get install victoria-metrics")
    port = free_port()
    data = Path(tempfile.mkdtemp(dir=work))
    proc = subprocess.Popen([binary, f"-storageDataPath={data}", "-loggerLevel=ERROR",
                             f"-httpListenAddr=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(data, ignore_errors=True)


def rows_inserted(url: str) -> int:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith('vm_rows_inserted_total{type="influx"}'))


def bench_sqlite(samples: list[Sample], work: Path, rows: list[Row]) -> None:
    store = SqliteStore(work / "samples.sqlite")
    with timed(rows, "sqlite", len(samples)):
        for i in range(0, len(samples), BATCH):
            store.write(samples[i:i + BATCH])
    assert store.count() == len(samples)
    store.close()


def bench_sink(samples: list[Sample], work: Path, rows: list[Row], gzip: bool) -> None:
    with victoria(work) as url:
        run_dir = Path(tempfile.mkdtemp(dir=work))
        sink = InfluxSink(InfluxTarget(Destination(url, "lab", "bench"), "t", gzip=gzip),
                          run_dir)
        with timed(rows, "sink+gzip" if gzip else "sink", len(samples)):
            for i in range(0, len(samples), BATCH):
                sink.write(samples[i:i + BATCH])
            status = sink.close(timeout_s=600)
        if status.sent != len(samples) or status.pending:
            sys.exit(f"sink did not deliver every point: {status}")
        _check(url, len(samples))


def _post_all(url: str, bodies: Iterator[bytes] | list[bytes]) -> None:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    for body in bodies:
        conn.request("POST", "/api/v2/write?org=lab&bucket=bench&precision=ns", body,
                     {"Content-Type": "text/plain; charset=utf-8", "Authorization": "Token t"})
        answer = conn.getresponse()
        answer.read()
        if answer.status != 204:
            sys.exit(f"raw POST answered {answer.status}")
    conn.close()


def _naive_bodies(samples: list[Sample]) -> Iterator[bytes]:
    lines: list[str] = []
    size = 0
    for s in samples:
        line = naive_line(s)
        lines.append(line)
        size += len(line) + 1
        if size >= DEFAULT_BATCH_BYTES:
            yield ("\n".join(lines) + "\n").encode()
            lines, size = [], 0
    if lines:
        yield ("\n".join(lines) + "\n").encode()


def bench_raw(samples: list[Sample], work: Path, rows: list[Row]) -> None:
    ours = LineEncoder().encode(samples[:1000]).decode().splitlines()
    if ours != [naive_line(s) for s in samples[:1000]]:
        sys.exit("the naive lines differ from ours: not the same lines")
    with victoria(work) as url:
        with timed(rows, "raw", len(samples)):
            _post_all(url, _naive_bodies(samples))
        _check(url, len(samples))
    bodies = list(_naive_bodies(samples))
    with victoria(work) as url:
        with timed(rows, "raw-post", len(samples)):
            _post_all(url, bodies)
        _check(url, len(samples))


def _check(url: str, points: int) -> None:
    deadline = time.monotonic() + 30
    while rows_inserted(url) < points * FIELDS and time.monotonic() < deadline:
        time.sleep(0.2)
    found = rows_inserted(url)
    if found != points * FIELDS:
        sys.exit(f"VictoriaMetrics inserted {found} values, expected {points * FIELDS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--gzip", action="store_true", help="Also time the sink with gzip.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    samples = make_samples(args.points)
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    steps: list[Callable[[], None]] = [
        lambda: bench_sqlite(samples, work, rows),
        lambda: bench_sink(samples, work, rows, gzip=False),
        lambda: bench_raw(samples, work, rows),
    ]
    if args.gzip:
        steps.append(lambda: bench_sink(samples, work, rows, gzip=True))
    try:
        for step in steps:
            step()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    by = {r.path: r for r in rows}
    ratio = by["sink"].rate / by["raw"].rate
    if args.json:
        print(json.dumps({"format_version": FORMAT_VERSION, "harness_version": __version__,
                          "points": args.points, "fields": FIELDS,
                          "rows": [asdict(r) | {"rate": r.rate} for r in rows],
                          "sink_over_raw": ratio,
                          "sink_over_raw_post": by["sink"].rate / by["raw-post"].rate},
                         indent=2))
        return
    print(f"{args.points:,} points x {FIELDS} fields")
    for r in rows:
        print(f"  {r.path:<10} {r.rate:>11,.0f} points/s   wall {r.wall_s:6.2f} s   "
              f"cpu {r.cpu_s:6.2f} s")
    print(f"  sink / raw      = {ratio:.2f}   (target >= {TARGET_RATIO})")
    print(f"  sink / raw-post = {by['sink'].rate / by['raw-post'].rate:.2f}")
    print(f"  sqlite {'meets' if by['sqlite'].rate >= TARGET_SQLITE else 'misses'} the "
          f"{TARGET_SQLITE:,} points/s target")


if __name__ == "__main__":
    main()
