"""Test-method figures: RFC 2544 search steps and loss curve, Y.1564 step chart per service."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.base.sample import Sample
from harness.report.plots.base import (
    Plot,
    PlotWriter,
    TrialKey,
    axis_label,
    bi,
    colour,
    legend,
    lines,
    metric,
    new_figure,
    number,
    style,
)
from harness.report.plots.source import SampleSource

_OK, _LOST = "#2e7d32", "#c62828"


def _steps(trial: Mapping[str, Any], samples: Sequence[Sample],
           frame: int) -> list[tuple[str, float, float]]:
    """(phase, rate asked in Mbit/s, loss %) of each search/confirmation trial, in order:
    from the summary's search history when the kind stored it, else every probe sample."""
    history = ((trial.get("rfc2544") or {}).get(f"f{frame}") or {}).get("history")
    if isinstance(history, list) and history:
        return [(str(h.get("phase", "")), (number(h.get("rate_bps")) or 0.0) / 1e6,
                 number(h.get("loss_percent")) or 0.0) for h in history if isinstance(h, dict)]
    return [("", (number(s.fields.get("rate_bps")) or 0.0) / 1e6,
             number(s.fields.get("loss_percent")) or 0.0)
            for s in samples if s.fields.get("frame_bytes") == frame]


def _loss_curve(trial: Mapping[str, Any], frame: int) -> list[tuple[float, float]]:
    """(percent of max_rate, loss %) from `rfc2544.frame_loss.fN.atP` metrics."""
    pattern = re.compile(rf"rfc2544\.frame_loss\.f{frame}\.at([0-9_]+)$")
    points = []
    for name in trial.get("metrics") or {}:
        match = pattern.match(str(name))
        value = metric(trial, str(name))
        if match and value is not None:
            points.append((float(match.group(1).replace("_", ".")), value))
    return sorted(points)


def plot_rfc2544(writer: PlotWriter, source: SampleSource, key: TrialKey,
                 trial: Mapping[str, Any], stem: str) -> Plot | None:
    """Per frame size: the search's trials (rate asked, zero loss or not) and the loss curve."""
    samples = source.rows(key, "rfc2544")
    frames = sorted({int(f) for s in samples if isinstance(f := s.fields.get("frame_bytes"), int)}
                    | {int(m.group(1)) for name in trial.get("metrics") or {}
                       if (m := re.match(r"rfc2544\.throughput\.f(\d+)$", str(name)))})
    frames = [f for f in frames if _steps(trial, samples, f) or _loss_curve(trial, f)]
    if not frames:
        return None
    lang = writer.lang
    figure = new_figure(8.0, 0.9 + 2.4 * len(frames))
    axes = figure.subplots(len(frames), 2, squeeze=False)
    for (left, right), frame in zip(axes, frames, strict=True):
        steps = _steps(trial, samples, frame)
        x = np.arange(1, len(steps) + 1)
        rates = np.array([r for _, r, _ in steps])
        clean = np.array([loss <= 0 for _, _, loss in steps], dtype=bool)
        left.step(x, rates, where="mid", color="#9e9e9e", linewidth=0.8)
        left.scatter(x[clean], rates[clean], color=_OK, marker="o", s=18,
                     label=bi("không mất gói", "zero loss", lang))
        left.scatter(x[~clean], rates[~clean], color=_LOST, marker="x", s=22,
                     label=bi("có mất gói", "frames lost", lang))
        for i, (phase, _, _) in enumerate(steps):
            if phase == "confirmation":
                left.axvspan(i + 0.5, i + 1.5, color="#e3f2fd", zorder=0)
        found = metric(trial, f"rfc2544.throughput.f{frame}")
        if found is not None:
            left.axhline(found, linestyle="--", color="#1565c0", linewidth=1.0,
                         label=bi("thông lượng tìm được", "throughput found", lang)
                         + f" {found:.4g} Mbit/s")
        left.set_title(f"{frame} B", fontsize=8, loc="left")
        left.set_xlabel(bi("Lần thử (nền xanh: xác nhận)", "Trial (blue: confirmation)", lang),
                        fontsize=7)
        left.set_ylabel(axis_label("Tốc độ đặt", "Rate asked", "Mbit/s", lang), fontsize=7)
        legend(left)
        style(left)
        curve = _loss_curve(trial, frame)
        if curve:
            right.plot([p for p, _ in curve], [loss for _, loss in curve], marker="o",
                       color=colour(0), linewidth=1.1)
            right.invert_xaxis()
        else:
            right.text(0.5, 0.5, bi("không đo đường mất gói", "no loss curve measured", lang),
                       ha="center", va="center", fontsize=8, transform=right.transAxes)
        right.set_xlabel(axis_label("Tải đưa vào, % tốc độ tối đa",
                                    "Offered load, % of max rate", "%", lang), fontsize=7)
        right.set_ylabel(axis_label("Tỷ lệ mất khung", "Frame loss rate", "%", lang), fontsize=7)
        style(right)
    vi, en = "RFC 2544: các bước tìm kiếm và đường mất khung", \
        "RFC 2544: search steps and frame loss curve"
    writer.title(figure, vi, en, f"{key[0]} #{key[1]}")
    return writer.save(figure, f"{stem}-rfc2544", "rfc2544", vi, en)


