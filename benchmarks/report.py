"""How long the report of a 24 h soak takes to render from the store, against reading its samples.

Builds one synthetic stored run: a 24 h soak trial with 20 KPIs polled at 1 Hz (20 × 86,400 =
1,728,000 `kpi` samples, each KPI with a few single-second spikes) plus one `soak` probe a
minute, written into `samples.sqlite` through the store's own writer (`SqliteStore.write`), and
its `summary.json`. Then, each phase in a fresh child process on that same run (so each peak
RSS, from `resource.getrusage`, is that phase's own):

- **read-samples**: every sample read back with the store's reader (`SqliteStore.samples()`,
  a list of Sample objects): what a report built on the sample list would pay first;
- **read-arrays**: every KPI series of the trial read as numpy arrays (`StoreSource.series`,
  read-only): what the plots read;
- **report**: the whole report from the stored run alone: every plot (PNG + SVG, through
  `StoreSource`) and report.html; report.pdf too when `harness.report.pdf` exists.

Target: report ≤ 10 s and ≤ 1 GiB peak memory. The ratio column is each phase's wall time over
read-samples'.

    .venv/bin/python benchmarks/report.py [--kpis 20] [--hours 24] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
BATCH = 50_000
T0_NS = 1_795_964_400_000_000_000  # 2026-11-28T14:20:00Z
TRIAL = {"trial": "soak-24h", "repetition": "1", "run_id": "bench-report", "kind": "soak"}
TARGET_S = 10.0
TARGET_RSS_MIB = 1024.0


@dataclass(frozen=True)
class Row:
    """One timed phase."""

    phase: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    detail: str


def _kpi_samples(kpis: int, seconds: int) -> Iterator[Any]:
    from harness.base.sample import Sample

    for k in range(kpis):
        tags = {**TRIAL, "device": "gnb1" if k < 15 else "core1", "kpi": f"KPI.{k:02d}",
                "unit": "%" if k % 2 else "Mbit/s"}
        spikes = {(seconds * (j + 1)) // 7 + k for j in range(6)}
        for i in range(seconds):
            base = 50 + 20 * math.sin(i / 3600 + k) + (i * 7919 % 13) / 13
            value = base * (4.0 if i in spikes else 1.0)
            yield Sample(T0_NS + i * 1_000_000_000, "kpi", tags, {"value": value, "raw": i})


def _soak_samples(seconds: int) -> Iterator[Any]:
    from harness.base.sample import Sample

    for n, i in enumerate(range(0, seconds, 60)):
        available = n % 97 != 5
        yield Sample(T0_NS + i * 1_000_000_000, "soak", dict(TRIAL),
                     {"probe": n, "available": available, "failed": False,
                      "elapsed_s": 1.2, "throughput_mbps": 300.0 + (n % 17) * (
                          1 if available else -15), "rtt_median_ms": 8.0 + (n % 5)})


def _summary(kpis: int, seconds: int) -> dict[str, Any]:
    start = "2026-11-28T14:20:00Z"
    finish = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0_NS / 1e9 + seconds))
    observed = {"value": 98.97, "unit": "%"}
    return {
        "format_version": 1, "harness_version": "bench", "run_id": "bench-report",
        "verdict": "PASS", "scenario": {"name": "soak-24h", "sha256": "0" * 64,
                                        "title": {"vi": "Đo kiểm dài hạn", "en": "Soak"}},
        "lab": {"name": "bench", "sha256": "1" * 64}, "started": start, "finished": finish,
        "devices": [{"name": "gnb1", "role": "gnodeb", "vendor": "sim", "model": "SimGNB-1",
                     "serial": "SIM-0001", "firmware": "1.0.0"}],
        "trials": [{
            "id": "soak-24h", "repetition": 1, "kind": "soak", "verdict": "PASS",
            "params": {}, "started": start, "finished": finish, "error": None,
            "metrics": {"soak.availability": observed,
                        "soak.throughput.mean": {"value": 308.0, "unit": "Mbit/s"}},
            "criteria": [{"expr": "soak.availability >= 95 %", "observed": observed,
                          "threshold": {"value": 95.0, "unit": "%"}, "verdict": "PASS",
                          "source": "QCVN 126:2021/BTTTT", "detail": ""},
                         {"expr": "soak.throughput.mean >= 100 Mbit/s",
                          "observed": {"value": 308.0, "unit": "Mbit/s"},
                          "threshold": {"value": 100.0, "unit": "Mbit/s"}, "verdict": "PASS",
                          "source": None, "detail": ""}],
            "samples_expected": kpis * seconds}],
    }


def build(run_dir: Path, kpis: int, seconds: int) -> tuple[int, float]:
    """Write the synthetic run; (samples written, seconds it took)."""
    from harness.store.sqlite import SqliteStore

    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    store = SqliteStore(run_dir / "samples.sqlite")
    written = 0
    batch: list[Any] = []
    for source in (_kpi_samples(kpis, seconds), _soak_samples(seconds)):
        for sample in source:
            batch.append(sample)
            if len(batch) >= BATCH:
                written += store.write(batch)
                batch = []
    written += store.write(batch)
    store.close()
    (run_dir / "summary.json").write_text(json.dumps(_summary(kpis, seconds)), encoding="utf-8")
    return written, time.perf_counter() - started


def _stored(run_dir: Path) -> int:
    """How many samples a run built before holds."""
    import sqlite3

    with sqlite3.connect(f"{(run_dir / 'samples.sqlite').resolve().as_uri()}?mode=ro",
                         uri=True) as db:
        return int(db.execute("SELECT COUNT(*) FROM points").fetchone()[0])


def _phase(name: str, run_dir: Path) -> dict[str, Any]:
    """Run one phase in this process; its timing and peak RSS."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    wall, cpu = time.perf_counter(), time.process_time()
    if name == "read-samples":
        from harness.store.sqlite import SqliteStore

        copy = run_dir.parent / "read-copy.sqlite"  # the store's opener writes its meta row
        shutil.copyfile(run_dir / "samples.sqlite", copy)
        store = SqliteStore(copy, create=False)
        samples = list(store.samples())
        store.close()
        detail = f"{len(samples):,} Sample objects"
    elif name == "read-arrays":
        from harness.report.plots import StoreSource

        with StoreSource(run_dir / "samples.sqlite") as source:
            lines = source.series(("soak-24h", "1"), "kpi", "value", ("kpi", "device"))
        detail = f"{sum(len(t) for t, _ in lines.values()):,} points in {len(lines)} arrays"
    else:
        detail = _render(run_dir, summary)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "detail": detail}


