"""A real VictoriaMetrics server (Debian's `victoria-metrics`) on a free loopback port, with a
temporary data directory, for the InfluxDB sink tests: it serves InfluxDB's `/api/v2/write`
and gives every stored point back through `/api/v1/export`."""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import free_port, require_tool
from tests.processes import stop_popen


class VictoriaMetrics:
    """One server process; `stop()` and `start()` again keep its data (same directory)."""

    def __init__(self, data_dir: Path, *, dedup: bool = False,
                 basic_auth: tuple[str, str] | None = None) -> None:
        self.binary = require_tool("victoria-metrics")
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dedup = dedup
        self.basic_auth = basic_auth
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"victoria-{self.port}.log"

    def start(self) -> None:
        args = [self.binary, f"-storageDataPath={self.data_dir}",
                f"-httpListenAddr=127.0.0.1:{self.port}", "-loggerLevel=ERROR",
                "-retentionPeriod=100y"]
        if self.dedup:
            args.append("-dedup.minScrapeInterval=1ms")
        if self.basic_auth:
            args += [f"-httpAuth.username={self.basic_auth[0]}",
                     f"-httpAuth.password={self.basic_auth[1]}"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self._get("/health")
                return
            except (OSError, urllib.error.URLError):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"victoria-metrics did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_popen(self.proc, grace_s=15)
        self.proc = None

    def _get(self, path: str, query: dict[str, str] | None = None) -> bytes:
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url)
        if self.basic_auth:
            import base64

            token = base64.b64encode(":".join(self.basic_auth).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as answer:
            data: bytes = answer.read()
            return data

    def export(self) -> list[dict[str, Any]]:
        """Every stored series: {"metric": {...labels}, "values": [...], "timestamps": [...]}."""
        self._get("/internal/force_flush")
        body = self._get("/api/v1/export", {"match[]": '{__name__!=""}'})
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def points(self, expect: int = 1, timeout_s: float = 15.0,
               ) -> dict[tuple[str, tuple[tuple[str, str], ...], int], list[float]]:
        """(metric name, labels, ms timestamp) → the values stored there (several = dupes).

        New points become searchable a moment after the write is acknowledged: this waits
        (bounded) until at least `expect` values are visible, then reads once more so that
        late duplicates would show too."""
        deadline = time.monotonic() + timeout_s
        found = self._points()
        while sum(map(len, found.values())) < expect and time.monotonic() < deadline:
            time.sleep(0.1)
            found = self._points()
        time.sleep(0.3)
        return self._points()

    def _points(self) -> dict[tuple[str, tuple[tuple[str, str], ...], int], list[float]]:
        found: dict[tuple[str, tuple[tuple[str, str], ...], int], list[float]] = {}
        for series in self.export():
            labels = dict(series["metric"])
            name = labels.pop("__name__")
            key_labels = tuple(sorted(labels.items()))
            for value, ts in zip(series["values"], series["timestamps"], strict=True):
                found.setdefault((name, key_labels, ts), []).append(value)
        return found


def expected_points(samples: Any) -> dict[tuple[str, tuple[tuple[str, str], ...], int], float]:
    """What VictoriaMetrics should hold for samples: one series per numeric field
    (`measurement_field`), booleans as 1/0, string fields as 0, times in milliseconds."""
    found: dict[tuple[str, tuple[tuple[str, str], ...], int], float] = {}
    for s in samples:
        labels = tuple(sorted((k, v) for k, v in s.tags.items() if v != ""))
        for key, value in s.fields.items():
            number = 0.0 if isinstance(value, str) else float(value)
            found[(f"{s.measurement}_{key}", labels, s.time_ns // 1_000_000)] = number
    return found


@contextmanager
def running_victoria(data_dir: Path) -> Iterator[VictoriaMetrics]:
    """A server started on `data_dir` for the block, stopped after."""
    server = VictoriaMetrics(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def assert_exactly_once(server: VictoriaMetrics, samples: Any) -> None:
    """The server holds exactly these samples' points, each once, with their values.

    VictoriaMetrics keeps milliseconds: two samples of one series within a millisecond (two
    notices, say; distinct in samples.sqlite's nanoseconds) are two values at one key, so each
    key must hold as many values as samples fall on it. And it keeps 12 significant decimal
    digits of a float (its decimal storage: 1752.7374988098538 comes back as 1752.73749881;
    line protocol carried the full repr)."""
    expected: dict[tuple[str, tuple[tuple[str, str], ...], int], list[float]] = {}
    for sample in samples:
        for key, value in expected_points([sample]).items():
            expected.setdefault(key, []).append(value)
    got = server.points(expect=sum(map(len, expected.values())))
    assert set(got) == set(expected)
    counted = {k: (len(v), len(expected[k])) for k, v in got.items()
               if len(v) != len(expected[k])}
    assert not counted, list(counted.items())[:3]  # (stored, expected): more is a duplicate
    wrong = {k: (sorted(v), sorted(expected[k])) for k, v in got.items()
             if not all(math.isclose(a, b, rel_tol=1e-11, abs_tol=1e-300)
                        for a, b in zip(sorted(v), sorted(expected[k]), strict=True))}
    assert not wrong, list(wrong.items())[:5]
