"""Figures of the long and device-side kinds: soak timeline, MOCN shares per PLMN, firmware
upgrade timeline."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.report.plots.base import (
    Plot,
    PlotWriter,
    TrialKey,
    axis_label,
    bi,
    colour,
    legend,
    metric,
    new_figure,
    number,
    style,
    time_axis,
    time_label,
)
from harness.report.plots.source import SampleSource
from harness.report.plots.traffic import relative

_BAD = "#c62828"


def plot_soak(writer: PlotWriter, source: SampleSource, key: TrialKey, t0_ns: int,
              stem: str) -> Plot | None:
    """Each probe's throughput and median RTT over the soak; unavailable probes in red."""
    rows = source.rows(key, "soak")
    if not rows:
        return None
    lang = writer.lang
    times = np.array([(s.time_ns - t0_ns) / 1e9 for s in rows])
    div, _, _ = time_axis(float(times[-1]) if len(times) else 0.0)
    bad = np.array([not s.fields.get("available", True) or bool(s.fields.get("failed"))
                    for s in rows], dtype=bool)
    figure = new_figure(8.0, 4.6)
    top, bottom = figure.subplots(2, 1, sharex=True)
    for ax, field, (vi, en, unit) in (
            (top, "throughput_mbps", ("Thông lượng", "Throughput", "Mbit/s")),
            (bottom, "rtt_median_ms", ("RTT trung vị", "Median RTT", "ms"))):
        values = np.array([number(s.fields.get(field)) for s in rows], dtype=np.float64)
        ok = np.isfinite(values)
        if ok.any():
            t, v = relative((np.round(times[ok] * 1e9).astype(np.int64), values[ok]), 0)
            ax.plot(t / div, v, linewidth=0.9, color=colour(0),
                    label=bi("mỗi lần đo", "each probe", lang))
        marked = bad & ok
        if marked.any():
            ax.scatter(times[marked] / div, values[marked], color=_BAD, s=12, zorder=3,
                       label=bi("không sẵn sàng hoặc lỗi", "unavailable or failed", lang))
        for t in times[bad & ~ok]:  # a failed probe has no value: mark its time
            ax.axvline(t / div, color=_BAD, linewidth=0.6, alpha=0.6)
        ax.set_ylabel(axis_label(vi, en, unit, lang), fontsize=8)
        ax.set_ylim(bottom=0)
        legend(ax)
        style(ax)
    bottom.set_xlabel(time_label(div, lang), fontsize=9)
    counts = f"{int((~bad).sum())}/{len(rows)}"
    vi = f"Diễn biến phép đo dài hạn ({counts} lần đo sẵn sàng)"
    en = f"Soak timeline ({counts} probes available)"
    writer.title(figure, vi, en, f"{key[0]} #{key[1]}")
    return writer.save(figure, f"{stem}-soak", "soak", vi, en)