def _render(run_dir: Path, summary: dict[str, Any]) -> str:
    """The whole report as a run writes it: every figure (PNG + SVG), report.html, report.pdf
    and junit.xml, reading the samples back from samples.sqlite (read-only)."""
    from harness.report import write_report
    from harness.report.plots import StoreSource

    out = run_dir / "render"
    with StoreSource(run_dir / "samples.sqlite") as source:
        files = write_report(out, summary, source, lang="both", pdf=True,
                             evidence_dir=run_dir)
    parts = [f"{len(files.plots)} figures (PNG + SVG)", "report.html"]
    parts.append("report.pdf" if files.pdf is not None else f"no PDF ({files.pdf_error})")
    return ", ".join(parts)


def _child(name: str, run_dir: Path) -> Row:
    proc = subprocess.run([sys.executable, __file__, "--phase", name, "--keep", str(run_dir)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{proc.stderr}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    return Row(name, doc["wall_s"], doc["cpu_s"], doc["peak_rss_mib"], doc["detail"])


def main() -> None:
    """Parse the options, build the run, time each phase in its own process, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kpis", type=int, default=20)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--keep", type=Path,
                        help="build the run here and keep it (reused when already there)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(_phase(args.phase, args.keep / "run")))
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        seconds = int(args.hours * 3600)
        if args.keep is not None and (root / "run" / "summary.json").is_file():
            written, build_s = _stored(root / "run"), 0.0  # built before: reuse it
        else:
            written, build_s = build(root / "run", args.kpis, seconds)
        rows = [_child(name, root) for name in ("read-samples", "read-arrays", "report")]
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    base = rows[0].wall_s
    if args.json:
        print(json.dumps({"format_version": FORMAT_VERSION, "samples": written,
                          "build_s": build_s, "rows": [asdict(r) for r in rows]}, indent=1))
        return
    print(f"{written:,} samples ({args.kpis} KPIs × {seconds:,} s at 1 Hz + soak probes), "
          + (f"written in {build_s:.1f} s" if build_s else "built before"))
    print(f"{'phase':<14}{'wall s':>8}{'cpu s':>8}{'ratio':>7}{'peak RSS MiB':>14}  detail")
    for r in rows:
        print(f"{r.phase:<14}{r.wall_s:>8.2f}{r.cpu_s:>8.2f}{r.wall_s / base:>7.2f}"
              f"{r.peak_rss_mib:>14.0f}  {r.detail}")
    report = rows[-1]
    ok = report.wall_s <= TARGET_S and report.peak_rss_mib <= TARGET_RSS_MIB
    print(f"target: report ≤ {TARGET_S:g} s and ≤ {TARGET_RSS_MIB:g} MiB: "
          + ("met" if ok else "NOT met"))


if __name__ == "__main__":
    main()