def _step_order(step: str) -> tuple[int, float]:
    """Y.1564's order: the CIR steps by percentage, then EIR, policing, performance."""
    if step.startswith("cir") and step[3:].replace("_", ".").replace(".", "", 1).isdigit():
        return (0, float(step[3:].replace("_", ".")))
    return ({"eir": 1, "policing": 2, "perf": 3}.get(step, 4), 0.0)


def _step_names(trial: Mapping[str, Any], service: str, count: int) -> list[str]:
    """The steps' names (`cir25`… `eir`, `policing`, `perf`) from the service's `.ir` metrics,
    in the order the method runs them; numbers when they do not match the probe trials one to
    one."""
    pattern = re.compile(rf"y1564\.{re.escape(service)}\.([A-Za-z0-9_]+)\.ir$")
    names = sorted((m.group(1) for name in trial.get("metrics") or {}
                    if (m := pattern.match(str(name)))), key=_step_order)
    return names if len(names) == count else [str(i) for i in range(1, count + 1)]


def plot_y1564(writer: PlotWriter, source: SampleSource, key: TrialKey,
               trial: Mapping[str, Any], stem: str) -> Plot | None:
    """Per service: each step's rate asked (step line) and information rate received (bars),
    frame loss on a second axis."""
    by_service: dict[str, list[Sample]] = {}
    for sample in source.rows(key, "y1564"):
        by_service.setdefault(sample.tags.get("service", ""), []).append(sample)
    if not by_service:
        return None
    lang = writer.lang
    services = sorted(by_service)
    figure = new_figure(8.0, 0.9 + 2.5 * len(services))
    axes = figure.subplots(len(services), 1, squeeze=False)[:, 0]
    for ax, service in zip(axes, services, strict=True):
        rows = by_service[service]
        x = np.arange(1, len(rows) + 1)
        asked = np.array([(number(s.fields.get("rate_bps")) or 0.0) / 1e6 for s in rows])
        got = np.array([(number(s.fields.get("received_bps")) or 0.0) / 1e6 for s in rows])
        loss = np.array([number(s.fields.get("loss_percent")) or 0.0 for s in rows])
        ax.bar(x, got, 0.6, color=colour(0), alpha=0.8,
               label=bi("tốc độ nhận (IR)", "information rate received (IR)", lang))
        ax.step(x, asked, where="mid", color="#b3261e", linewidth=1.2,
                label=bi("tốc độ đặt", "rate offered", lang))
        ax.set_xticks(x, _step_names(trial, service, len(rows)))
        ax.set_ylabel(axis_label("Tốc độ", "Rate", "Mbit/s", lang), fontsize=7)
        ax.set_xlabel(lines("Bước (cấu hình: CIR 25–100 %, EIR, kiểm soát; rồi hiệu năng)",
                            "Step (configuration: CIR 25–100 %, EIR, policing; then "
                            "performance)", lang), fontsize=7)
        verdict = ((trial.get("y1564") or {}).get("services") or {}).get(service)
        ax.set_title(f"{service}" + (f" — {verdict}" if verdict else ""), fontsize=8, loc="left")
        twin = ax.twinx()
        twin.plot(x, loss, "o:", color="#6a1b9a", markersize=3,
                  label=bi("tỷ lệ mất khung (FLR)", "frame loss ratio (FLR)", lang))
        twin.set_ylabel(axis_label("FLR", "FLR", "%", lang), fontsize=7)
        twin.tick_params(labelsize=7)
        twin.set_ylim(bottom=0)
        handles = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=6, loc="upper left")
        style(ax)
    vi, en = "Y.1564: biểu đồ các bước theo từng dịch vụ", "Y.1564: step chart per service"
    writer.title(figure, vi, en, f"{key[0]} #{key[1]}")
    return writer.save(figure, f"{stem}-y1564", "y1564", vi, en)
