"""The sign-off dossier's sections built from summary.json, the samples and the run directory:
equipment with firmware before/after, signer, what was not covered, methodology per kind,
device snapshots with differences, the alarms and events timeline, errors, evidence files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.base.sample import Sample
from harness.report.formatting import (
    DASH,
    format_datetime,
    format_number,
    format_seconds,
    parse_time,
    text_or_dash,
)
from harness.report.i18n import TEXT, Translator
from harness.report.sources import cite_clause
from harness.report.view import (
    DeviceView,
    EventView,
    EvidenceView,
    FirmwareView,
    GapView,
    MethodView,
    SnapshotRow,
)

#: Timeline lines shown at most (the rest are counted; samples.sqlite holds them all).
MAX_EVENTS = 400
#: Files of the run directory that are not evidence the report lists (itself, the manifest).
NOT_LISTED = ("report.html", "report.pdf", "manifest.json", "manifest.sig")
#: Files still being written while a run writes its report (listed when re-rendering later).
STILL_WRITTEN = ("summary.json", "junit.xml", "run.log")

_TOOLS: Mapping[str, str] = {
    "throughput": "iperf3", "latency": "irtt", "rfc2544": "iperf3 (UDP)",
    "y1564": "iperf3 (UDP) + irtt", "soak": "iperf3 + irtt", "sharing": "iperf3",
}


def _facts(snapshot: Any, phase: str, device: str) -> Mapping[str, Any]:
    state = ((snapshot or {}).get(phase) or {}).get(device) or {}
    facts = state.get("facts") if isinstance(state, Mapping) else None
    return facts if isinstance(facts, Mapping) else {}


def _last_firmware_after(trials: Sequence[Mapping[str, Any]], device: str) -> str:
    for trial in reversed(trials):
        after = (trial.get("facts_after") or {}).get(device)
        if isinstance(after, Mapping) and after.get("firmware"):
            return str(after["firmware"])
    return ""


def firmware_after(summary: Mapping[str, Any], device: str) -> str:
    """The firmware a device ended the run on: its snapshot after the run, else the facts
    read after its last trial; "" when neither was read."""
    after = _facts(summary.get("snapshot"), "after", device).get("firmware")
    if after:
        return str(after)
    return _last_firmware_after(summary.get("trials") or (), device)


def equipment(summary: Mapping[str, Any], tr: Translator) -> list[DeviceView]:
    """The cover's equipment table: vendor, model, serial, firmware before and after."""
    rows = []
    for device in summary.get("devices") or ():
        if not isinstance(device, Mapping):
            continue
        name = str(device.get("name") or "")
        label = name
        policy = str(device.get("ssh_host_key_policy") or "")
        if "accept-new" in policy or "ignore" in policy:  # a host key not verified: say so
            label += f" ⚠ host_key: {policy}"
        rows.append(DeviceView(label, tr.role(str(device.get("role") or "")) or DASH,
                               text_or_dash(device.get("vendor")),
                               text_or_dash(device.get("model")),
                               text_or_dash(device.get("serial")),
                               text_or_dash(device.get("firmware")),
                               firmware_after(summary, name)))
    return rows


def trial_firmware(trial: Mapping[str, Any]) -> list[FirmwareView]:
    """Firmware of the devices a trial read before and after it ran."""
    before = trial.get("facts_before") or {}
    after = trial.get("facts_after") or {}
    names = sorted(set(before) | set(after)) if isinstance(before, Mapping) and isinstance(
        after, Mapping) else []
    views = []
    for name in names:
        b, a = before.get(name) or {}, after.get(name) or {}
        views.append(FirmwareView(str(name), text_or_dash(b.get("firmware")),
                                  text_or_dash(a.get("firmware"))))
    return views


def signer(run_dir: Path, summary: Mapping[str, Any]) -> str:
    """The fingerprint of the key that signs this run's manifest, "" when nothing says so:
    `summary.signing.fingerprint` (known before the report is written), else the manifest's."""
    for holder in (summary.get("signing"), summary.get("signature")):
        if isinstance(holder, Mapping) and holder.get("fingerprint"):
            return str(holder["fingerprint"])
    manifest = run_dir / "manifest.json"
    if (run_dir / "manifest.sig").is_file() and manifest.is_file():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ""
        for key in ("fingerprint", "key_fingerprint", "public_key_fingerprint"):
            for holder in (data, data.get("signing") or {}, data.get("signature") or {}):
                if isinstance(holder, Mapping) and holder.get(key):
                    return str(holder[key])
    return ""


