"""summary.json (+ plots, samples, run directory) → ReportView, in one language or both."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.base.sample import Sample
from harness.base.verdict import Verdict
from harness.report import dossier, i18n, verdict_rules
from harness.report import verdict_rules_vi as rules_vi
from harness.report.formatting import (
    format_duration,
    format_number,
    format_quantity,
    format_time,
    text_or_dash,
)
from harness.report.i18n import Translator
from harness.report.plots import Plot, TrialKey, slugify
from harness.report.sources import (
    criterion_interval,
    criterion_metric,
    criterion_n,
    criterion_source,
    format_interval,
    is_exact,
)
from harness.report.summary_lines import summary_lines
from harness.report.view import (
    CriterionView,
    MetricView,
    PlotView,
    ReportView,
    RulesView,
    TrialView,
    VerdictView,
)

#: How a verdict ranks when choosing the figure that decided a trial (worst first).
_RANK = {v: v.severity for v in Verdict}


def verdict_view(value: Any, tr: Translator) -> VerdictView:
    """A summary verdict as shown; ValueError on an unknown one."""
    verdict = i18n.parse_verdict(value)
    return VerdictView(verdict.value.lower(), tr.verdict(verdict))


def _criterion_view(criterion: Mapping[str, Any], trial: Mapping[str, Any], scenario_sha: str,
                    tr: Translator, builtin: bool) -> CriterionView:
    expr = str(criterion.get("expr", ""))
    metric = "" if builtin else criterion_metric(expr)
    observed = criterion.get("observed")
    unit = str(observed.get("unit") or "") if isinstance(observed, Mapping) else ""
    interval = criterion_interval(criterion, trial, metric) if metric else None
    return CriterionView(
        expr=expr,
        verdict=verdict_view(criterion.get("verdict"), tr),
        observed=format_quantity(observed),
        threshold=format_quantity(criterion.get("threshold")),
        source=criterion_source(criterion, scenario_sha, tr, builtin=builtin),
        detail=str(criterion.get("detail") or ""),
        metric=metric,
        description=tr.metric(metric) if metric else "",
        interval=("—" if builtin and interval is None
                  else format_interval(interval, unit, is_exact(metric, trial), tr)),
        n=criterion_n(criterion, trial, metric) if metric else "—",
    )


def _deciding(criteria: Sequence[CriterionView], error: str | None, tr: Translator) -> str:
    """The row that made the verdict: the worst one (the first of equals), as one line."""
    if error:
        return error if len(error) <= 160 else error[:157] + "…"
    if not criteria:
        return tr("summary.no_criterion")
    worst = max(criteria, key=lambda c: _RANK[i18n.parse_verdict(c.verdict.code)])
    return f"{worst.expr}: {worst.observed} ({tr('threshold')} {worst.threshold})"


def _plot_view(plot: Plot, run_dir: Path) -> PlotView:
    vector = plot.path.with_suffix(".svg")  # the plots' vector twin, for the PDF
    pdf = vector if vector.is_file() else plot.path
    return PlotView(_relative(plot.path, run_dir), plot.caption, pdf.resolve().as_uri())


def _trial_view(trial: Mapping[str, Any], index: int, plots: Sequence[Plot], run_dir: Path,
                scenario_sha: str, tr: Translator) -> TrialView:
    trial_id = str(trial.get("id", ""))
    metrics = trial.get("metrics") or {}
    params = trial.get("params") or {}
    criteria = [_criterion_view(c, trial, scenario_sha, tr, False)
                for c in trial.get("criteria") or ()]
    acceptance = [_criterion_view(c, trial, scenario_sha, tr, True)
                  for c in trial.get("acceptance") or ()]
    error = str(trial["error"]) if trial.get("error") else None
    kind = str(trial.get("kind") or "")
    return TrialView(
        id=trial_id,
        repetition=str(trial.get("repetition", "")),
        anchor=f"trial-{index}-{slugify(trial_id)}",
        kind=kind,
        verdict=verdict_view(trial.get("verdict"), tr),
        params=[(str(k), format_number(v)) for k, v in params.items()],
        started=format_time(trial.get("started")),
        finished=format_time(trial.get("finished")),
        duration=format_duration(trial.get("started"), trial.get("finished")),
        metrics=[MetricView(str(name), tr.metric(str(name)), format_quantity(quantity))
                 for name, quantity in metrics.items()],
        criteria=criteria,
        acceptance=acceptance,
        rules=verdict_rules.anchor(kind if kind in verdict_rules.KINDS else ""),
        error=error,
        plots=[_plot_view(plot, run_dir) for plot in plots],
        deciding=_deciding([*criteria, *acceptance], error, tr),
        firmware=dossier.trial_firmware(trial),
        notes=[str(n) for n in trial.get("notes") or ()],
    )


def _relative(path: Path, run_dir: Path) -> str:
    """The link from report.html to a plot: `plots/x.png` (POSIX separators)."""
    try:
        return path.relative_to(run_dir).as_posix()
    except ValueError:
        return path.as_uri() if path.is_absolute() else path.as_posix()


def _site_rows(site: Any, tr: Translator) -> list[tuple[str, str]]:
    if not isinstance(site, Mapping):
        return [(tr("site"), str(site))] if site else []
    rows = []
    for key, value in site.items():
        label_key = f"site.{key}"
        label = tr(label_key) if label_key in i18n.TEXT else str(key)
        rows.append((label, format_number(value)))
    return rows


def _device_row(device: Mapping[str, Any], tr: Translator) -> dict[str, str]:
    row = {key: text_or_dash(device.get(key))
           for key in ("name", "vendor", "model", "serial", "firmware")}
    row["role"] = tr.role(str(device.get("role") or "")) or "—"
    return row


def _counts(trials: Iterable[TrialView], tr: Translator) -> list[tuple[VerdictView, int]]:
    tally = Counter(trial.verdict.code for trial in trials)
    order = (Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.INCONCLUSIVE, Verdict.SKIPPED)
    return [(verdict_view(v.value, tr), tally[v.value.lower()])
            for v in order if tally[v.value.lower()]]


def _rules_views(kinds: Iterable[str], tr: Translator) -> list[RulesView]:
    """The appendix in the report's language: the common rules, then those of each kind the
    run used (in both languages: the Vietnamese text, then the English one under it)."""
    first = "en" if tr.lang == "en" else "vi"
    second = "en" if tr.lang == "both" else ""

    def rows(texts: Mapping[Verdict, Sequence[str]],
             alt: Mapping[Verdict, Sequence[str]] | None) -> list[tuple[VerdictView, str, str]]:
        return [(verdict_view(v.value, tr), text, alt[v][i] if alt is not None else "")
                for v, group in texts.items() for i, text in enumerate(group)]

    views = [RulesView(verdict_rules.anchor(""), tr("rules.common"), "",
                       rows(rules_vi.common(first),
                            rules_vi.common(second) if second else None), "")]
    for kind in dict.fromkeys(kinds):
        rules = rules_vi.kind(kind, first)
        if rules is None:
            continue
        alt = rules_vi.kind(kind, second) if second else None
        views.append(RulesView(
            verdict_rules.anchor(kind), f"{kind} — {rules.title}", rules.judged_by,
            rows(rules.rules, alt.rules if alt else None), "; ".join(rules.standards),
            title_alt=alt.title if alt else "", judged_by_alt=alt.judged_by if alt else "",
            standards_alt="; ".join(alt.standards) if alt else ""))
    return views


def _run_notes(summary: Mapping[str, Any], tr: Translator) -> list[str]:
    notes = []
    if summary.get("interrupted"):
        notes.append(tr("summary.interrupted"))
    if summary.get("complete") is False and not summary.get("interrupted"):
        notes.append(tr("summary.incomplete"))
    return notes


def build_view(summary: Mapping[str, Any], plots: Mapping[TrialKey, Sequence[Plot]],
               run_dir: Path, lang: i18n.Lang = "both",
               samples: Iterable[Sample] = (), final: bool = True,
               evidence_dir: Path | None = None,
               run_plots: Sequence[Plot] = ()) -> ReportView:
    """The report's content from summary.json, the written plots, the samples (for the events
    timeline) and the run directory (evidence files: `final` False while the run still writes
    its summary and log); ValueError on a bad verdict or language."""
    tr = Translator(lang)
    scenario = summary.get("scenario") or {}
    lab = summary.get("lab") or {}
    title = scenario.get("title") or {}
    if not isinstance(title, Mapping):
        title = {"vi": str(title), "en": str(title)}
    name = str(scenario.get("name") or "")
    scenario_sha = text_or_dash(scenario.get("sha256"))
    trials = []
    for i, trial in enumerate(summary.get("trials") or (), start=1):
        key = (str(trial.get("id", "")), str(trial.get("repetition", "")))
        trials.append(_trial_view(trial, i, plots.get(key, ()), run_dir, scenario_sha, tr))
    title_vi = str(title.get("vi") or title.get("en") or name)
    title_en = str(title.get("en") or title.get("vi") or name)
    site_value = lab.get("site")
    site: Mapping[str, Any] = site_value if isinstance(site_value, Mapping) else {}
    events, left_out = dossier.events(summary, samples, tr)
    evidence_root = evidence_dir if evidence_dir is not None else run_dir
    evidence, from_manifest = dossier.evidence(evidence_root, final)
    return ReportView(
        title_vi=title_vi,
        title_en=title_en,
        scenario_name=name,
        scenario_sha256=scenario_sha,
        run_id=text_or_dash(summary.get("run_id")),
        verdict=verdict_view(summary.get("verdict"), tr),
        lab_name=text_or_dash(lab.get("name")),
        lab_sha256=text_or_dash(lab.get("sha256")),
        site=_site_rows(lab.get("site"), tr),
        started=format_time(summary.get("started")),
        finished=format_time(summary.get("finished")),
        duration=format_duration(summary.get("started"), summary.get("finished")),
        harness_version=text_or_dash(summary.get("harness_version")),
        format_version=text_or_dash(summary.get("format_version")),
        devices=[_device_row(d, tr) for d in summary.get("devices") or ()],
        trials=trials,
        counts=_counts(trials, tr),
        rules=_rules_views((t.kind for t in trials), tr),
        restore_errors=[str(e.get("message", e)) if isinstance(e, Mapping) else str(e)
                        for e in summary.get("restore_errors") or ()],
        lang=lang,
        html_lang=tr.html_lang,
        title={"vi": title_vi, "en": title_en}.get(lang, title_vi),
        operator=text_or_dash(site.get("operator") or scenario.get("operator")),
        location=text_or_dash(site.get("location")),
        scenario_file=str(scenario.get("file") or ""),
        description=str(scenario.get("description") or "").strip(),
        purpose=str(scenario.get("purpose") or "").strip(),
        references=[str(r) for r in scenario.get("references") or ()],
        equipment=dossier.equipment(summary, tr),
        signer=dossier.signer(evidence_root, summary),
        not_covered=dossier.not_covered(summary, tr),
        run_notes=_run_notes(summary, tr),
        run_plots=[_plot_view(p, run_dir) for p in run_plots],
        methods=dossier.methods(summary, tr),
        snapshot=dossier.snapshot_rows(summary),
        events=events,
        events_left_out=left_out,
        errors=dossier.errors(summary, tr),
        evidence=evidence,
        evidence_from_manifest=from_manifest,
        summary_lines=summary_lines(summary, trials, tr),
    )
