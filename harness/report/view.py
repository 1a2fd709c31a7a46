"""The report's content as plain, already-worded view objects: the template only lays them out."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VerdictView:
    """A verdict as shown: `code` for CSS, `label` in the report's language(s)."""

    code: str
    label: str


@dataclass(frozen=True)
class CriterionView:
    """One criterion (or built-in acceptance) row."""

    expr: str
    verdict: VerdictView
    observed: str
    threshold: str
    source: str
    detail: str
    metric: str = ""
    description: str = ""
    interval: str = ""
    n: str = ""


@dataclass(frozen=True)
class MetricView:
    """One metric row: raw name, description, value with unit."""

    name: str
    description: str
    value: str


@dataclass(frozen=True)
class PlotView:
    """A figure: relative link from report.html, the file the PDF uses, and a caption."""

    src: str
    caption: str
    pdf_src: str = ""


@dataclass(frozen=True)
class RulesView:
    """One section of the appendix: the verdict rules of a kind (or the common ones)."""

    anchor: str
    title: str
    judged_by: str
    rules: list[tuple[VerdictView, str, str]]  # verdict, text, English text (both languages)
    standards: str
    title_alt: str = ""  # the English title, judged-by and standards in a bilingual report
    judged_by_alt: str = ""
    standards_alt: str = ""


@dataclass(frozen=True)
class SummaryLineView:
    """One trial in the executive summary, pooled over its repetitions."""

    id: str
    anchor: str  # the trial's first repetition in the details
    kind: str
    verdict: VerdictView
    repetitions: int
    deciding: str  # the figure that decided the verdict (with its 95 % interval when pooled)
    rules: str  # anchor of the kind's verdict rules


@dataclass(frozen=True)
class FirmwareView:
    """A device's firmware before and after one trial (or the run)."""

    device: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        """Whether the version differs."""
        return self.before != self.after


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
    deciding: str = ""  # the figure that decided the verdict, for the executive summary
    firmware: list[FirmwareView] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def judgements(self) -> list[CriterionView]:
        """Criteria, then built-in acceptance: every row that made the verdict."""
        return [*self.criteria, *self.acceptance]


@dataclass(frozen=True)
class DeviceView:
    """One device of the cover's equipment table (firmware before and after the run)."""

    name: str
    role: str
    vendor: str
    model: str
    serial: str
    firmware: str
    firmware_after: str

    @property
    def firmware_changed(self) -> bool:
        """Whether the run ended on another firmware than it started on."""
        return self.firmware_after not in ("", self.firmware)


@dataclass(frozen=True)
class MethodView:
    """The methodology of one trial kind as the run used it."""

    kind: str
    title: str
    tool: str
    durations: str
    repetitions: str
    warmup: str
    sampling: str
    statistics: list[str]
    conditions: list[tuple[str, str]]
    trials: str


@dataclass(frozen=True)
class SnapshotRow:
    """One item of a device's state before and after the run."""

    device: str
    item: str
    before: str
    after: str

    @property
    def differs(self) -> bool:
        """Whether the run left it different."""
        return self.before != self.after


@dataclass(frozen=True)
class EventView:
    """One line of the alarms and events timeline."""

    time: str
    device: str
    kind: str
    severity: str
    message: str


@dataclass(frozen=True)
class EvidenceView:
    """One evidence file of the run directory with its SHA-256."""

    path: str
    size: str
    sha256: str


@dataclass(frozen=True)
class GapView:
    """Something a preset's source asks for that the run did not judge."""

    trial: str
    clause: str
    reason: str


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
    lang: str = "both"
    html_lang: str = "vi"
    title: str = ""
    operator: str = ""
    location: str = ""
    scenario_file: str = ""
    description: str = ""
    purpose: str = ""
    references: list[str] = field(default_factory=list)
    equipment: list[DeviceView] = field(default_factory=list)
    signer: str = ""  # the signing key's fingerprint, "" when unsigned
    not_covered: list[GapView] = field(default_factory=list)
    run_notes: list[str] = field(default_factory=list)  # incomplete, interrupted
    run_plots: list[PlotView] = field(default_factory=list)  # observed vs threshold, idle/loaded
    methods: list[MethodView] = field(default_factory=list)
    snapshot: list[SnapshotRow] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)
    events_left_out: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (what, message)
    evidence: list[EvidenceView] = field(default_factory=list)
    summary_lines: list[SummaryLineView] = field(default_factory=list)  # one per trial id
    evidence_from_manifest: bool = False