def not_covered(summary: Mapping[str, Any], tr: Translator) -> list[GapView]:
    """Clauses of the cited sources that no criterion judged, and trials that were skipped."""
    gaps = []
    for aggregate in summary.get("aggregates") or ():
        for gap in aggregate.get("not_covered") or ():
            if isinstance(gap, Mapping):
                gaps.append(GapView(str(aggregate.get("id", "")),
                                    cite_clause(str(gap.get("clause", ""))),
                                    str(gap.get("reason", ""))))
    for trial in summary.get("trials") or ():
        if str(trial.get("verdict", "")).upper() == "SKIPPED":
            gaps.append(GapView(f"{trial.get('id')} #{trial.get('repetition')}",
                                tr("summary.skipped_trial"), str(trial.get("error") or "")))
    return gaps


def _conditions(trials: Sequence[Mapping[str, Any]], tr: Translator) -> list[tuple[str, str]]:
    """The distinct cell conditions the kind's trials were measured under."""
    seen: dict[str, list[str]] = {}
    for trial in trials:
        c = trial.get("conditions")
        if not isinstance(c, Mapping):
            continue
        values = {
            "cond.band": c.get("band"),
            "cond.bandwidth": f"{c['bandwidth_mhz']} MHz" if "bandwidth_mhz" in c else None,
            "cond.scs": f"{c['scs_khz']} kHz" if "scs_khz" in c else None,
            "cond.tdd": " ".join(str(v) for v in (c.get("tdd"), c.get("special")) if v) or None,
            "cond.layers": (f"{c.get('layers_dl', '?')} / {c.get('layers_ul', '?')}"
                            if "layers_dl" in c or "layers_ul" in c else None),
            "cond.modulation": (f"{c.get('modulation_dl', '?')} / {c.get('modulation_ul', '?')}"
                                if "modulation_dl" in c or "modulation_ul" in c else None),
            "cond.firmware": c.get("firmware"),
        }
        for key, value in values.items():
            if value is not None and str(value) not in seen.setdefault(key, []):
                seen[key].append(str(value))
    return [(tr(key), ", ".join(values)) for key, values in seen.items()]


def _tool(kind: str, trials: Sequence[Mapping[str, Any]], devices: Iterable[Any],
          tr: Translator) -> str:
    if kind == "firmware_upgrade":
        return tr("tool.device")
    tool = _TOOLS.get(kind, kind)
    if kind == "latency" and any((t.get("params") or {}).get("tool") == "ping" for t in trials):
        tool = "ping" if all((t.get("params") or {}).get("tool") == "ping" for t in trials) \
            else f"{tool}, ping"
    versions = sorted({str(d.get("firmware")) for d in devices if isinstance(d, Mapping)
                       and str(d.get("role", "")).endswith("-host") and d.get("firmware")})
    return f"{tool} ({'; '.join(versions)})" if versions and "iperf3" in tool else tool


def _seconds_range(values: Iterable[Any]) -> str:
    numbers = sorted({float(v) for v in values if isinstance(v, int | float)
                      and not isinstance(v, bool)})
    if not numbers:
        return DASH
    return ", ".join(format_seconds(v) for v in numbers)


def methods(summary: Mapping[str, Any], tr: Translator) -> list[MethodView]:
    """One methodology block per trial kind the run used, from what summary.json holds."""
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for trial in summary.get("trials") or ():
        by_kind.setdefault(str(trial.get("kind") or "?"), []).append(trial)
    views = []
    devices = list(summary.get("devices") or ())
    for kind, trials in by_kind.items():
        params = [t.get("params") or {} for t in trials]
        ids = list(dict.fromkeys(str(t.get("id")) for t in trials))
        reps = max((int(t.get("repetition") or 1) for t in trials), default=1)
        statistics = sorted({f"{name}: {text}" for t in trials
                             for name, text in (t.get("statistics") or {}).items()})[:6]
        sampling = tr(f"sampling.{kind}") if f"sampling.{kind}" in _sampling_keys() else DASH
        if kind == "latency" and all(p.get("tool") == "ping" for p in params):
            sampling = tr("sampling.ping")
        views.append(MethodView(
            kind=kind, title=kind, tool=_tool(kind, trials, devices, tr),
            durations=_seconds_range(p.get("duration_s") for p in params),
            repetitions=format_number(reps),
            warmup=_seconds_range(p.get("omit_s") for p in params),
            sampling=sampling, statistics=statistics,
            conditions=_conditions(trials, tr) or [(tr("method.conditions"), tr("cond.none"))],
            trials=", ".join(ids)))
    return views


def _sampling_keys() -> set[str]:
    return {k for k in TEXT if k.startswith("sampling.")}