def _shares(trial: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    """(PLMN key, expected share %, measured share %) from the `sharing.*` metrics."""
    out = []
    for name in trial.get("metrics") or {}:
        match = re.match(r"sharing\.(.+)\.expected_share$", str(name))
        if match:
            plmn = match.group(1)
            expected, measured = metric(trial, str(name)), metric(trial,
                                                                  f"sharing.{plmn}.share")
            if expected is not None and measured is not None:
                out.append((plmn, expected, measured))
    return sorted(out)


def plot_sharing(writer: PlotWriter, source: SampleSource, key: TrialKey,
                 trial: Mapping[str, Any], t0_ns: int, stem: str) -> Plot | None:
    """Each PLMN's throughput over time (alone dashed, together solid) and its share of the
    cell against the configured one."""
    series = source.series(key, "sharing", "bits_per_second", ("phase", "plmn"))
    shares = _shares(trial)
    if not series and not shares:
        return None
    lang = writer.lang
    figure = new_figure(8.0, 3.8)
    left, right = figure.subplots(1, 2, width_ratios=(3, 2))
    plmns = sorted({plmn for _, plmn in series})
    for (phase, plmn), line in series.items():
        t, v = relative(line, t0_ns, 1e-6)
        left.plot(t, v, linewidth=1.0, color=colour(plmns.index(plmn)),
                  marker="." if len(t) < 60 else None,
                  linestyle="--" if phase == "alone" else "-",
                  label=f"{plmn} " + (bi("một mình", "alone", lang) if phase == "alone"
                                      else bi("đồng thời", "together", lang)))
    left.set_xlabel(time_label(1.0, lang), fontsize=8)
    left.set_ylabel(axis_label("Thông lượng", "Throughput", "Mbit/s", lang), fontsize=8)
    left.set_ylim(bottom=0)
    legend(left)
    style(left)
    if shares:
        x = np.arange(len(shares))
        right.bar(x - 0.2, [e for _, e, _ in shares], 0.4, color="#9e9e9e",
                  label=bi("cấu hình", "configured", lang))
        right.bar(x + 0.2, [m for _, _, m in shares], 0.4, color=colour(0),
                  label=bi("đo được", "measured", lang))
        right.set_xticks(x, [p.replace("_", "-").removeprefix("plmn-") for p, _, _ in shares],
                         fontsize=7)
    right.set_xlabel("PLMN", fontsize=8)
    right.set_ylabel(axis_label("Tỷ phần của ô", "Share of the cell", "%", lang), fontsize=8)
    legend(right)
    style(right)
    vi, en = "Dùng chung RAN (MOCN): tỷ phần theo PLMN", "RAN sharing (MOCN): shares per PLMN"
    writer.title(figure, vi, en, f"{key[0]} #{key[1]}")
    return writer.save(figure, f"{stem}-sharing", "sharing", vi, en)


_ROWS = (("upload", "Tải lên", "Upload"), ("install", "Cài đặt", "Install"),
         ("reboot", "Khởi động lại (không trả lời)", "Reboot (no answer)"),
         ("back", "Trở lại (hỏi thông tin)", "Come-back (fact polls)"),
         ("version", "Phiên bản", "Version"))


def _phases(firmware: Mapping[str, Any],
            trial: Mapping[str, Any]) -> dict[str, list[tuple[float, float, bool]]]:
    """(start, length, ok) bars per row, from the recorded timeline or, failing it, the
    upgrade's metrics (upload time, install → back, downtime)."""
    bars: dict[str, list[tuple[float, float, bool]]] = {row: [] for row, _, _ in _ROWS}
    steps = [s for s in firmware.get("timeline") or () if isinstance(s, Mapping)]
    if steps:
        installed = next((float(s["end_s"]) for s in steps if s.get("step") == "install"), None)
        for s in steps:
            start, end = float(s.get("start_s", 0.0)), float(s.get("end_s", 0.0))
            step, ok = str(s.get("step")), bool(s.get("ok"))
            if step in ("upload", "install"):
                bars[step].append((start, max(end - start, 1e-3), ok))
            elif installed is not None and start >= installed:
                bars["back"].append((start, max(end - start, 1e-3), ok))
        failed = [b for b in bars["back"] if not b[2]]
        if failed:
            first = failed[0][0]
            back = next((b for b in bars["back"] if b[0] > first and b[2]), None)
            stop = back[0] + back[1] if back else failed[-1][0] + failed[-1][1]
            bars["reboot"].append((first, stop - first, back is not None))
        return bars
    upload = metric(trial, "firmware.upload_s")
    after, down = metric(trial, "firmware.back_after_s"), metric(trial, "firmware.downtime_s")
    if upload is not None:
        bars["upload"].append((0.0, upload, True))
    if upload is not None and after is not None:
        bars["back"].append((upload, after, True))
        if down is not None:
            bars["reboot"].append((upload + after - down, down, True))
    return bars


def plot_firmware(writer: PlotWriter, trial: Mapping[str, Any], key: TrialKey,
                  stem: str) -> Plot | None:
    """Upload, install, reboot, come-back and the version seen, on one time line."""
    firmware = trial.get("firmware")
    if not isinstance(firmware, Mapping):
        return None
    bars = _phases(firmware, trial)
    if not any(bars.values()):
        return None
    lang = writer.lang
    figure = new_figure(8.0, 3.0)
    ax = figure.add_subplot()
    end = max((s + w for row in bars.values() for s, w, _ in row), default=1.0)
    for y, (row, _, _) in enumerate(_ROWS):
        spans = bars[row]
        if spans:
            ax.broken_barh([(s, w) for s, w, _ in spans], (y - 0.35, 0.7),
                           facecolors=[colour(y) if ok else _BAD for _, _, ok in spans])
    old, new = str(firmware.get("old_version") or "?"), str(firmware.get("new_version") or "?")
    ok = metric(trial, "firmware.version_ok")
    ax.scatter([end], [4], marker="D", s=30, color=_BAD if ok == 0 else "#2e7d32", zorder=3)
    ax.annotate(f"{old} → {new}", (end, 4), xytext=(-6, 0), textcoords="offset points",
                ha="right", va="center", fontsize=8)
    ax.set_yticks(range(len(_ROWS)), [bi(vi, en, lang) for _, vi, en in _ROWS], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, end * 1.05 + 1e-3)
    ax.set_xlabel(axis_label("Thời gian từ lúc bắt đầu nâng cấp", "Time since the upgrade "
                             "started", "s", lang), fontsize=8)
    style(ax)
    vi, en = "Diễn biến nâng cấp phần sụn", "Firmware upgrade timeline"
    writer.title(figure, vi, en, f"{key[0]} #{key[1]}")
    return writer.save(figure, f"{stem}-firmware", "firmware", vi, en)
