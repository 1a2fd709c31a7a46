"""Report plots (harness.report.plots): envelope decimation, the store source, bilingual SVG."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness.base.sample import Sample
from harness.report.plots import (
    BUCKETS,
    MemorySource,
    StoreSource,
    decimate,
    envelope,
    write_plots,
    write_trial_plots,
)
from harness.report.plots.envelope import bucket_starts
from harness.store.sqlite import SqliteStore

T0 = 1_795_964_462_000_000_000
FINITE = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(values=arrays(np.float64, st.integers(1, 3000), elements=FINITE),
       buckets=st.integers(1, 500))
def test_envelope_min_and_max_per_bucket_equal_the_originals(values: Any, buckets: int) -> None:
    env = envelope(values, buckets)
    starts = bucket_starts(len(values), buckets)
    assert np.array_equal(env.starts, starts)
    assert starts[0] == 0 and np.all(np.diff(starts) > 0)  # consecutive, none empty
    ends = np.append(starts[1:], len(values))
    for lo, hi, imin, imax in zip(starts, ends, env.argmin, env.argmax, strict=True):
        assert lo <= imin < hi and lo <= imax < hi  # the extremes lie in their own bucket
        assert values[imin] == values[lo:hi].min()
        assert values[imax] == values[lo:hi].max()


@settings(max_examples=100, deadline=None)
@given(values=arrays(np.float64, st.integers(1, 5000), elements=FINITE),
       max_points=st.integers(2, 800))
def test_decimate_keeps_every_buckets_extremes_in_time_order(values: Any,
                                                            max_points: int) -> None:
    times = np.arange(len(values), dtype=np.float64)
    t, v = decimate(times, values, max_points)
    assert len(t) <= max(len(values) if len(values) <= max_points else max_points, 1)
    assert np.all(np.diff(t) > 0)
    assert np.array_equal(v, values[t.astype(np.int64)])  # real points, never invented
    assert v.min() == values.min() and v.max() == values.max()


def test_a_single_sample_spike_survives_a_24h_soak() -> None:
    rng = np.random.default_rng(7)
    values = 100 + rng.normal(0, 1, 86_400)
    values[43_210] = 900.0  # one second of spike in a day
    values[70_001] = -50.0  # and one dip
    times = np.arange(86_400, dtype=np.float64)
    t, v = decimate(times, values)
    assert len(t) <= 2 * BUCKETS
    assert 900.0 in v and t[v == 900.0][0] == 43_210
    assert -50.0 in v and t[v == -50.0][0] == 70_001


def _samples(reps: int = 2, kpis: int = 2, n: int = 30) -> list[Sample]:
    out = []
    for r in range(1, reps + 1):
        start = T0 + r * 100_000_000_000
        for i in range(n):
            tags = {"trial": "tput", "repetition": str(r), "direction": "dl", "protocol": "tcp"}
            out.append(Sample(start + i * 1_000_000_000, "throughput", tags,
                              {"bits_per_second": (500 + 10 * math.sin(i) + r) * 1e6,
                               "bytes": 1000 * i, "retransmits": i % 3}))
            for k in range(kpis):
                out.append(Sample(start + i * 1_000_000_000 + 1, "kpi",
                                  {"trial": "tput", "repetition": str(r), "device": "gnb1",
                                   "kpi": f"KPI.{k}", "unit": "%"}, {"value": float(k + i)}))
    return out


def _trial(rep: int) -> dict[str, Any]:
    return {"id": "tput", "repetition": rep, "kind": "throughput", "verdict": "PASS",
            "metrics": {"throughput.mean": {"value": 505.0, "unit": "Mbit/s"}},
            "criteria": [{"expr": "throughput.mean >= 400 Mbit/s", "verdict": "PASS",
                          "observed": {"value": 505.0, "unit": "Mbit/s"},
                          "threshold": {"value": 400.0, "unit": "Mbit/s"}}]}


def test_store_source_reads_what_memory_holds(tmp_path: Path) -> None:
    samples = _samples()
    store = SqliteStore(tmp_path / "samples.sqlite")
    store.write(samples)
    store.close()
    before = (tmp_path / "samples.sqlite").read_bytes()
    memory = MemorySource(samples)
    with StoreSource(tmp_path / "samples.sqlite") as stored:
        assert stored.keys() == memory.keys() == {("tput", "1"), ("tput", "2")}
        for key in sorted(memory.keys()):
            assert stored.start_ns(key) == memory.start_ns(key)
            for meas, field, by in (("throughput", "bits_per_second", ("direction",)),
                                    ("kpi", "value", ("kpi", "device"))):
                a, b = stored.series(key, meas, field, by), memory.series(key, meas, field, by)
                assert a.keys() == b.keys()
                for tag in a:
                    assert np.array_equal(a[tag][0], b[tag][0])
                    assert np.array_equal(a[tag][1], b[tag][1])
            assert stored.rows(key, "throughput") == memory.rows(key, "throughput")
    assert (tmp_path / "samples.sqlite").read_bytes() == before  # read-only


def _svg_text(path: Path) -> str:
    root = ET.parse(path).getroot()
    return " ".join(t.strip() for el in root.iter() if el.tag.endswith("text")
                    for t in el.itertext() if t.strip())


def test_every_figure_has_an_svg_with_bilingual_labels(tmp_path: Path) -> None:
    summary = {"trials": [_trial(1), _trial(2)]}
    plots = write_plots(tmp_path / "plots", summary, _samples())
    kinds = sorted(p.kind for p in plots.all())
    assert kinds == ["boxes", "kpi", "kpi", "repetitions", "summary", "throughput",
                     "throughput"]
    assert [p.kind for p in plots.trials[("tput", "2")]][-2:] == ["repetitions", "boxes"]
    for plot in plots.all():
        assert plot.path.suffix == ".png" and plot.path.stat().st_size > 5_000
        assert plot.svg is not None and plot.svg == plot.path.with_suffix(".svg")
        text = _svg_text(plot.svg)
        assert plot.title_vi in text and plot.title_en in text, plot.kind
        if plot.kind == "summary":  # its long axis label: one line per language
            assert "Giá trị đo ÷ ngưỡng" in text and "Measured value ÷ threshold" in text
        else:
            assert " / " in text  # bilingual axis labels
    throughput = _svg_text(plots.trials[("tput", "1")][0].svg or Path())
    assert "Thông lượng / Throughput (Mbit/s)" in throughput
    assert "Thời gian (s) / Time (s)" in throughput
    assert "throughput.mean >= 400 Mbit/s (400 Mbit/s)" in throughput  # the threshold line
    kpi = _svg_text(plots.trials[("tput", "1")][1].svg or Path())
    assert "KPI.0 (%)" in kpi and "Giá trị / Value (%)" in kpi


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_one_language_alone(tmp_path: Path, lang: str) -> None:
    plots = write_trial_plots(tmp_path / "plots", [_trial(1)], _samples(reps=1),
                              lang=lang)  # type: ignore[arg-type]
    text = _svg_text(plots[("tput", "1")][0].svg or Path())
    want, other = (("Thông lượng (Mbit/s)", "Throughput (Mbit/s)") if lang == "vi"
                   else ("Throughput (Mbit/s)", "Thông lượng"))
    assert want in text and other not in text


def test_a_spike_in_a_day_long_kpi_reaches_the_svg(tmp_path: Path) -> None:
    n = 86_400
    values = np.full(n, 40.0)
    values[51_234] = 97.5
    samples = [Sample(T0 + i * 1_000_000_000, "kpi",
                      {"trial": "soak", "repetition": "1", "device": "gnb1", "kpi": "CPU",
                       "unit": "%"}, {"value": float(values[i])}) for i in range(n)]
    samples += [Sample(T0 + i * 1_000_000_000, "soak", {"trial": "soak", "repetition": "1"},
                       {"probe": i // 60, "available": True, "throughput_mbps": 300.0})
                for i in range(0, n, 60)]
    trial = {"id": "soak", "repetition": 1, "kind": "soak", "verdict": "PASS"}
    plots = write_trial_plots(tmp_path / "plots", [trial], samples)
    assert [p.kind for p in plots[("soak", "1")]] == ["soak", "kpi"]
    kpi = next(p for p in plots[("soak", "1")] if p.kind == "kpi")
    svg = (kpi.svg or Path()).read_text(encoding="utf-8")
    text = _svg_text(kpi.svg or Path())
    assert "Thời gian (h) / Time (h)" in text
    # the soak's probes above the KPIs, its label one line per language
    assert "Thông lượng (Mbit/s)" in text and "Throughput (Mbit/s)" in text
    assert "mỗi lần đo / each probe" in text
    # the KPI line is the clipped path with most vertices; the spike is one of them
    paths = re.findall(r'<path d="([^"]+)"[^>]*clip-path', svg)
    line = max(paths, key=lambda d: d.count("L"))
    assert line.count("L") <= 2 * BUCKETS
    ys = [float(y) for y in re.findall(r"[ML] [-\d.]+ ([-\d.]+)", line)]
    assert min(ys) < sorted(ys)[len(ys) // 2] - 50  # far above the plateau (SVG y grows down)


def test_y1564_steps_are_named_in_the_methods_order_not_the_summarys() -> None:
    from harness.report.plots.methods import _step_names

    # summary.json lists metrics sorted by name; the probe trials ran cir25 … perf
    metrics = {f"y1564.web.{s}.ir": {"value": 1.0, "unit": "Mbit/s"}
               for s in ("cir100", "cir25", "cir50", "cir75", "eir", "perf", "policing")}
    metrics["y1564.voice.cir100.ir"] = {"value": 1.0, "unit": "Mbit/s"}
    assert _step_names({"metrics": metrics}, "web", 7) == [
        "cir25", "cir50", "cir75", "cir100", "eir", "policing", "perf"]
    assert _step_names({"metrics": metrics}, "web", 5) == ["1", "2", "3", "4", "5"]
