"""Reading a campaign's archive: every run directory verified against its bench's registered
key before it counts, matched to the campaign's entries, and tallied (per bench, per
criterion with Wilson intervals). Pure reading: nothing in the archive is written.

A run directory is included only when `verify_run` holds under the registered key of the
bench its summary names (a changed, missing or added file, a bad signature, a key not
registered for that bench: excluded, with the reason). An included run belongs to an entry
when its run id is one of the entry's stable ids, else when it ran the entry's scenario file
(same SHA-256) on the entry's bench (or on a bench whose site tags include the entry's). A
planned run that no included directory fills is listed as missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.base.summary import Summary, SummaryError, read_summary
from harness.base.verdict import Verdict, worst
from harness.campaign.spec import CampaignRun, LoadedCampaign
from harness.judge.estimates import wilson_percent

__all__ = ["CampaignTally", "CriterionRate", "Excluded", "IncludedRun", "SiteRow",
           "collect_campaign"]

_MAX_DEPTH = 4
"""How deep below the archive folder run directories are looked for."""


@dataclass(frozen=True)
class IncludedRun:
    """A verified run directory of the campaign, with the planned run it fills."""

    run_dir: Path
    summary: Summary
    bench: str
    site: dict[str, str]
    planned: CampaignRun | None  # None: beyond the repetitions asked for
    entry: int
    signer: str

    @property
    def verdict(self) -> Verdict:
        """The run's verdict (ERROR when the summary has none)."""
        return Verdict(self.summary.verdict) if self.summary.verdict else Verdict.ERROR


@dataclass(frozen=True)
class Excluded:
    """A directory of the archive that does not count, and why. `integrity` is True when it
    failed verification (evidence that cannot be trusted), False when it is simply not one
    of this campaign's runs."""

    run_dir: Path
    reason: str
    integrity: bool = True


@dataclass
class SiteRow:
    """One bench: its site tags, how many runs counted and their verdicts."""

    bench: str
    site: dict[str, str]
    runs: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CriterionRate:
    """One criterion of one trial across the included runs: each run counts once, with the
    worst verdict of the criterion over the run's repetitions of the trial. `passed` of `n`
    (every run that judged it; INCONCLUSIVE and ERROR count as not passed), the Wilson 95 %
    interval in percent."""

    scenario: str
    trial: str
    expr: str
    passed: int
    n: int
    verdicts: dict[str, int]
    interval: tuple[float, float] | None

    @property
    def rate(self) -> float | None:
        """The observed pass rate in percent (None without runs)."""
        return 100.0 * self.passed / self.n if self.n else None


@dataclass
class CampaignTally:
    """Everything the campaign report shows."""

    campaign: LoadedCampaign
    included: list[IncludedRun] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    missing: list[CampaignRun] = field(default_factory=list)
    sites: list[SiteRow] = field(default_factory=list)
    criteria: list[CriterionRate] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """FAIL when a counted run failed; else ERROR when one erred; else INCONCLUSIVE when
        a planned run is missing, a directory failed verification, a run was inconclusive or
        nothing counted; else PASS."""
        found = worst(r.verdict for r in self.included)
        if found in (Verdict.FAIL, Verdict.ERROR):
            return found
        if self.missing or any(e.integrity for e in self.excluded) or not self.included:
            return Verdict.INCONCLUSIVE
        return Verdict.INCONCLUSIVE if found is Verdict.INCONCLUSIVE else Verdict.PASS


def run_directories(archive: Path) -> Iterator[Path]:
    """Every folder under `archive` holding a summary.json or a manifest.json (not looked
    into further; folders whose name starts with a dot are skipped), sorted."""
    if not archive.is_dir():
        return
    for root, dirs, files in os.walk(archive):
        here = Path(root)
        if "summary.json" in files or "manifest.json" in files:
            dirs[:] = []
            yield here
            continue
        depth = len(here.relative_to(archive).parts)
        # dot folders are not read: the agent's copies under way (archive/.incoming)
        dirs[:] = sorted(d for d in dirs if depth < _MAX_DEPTH and not d.startswith("."))


