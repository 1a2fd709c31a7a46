"""report.html: the summary turned into plain view objects, then one Jinja2 template (autoescaped).

The template only lays out; everything that needs judgement (formatting numbers and times,
choosing labels, tolerating a missing optional field) happens here in plain Python.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from harness.base.verdict import Verdict
from harness.report import i18n, verdict_rules
from harness.report.plots import Plot, TrialKey, slugify

TEMPLATE = "report.html.j2"
_DASH = "—"


@dataclass(frozen=True)
class VerdictView:
    """A verdict as shown: `code` for CSS, `label` bilingual."""

    code: str
    label: str


@dataclass(frozen=True)
class CriterionView:
    """One criterion row."""

    expr: str
    verdict: VerdictView
    observed: str
    threshold: str
    source: str
    detail: str


@dataclass(frozen=True)
class MetricView:
    """One metric row: raw name, bilingual description, value with unit."""

    name: str
    description: str
    value: str


@dataclass(frozen=True)
class PlotView:
    """A figure: relative link from report.html and a caption."""

    src: str
    caption: str


@dataclass(frozen=True)
class RulesView:
    """One section of the appendix: the verdict rules of a kind (or the common ones)."""

    anchor: str
    title: str
    judged_by: str
    rules: list[tuple[VerdictView, str]]
    standards: str


@dataclass(frozen=True)
class TrialView:
    """Everything the report shows about one trial run."""

    id: str
    repetition: str
    anchor: str
    kind: str
    verdict: VerdictView
    params: list[tuple[str, str]]
    started: str
    finished: str
    duration: str
    metrics: list[MetricView]
    criteria: list[CriterionView]
    acceptance: list[CriterionView]  # the kind's built-in acceptance (docs/verdicts.md)
    rules: str  # anchor of the kind's verdict rules in the report's appendix
    error: str | None
    plots: list[PlotView]

    @property
    def judgements(self) -> list[CriterionView]:
        """Criteria, then built-in acceptance: every row that made the verdict."""
        return [*self.criteria, *self.acceptance]


@dataclass(frozen=True)
class ReportView:
    """The whole report, ready to lay out."""

    title_vi: str
    title_en: str
    scenario_name: str
    scenario_sha256: str
    run_id: str
    verdict: VerdictView
    lab_name: str
    lab_sha256: str
    site: list[tuple[str, str]]
    started: str
    finished: str
    duration: str
    harness_version: str
    format_version: str
    devices: list[dict[str, str]]
    trials: list[TrialView]
    counts: list[tuple[VerdictView, int]]
    rules: list[RulesView]
    restore_errors: list[str] = field(default_factory=list)  # devices left changed


def format_number(value: Any) -> str:
    """A measured number as a report prints it: up to 6 significant digits, no float noise."""
    if value is None:
        return _DASH
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        if abs(value) >= 1e5:
            return f"{value:.0f}"  # large values read better whole than in e-notation
        return f"{value:.6g}"
    return str(value)


def format_quantity(quantity: Any) -> str:
    """`{"value": 1712.4, "unit": "Mbit/s"}` → `1712.4 Mbit/s`; a dash when absent."""
    if quantity is None:
        return _DASH
    if not isinstance(quantity, Mapping):
        return format_number(quantity)
    number = format_number(quantity.get("value"))
    unit = str(quantity.get("unit") or "")
    return f"{number} {unit}" if unit and number != _DASH else number


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: Any) -> str:
    """An ISO 8601 timestamp as `2026-11-28 15:01:02.123 UTC`; unparseable text shown as given."""
    parsed = _parse_time(value)
    if parsed is None:
        return str(value) if value else _DASH
    utc = parsed.astimezone(UTC)
    millis = f".{utc.microsecond // 1000:03d}" if utc.microsecond else ""
    return f"{utc:%Y-%m-%d %H:%M:%S}{millis} UTC"


def format_duration(started: Any, finished: Any) -> str:
    """Seconds between two ISO timestamps, e.g. `18.3 s`; a dash when either is missing."""
    start, end = _parse_time(started), _parse_time(finished)
    if start is None or end is None:
        return _DASH
    seconds = (end - start).total_seconds()
    if seconds >= 120:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)} min {rest:.0f} s"
    return f"{seconds:.1f} s"


def _verdict_view(value: Any) -> VerdictView:
    verdict = i18n.parse_verdict(value)
    return VerdictView(verdict.value.lower(), i18n.verdict_text(verdict))


def _text(value: Any) -> str:
    return _DASH if value is None or value == "" else str(value)


def _criterion_view(criterion: Mapping[str, Any]) -> CriterionView:
    return CriterionView(
        expr=str(criterion.get("expr", "")),
        verdict=_verdict_view(criterion.get("verdict")),
        observed=format_quantity(criterion.get("observed")),
        threshold=format_quantity(criterion.get("threshold")),
        source=_text(criterion.get("source")),
        detail=str(criterion.get("detail") or ""),
    )


def _trial_view(
    trial: Mapping[str, Any], index: int, plots: Sequence[Plot], run_dir: Path
) -> TrialView:
    trial_id = str(trial.get("id", ""))
    repetition = str(trial.get("repetition", ""))
    metrics = trial.get("metrics") or {}
    params = trial.get("params") or {}
    return TrialView(
        id=trial_id,
        repetition=repetition,
        anchor=f"trial-{index}-{slugify(trial_id)}",
        kind=str(trial.get("kind") or ""),
        verdict=_verdict_view(trial.get("verdict")),
        params=[(str(k), format_number(v)) for k, v in params.items()],
        started=format_time(trial.get("started")),
        finished=format_time(trial.get("finished")),
        duration=format_duration(trial.get("started"), trial.get("finished")),
        metrics=[
            MetricView(str(name), i18n.metric_text(str(name)), format_quantity(quantity))
            for name, quantity in metrics.items()
        ],
        criteria=[_criterion_view(c) for c in trial.get("criteria") or ()],
        acceptance=[_criterion_view(c) for c in trial.get("acceptance") or ()],
        rules=verdict_rules.anchor(str(trial.get("kind") or "")
                                   if trial.get("kind") in verdict_rules.KINDS else ""),
        error=str(trial["error"]) if trial.get("error") else None,
        plots=[PlotView(_relative(plot.path, run_dir), plot.caption) for plot in plots],
    )


def _relative(path: Path, run_dir: Path) -> str:
    """The link from report.html to a plot: `plots/x.png` (POSIX separators)."""
    try:
        return path.relative_to(run_dir).as_posix()
    except ValueError:
        return path.as_uri() if path.is_absolute() else path.as_posix()


def _site_rows(site: Any) -> list[tuple[str, str]]:
    if not isinstance(site, Mapping):
        return [(i18n.text("site"), str(site))] if site else []
    rows = []
    for key, value in site.items():
        label_key = f"site.{key}"
        label = i18n.text(label_key) if label_key in i18n.TEXT else str(key)
        rows.append((label, format_number(value)))
    return rows


def _device_row(device: Mapping[str, Any]) -> dict[str, str]:
    row = {key: _text(device.get(key)) for key in ("name", "vendor", "model", "serial", "firmware")}
    row["role"] = i18n.role_text(str(device.get("role") or "")) or _DASH
    policy = str(device.get("ssh_host_key_policy") or "")
    if "accept-new" in policy or "ignore" in policy:  # a host key not verified: say so
        row["name"] += f" ⚠ host_key: {policy}"
    return row


def _counts(trials: Iterable[TrialView]) -> list[tuple[VerdictView, int]]:
    tally = Counter(trial.verdict.code for trial in trials)
    order = (Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.INCONCLUSIVE, Verdict.SKIPPED)
    return [(_verdict_view(v), tally[v.value.lower()]) for v in order if tally[v.value.lower()]]


def _rules_views(kinds: Iterable[str]) -> list[RulesView]:
    """The appendix: the common rules, then those of each kind the run used."""
    def rows(rules: Mapping[Verdict, Sequence[str]]) -> list[tuple[VerdictView, str]]:
        return [(_verdict_view(v.value), text) for v, texts in rules.items() for text in texts]

    views = [RulesView(verdict_rules.anchor(""), i18n.text("rules.common"), "",
                       rows(verdict_rules.COMMON), "")]
    for kind in dict.fromkeys(kinds):
        rules = verdict_rules.KINDS.get(kind)
        if rules is not None:
            views.append(RulesView(verdict_rules.anchor(kind), f"{kind} — {rules.title}",
                                   rules.judged_by, rows(rules.rules),
                                   "; ".join(rules.standards)))
    return views


def build_view(
    summary: Mapping[str, Any], plots: Mapping[TrialKey, Sequence[Plot]], run_dir: Path
) -> ReportView:
    """The report's content from summary.json and the written plots; ValueError on a bad verdict."""
    scenario = summary.get("scenario") or {}
    lab = summary.get("lab") or {}
    title = scenario.get("title") or {}
    if not isinstance(title, Mapping):
        title = {"vi": str(title), "en": str(title)}
    name = str(scenario.get("name") or "")
    trials = []
    for i, trial in enumerate(summary.get("trials") or (), start=1):
        key = (str(trial.get("id", "")), str(trial.get("repetition", "")))
        trials.append(_trial_view(trial, i, plots.get(key, ()), run_dir))
    return ReportView(
        title_vi=str(title.get("vi") or title.get("en") or name),
        title_en=str(title.get("en") or title.get("vi") or name),
        scenario_name=name,
        scenario_sha256=_text(scenario.get("sha256")),
        run_id=_text(summary.get("run_id")),
        verdict=_verdict_view(summary.get("verdict")),
        lab_name=_text(lab.get("name")),
        lab_sha256=_text(lab.get("sha256")),
        site=_site_rows(lab.get("site")),
        started=format_time(summary.get("started")),
        finished=format_time(summary.get("finished")),
        duration=format_duration(summary.get("started"), summary.get("finished")),
        harness_version=_text(summary.get("harness_version")),
        format_version=_text(summary.get("format_version")),
        devices=[_device_row(d) for d in summary.get("devices") or ()],
        trials=trials,
        counts=_counts(trials),
        rules=_rules_views(t.kind for t in trials),
        restore_errors=[str(e.get("message", e)) if isinstance(e, Mapping) else str(e)
                        for e in summary.get("restore_errors") or ()],
    )


def code_spans(text: str) -> markupsafe.Markup:
    """Markdown-style `code` spans of a rule's text as <code>, everything else escaped."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: show the text as it is
        return markupsafe.escape(text)
    return markupsafe.Markup("").join(
        markupsafe.Markup("<code>{}</code>").format(part) if i % 2 else markupsafe.escape(part)
        for i, part in enumerate(parts))


def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(Path(__file__).parent / "templates")
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code_spans"] = code_spans
    return env


def render_html(view: ReportView) -> str:
    """The report as one HTML document (inline CSS, no script; plots linked relatively)."""
    template = _environment().get_template(TEMPLATE)
    return template.render(
        report=view,
        t=i18n.text,
        bi=i18n.bi,
        verdict_text=i18n.verdict_text,
    )


def write_html(
    path: Path,
    summary: Mapping[str, Any],
    plots: Mapping[TrialKey, Sequence[Plot]],
) -> Path:
    """Render the report for `summary` to `path` (UTF-8); plot links are relative to its folder."""
    html = render_html(build_view(summary, plots, path.parent))
    path.write_text(html, encoding="utf-8")
    return path