def _flatten(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, inner in value.items():
            out.update(_flatten(f"{prefix}.{key}" if prefix else str(key), inner))
        return out
    if isinstance(value, list):
        return {prefix: ", ".join(json.dumps(v, ensure_ascii=False, sort_keys=True)
                                  if isinstance(v, Mapping) else str(v) for v in value) or DASH}
    return {prefix: format_number(value) if value is not None else DASH}


def snapshot_rows(summary: Mapping[str, Any]) -> list[SnapshotRow]:
    """Every item of every device's state before and after the run (facts, cells, alarms)."""
    snapshot = summary.get("snapshot") or {}
    before, after = snapshot.get("before") or {}, snapshot.get("after") or {}
    rows = []
    for device in dict.fromkeys([*before, *after]):
        b = _flatten("", {k: v for k, v in (before.get(device) or {}).items() if k != "role"})
        a = _flatten("", {k: v for k, v in (after.get(device) or {}).items() if k != "role"})
        for item in dict.fromkeys([*b, *a]):
            rows.append(SnapshotRow(str(device), item, b.get(item, DASH), a.get(item, DASH)))
    return rows


def _sample_time(sample: Sample) -> str:
    return format_datetime(datetime.fromtimestamp(sample.time_ns / 1e9, tz=UTC))


def _severity(value: str, tr: Translator) -> str:
    key = f"severity.{value.lower()}"
    return tr(key) if key in TEXT else value


def events(summary: Mapping[str, Any], samples: Iterable[Sample],
           tr: Translator) -> tuple[list[EventView], int]:
    """Alarms, notices and trial starts/ends in time order; (lines, how many were left out)."""
    timed: list[tuple[float, EventView]] = []
    for sample in samples:
        if sample.measurement not in ("alarm", "event"):
            continue
        tags, fields = sample.tags, sample.fields
        trial = tags.get("trial")
        where = f" [{trial} #{tags.get('repetition', '')}]" if trial else ""
        if sample.measurement == "alarm":
            text = f"{fields.get('text', '')} ({fields.get('source', '')})"
            kind = f"alarm/{tags.get('kind', '')}"
        else:
            text, kind = str(fields.get("message", "")), str(tags.get("kind", "event"))
        timed.append((sample.time_ns / 1e9, EventView(
            _sample_time(sample), tags.get("device", DASH), kind,
            _severity(tags.get("severity", ""), tr), text + where)))
    for trial in summary.get("trials") or ():
        label = f"{trial.get('id')} #{trial.get('repetition')}"
        for key, what in (("started", "event.trial_started"), ("finished", "event.trial_finished")):
            moment = parse_time(trial.get(key))
            if moment is not None:
                extra = f" — {trial.get('verdict')}" if key == "finished" else ""
                timed.append((moment.timestamp(), EventView(
                    format_datetime(moment), DASH, str(trial.get("kind") or ""), "",
                    f"{tr(what)}: {label}{extra}")))
    timed.sort(key=lambda pair: pair[0])
    left_out = max(0, len(timed) - MAX_EVENTS)
    return [view for _, view in timed[:MAX_EVENTS]], left_out


def errors(summary: Mapping[str, Any], tr: Translator) -> list[tuple[str, str]]:
    """Everything that went wrong: setup, storage, trials, monitors, restores."""
    found: list[tuple[str, str]] = []
    if summary.get("setup_error"):
        found.append((tr("errors.setup"), str(summary["setup_error"])))
    for error in summary.get("storage_errors") or ([summary["storage_error"]]
                                                   if summary.get("storage_error") else []):
        found.append((tr("errors.storage"), str(error)))
    for trial in summary.get("trials") or ():
        label = f"{trial.get('id')} #{trial.get('repetition')}"
        if trial.get("error"):
            found.append((f"{tr('trial')} {label}", str(trial["error"])))
        for error in (trial.get("monitors") or {}).get("errors") or ():
            found.append((f"{tr('errors.monitor')} {label}", str(error)))
    for error in summary.get("restore_errors") or ():
        message = str(error.get("message", error)) if isinstance(error, Mapping) else str(error)
        found.append((tr("restore_errors"), message))
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def evidence(run_dir: Path, final: bool = True) -> tuple[list[EvidenceView], bool]:
    """Every evidence file with its SHA-256: from manifest.json when it lists them, else
    computed here (without the files a running run still writes, unless `final`);
    (files, read from the manifest)."""
    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        files = data.get("files") if isinstance(data, Mapping) else None
        listed = _manifest_files(files)
        if listed:
            return listed, True
    views = []
    if run_dir.is_dir():
        for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
            relative = path.relative_to(run_dir).as_posix()
            if (relative in NOT_LISTED or relative.endswith(("-wal", "-shm", "-journal"))
                    or (not final and relative in STILL_WRITTEN)):
                continue
            views.append(EvidenceView(relative, format_number(path.stat().st_size),
                                      _sha256(path)))
    return views, False


def _manifest_files(files: Any) -> list[EvidenceView]:
    """The manifest's files as a list of {path, sha256, size} or a {path: {sha256, size}}."""
    entries: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(files, Mapping):
        entries = [(str(k), v) for k, v in files.items() if isinstance(v, Mapping)]
    elif isinstance(files, list):
        entries = [(str(v.get("path", "")), v) for v in files if isinstance(v, Mapping)]
    return [EvidenceView(path, format_number(entry.get("size")), str(entry.get("sha256", "")))
            for path, entry in sorted(entries) if path and entry.get("sha256")]