def _claimed_bench(run_dir: Path) -> str | None:
    """The lab name summary.json claims (read before verification only to pick the key)."""
    try:
        data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        name = data["lab"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def _verified(campaign: LoadedCampaign, run_dir: Path) -> tuple[Summary, str] | Excluded:
    from harness.store.manifest import verify_run

    bench = _claimed_bench(run_dir)
    if bench is None:
        own = verify_run(run_dir)  # under its own key: only to say what is wrong
        detail = "; ".join(own.problems[:5])
        return Excluded(run_dir, "no readable summary.json naming the bench (lab.name)"
                        + (f"; verification: {detail}" if detail else ""))
    key = campaign.key_for(bench)
    if key is None:
        return Excluded(run_dir, f"no key registered for bench {bench} (keys: in "
                        f"{campaign.path.name})")
    result = verify_run(run_dir, key)
    if not result.ok:
        problems = "; ".join(result.problems[:5])
        more = len(result.problems) - 5
        return Excluded(run_dir, f"verification against {bench}'s registered key failed: "
                        f"{problems}" + (f" (and {more} more)" if more > 0 else ""))
    try:
        summary = read_summary(run_dir)
    except SummaryError as exc:
        return Excluded(run_dir, str(exc))
    return summary, result.signer or ""


def _entry_of(campaign: LoadedCampaign, summary: Summary, ids: dict[str, CampaignRun],
              hashes: list[str]) -> tuple[int, CampaignRun | None] | str:
    """(entry, planned run when the id says so) of a verified run, or why it is not one. A
    run whose id is a planned one must also have run that entry's scenario on its bench."""
    lab = summary.lab
    bench = lab.name if lab else None
    site = {str(k): str(v) for k, v in (getattr(lab, "site", None) or {}).items()}
    sha = summary.scenario.sha256 if summary.scenario else None
    scenario = summary.scenario.name if summary.scenario else "?"

    def on_bench(i: int) -> bool:
        item = campaign.spec.runs[i]
        if item.bench is not None:
            return item.bench == bench
        return all(site.get(k) == v for k, v in (item.tags or {}).items())

    planned = ids.get(summary.run_id)
    if planned is not None:
        if on_bench(planned.entry) and sha == hashes[planned.entry]:
            return planned.entry, planned
        wanted = campaign.spec.runs[planned.entry].scenario
        return (f"run id {summary.run_id} is planned for {wanted} on "
                f"{campaign.target(planned.entry)}, but the run is scenario "
                f"{scenario} (SHA-256 {str(sha)[:12]}...) on bench {bench}: not counted")
    near = False
    for i in range(len(campaign.spec.runs)):
        if not on_bench(i):
            continue
        if sha == hashes[i]:
            return i, None
        near = near or scenario == campaign.scenarios[i].stem
    if near:
        return (f"scenario {scenario} on bench {bench} differs from the campaign's scenario "
                f"file (SHA-256 {str(sha)[:12]}...): not counted")
    return f"not one of this campaign's runs (scenario {scenario} on bench {bench})"


def collect_campaign(campaign: LoadedCampaign) -> CampaignTally:
    """Verify, match and tally every run directory of the campaign's archive."""
    from harness.engine.run_types import file_sha256

    tally = CampaignTally(campaign)
    planned = campaign.planned()
    ids = {p.run_id: p for p in planned}
    hashes = [file_sha256(p) for p in campaign.scenarios]
    filled: set[str] = set()
    loose: list[tuple[Path, Summary, str, int]] = []
    for run_dir in run_directories(campaign.archive):
        got = _verified(campaign, run_dir)
        if isinstance(got, Excluded):
            tally.excluded.append(got)
            continue
        summary, signer = got
        matched = _entry_of(campaign, summary, ids, hashes)
        if isinstance(matched, str):
            tally.excluded.append(Excluded(run_dir, matched, integrity=False))
            continue
        entry, exact = matched
        if exact is not None and exact.run_id not in filled:
            filled.add(exact.run_id)
            tally.included.append(_included(run_dir, summary, exact, entry, signer))
        else:
            loose.append((run_dir, summary, signer, entry))
    for run_dir, summary, signer, entry in sorted(loose, key=lambda r: r[1].started or ""):
        slot = next((p for p in planned if p.entry == entry and p.run_id not in filled), None)
        if slot is not None:
            filled.add(slot.run_id)
        tally.included.append(_included(run_dir, summary, slot, entry, signer))
    tally.included.sort(key=lambda r: (r.entry, r.summary.started or "", r.summary.run_id))
    tally.missing = [p for p in planned if p.run_id not in filled]
    tally.sites = _sites(tally.included)
    tally.criteria = _criteria(tally.included)
    return tally


def _included(run_dir: Path, summary: Summary, planned: CampaignRun | None, entry: int,
              signer: str) -> IncludedRun:
    lab = summary.lab
    site: Any = getattr(lab, "site", None) or {}
    return IncludedRun(run_dir=run_dir, summary=summary, bench=(lab.name if lab else None) or "?",
                       site={str(k): str(v) for k, v in dict(site).items()},
                       planned=planned, entry=entry, signer=signer)


def _sites(runs: list[IncludedRun]) -> list[SiteRow]:
    rows: dict[str, SiteRow] = {}
    for run in runs:
        row = rows.setdefault(run.bench, SiteRow(run.bench, run.site))
        row.runs += 1
        row.verdicts[run.verdict.value] = row.verdicts.get(run.verdict.value, 0) + 1
    return [rows[name] for name in sorted(rows)]


def _criteria(runs: list[IncludedRun]) -> list[CriterionRate]:
    per_run: dict[tuple[str, str, str], list[Verdict]] = {}
    for run in runs:
        scenario = (run.summary.scenario.name if run.summary.scenario else None) or "?"
        seen: dict[tuple[str, str, str], list[Verdict]] = {}
        for trial in run.summary.trials:
            for crit in trial.criteria:
                if crit.verdict is None or crit.verdict == Verdict.SKIPPED:
                    continue
                seen.setdefault((scenario, trial.id, crit.expr), []).append(Verdict(crit.verdict))
        for key, verdicts in seen.items():
            per_run.setdefault(key, []).append(worst(verdicts))
    rates = []
    for (scenario, trial_id, expr), verdicts in sorted(per_run.items()):
        counts: dict[str, int] = {}
        for v in verdicts:
            counts[v.value] = counts.get(v.value, 0) + 1
        passed, n = counts.get("PASS", 0), len(verdicts)
        rates.append(CriterionRate(scenario, trial_id, expr, passed, n, counts,
                                   wilson_percent(passed, n)))
    return rates
