"""The campaign file: which scenarios run on which benches (a lab's `name`, or the benches
whose lab `site:` carries some tags), how many times, where the signed run directories are
collected, and each bench's registered public key.

```yaml
name: national-trial-2026
title: {vi: "...", en: "..."}
archive: archive/                    # relative to this file
runs:
  - {scenario: scenarios/smoke.yaml, bench: hn-lab-1, repetitions: 3}
  - {scenario: scenarios/smoke.yaml, tags: {city: danang}}
keys: {hn-lab-1: keys/hn-lab-1.pub}  # or one key for every bench: keys: keys/all.pub
```

`load_campaign` validates the file through the one YAML loader (FILE:LINE:COL errors), then
checks what pydantic cannot: every scenario file exists and validates, an entry names a bench
or tags (not both), no two entries ask for the same scenario on the same bench, every key file
exists and holds an Ed25519 public key, every named bench has a key. Each entry's runs get
stable ids (`CampaignRun.run_id`) derived from the campaign name, the scenario, the bench or
tags and the repetition number, never from the entry's position in the list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field

from harness.base.errors import ConfigError
from harness.base.loader import PositionIndex, error_at, load_model, load_yaml
from harness.base.schema import Identifier, NonEmptyStr, StrictModel
from harness.config.scenario import Title

__all__ = ["Campaign", "CampaignEntry", "CampaignRun", "LoadedCampaign", "is_campaign",
           "load_campaign"]

MAX_REPETITIONS = 1000


class CampaignEntry(StrictModel):
    """One line of the campaign: a scenario on a bench (or on benches with these site tags),
    `repetitions` times."""

    scenario: NonEmptyStr
    bench: Identifier | None = None
    tags: dict[NonEmptyStr, NonEmptyStr] | None = None
    repetitions: Annotated[int, Field(ge=1, le=MAX_REPETITIONS)] = 1


class Campaign(StrictModel):
    """The campaign file as written."""

    name: Identifier
    title: Title
    archive: NonEmptyStr
    runs: Annotated[list[CampaignEntry], Field(min_length=1)]
    keys: NonEmptyStr | dict[Identifier, NonEmptyStr]


@dataclass(frozen=True)
class CampaignRun:
    """One submission of an entry: its stable id, which entry (index in `runs`) and which
    repetition (1-based)."""

    run_id: str
    entry: int
    repetition: int


@dataclass(frozen=True)
class LoadedCampaign:
    """A validated campaign with its paths resolved against the campaign file's folder."""

    path: Path
    spec: Campaign
    archive: Path
    scenarios: tuple[Path, ...]  # per entry, resolved
    keys: dict[str, Path]  # bench → public key file; "*" when one key serves every bench

    def key_for(self, bench: str) -> Path | None:
        """The registered public key of `bench` (None: none registered)."""
        return self.keys.get(bench) or self.keys.get("*")

    def target(self, entry: int) -> str:
        """`bench` or `k=v,k=v` of an entry, for display."""
        item = self.spec.runs[entry]
        if item.bench is not None:
            return item.bench
        return ",".join(f"{k}={v}" for k, v in sorted((item.tags or {}).items()))

    def planned(self) -> list[CampaignRun]:
        """Every run the campaign asks for, entry by entry, repetition by repetition."""
        return [CampaignRun(run_id(self.spec.name, self.scenarios[i], self.spec.runs[i], rep),
                            i, rep)
                for i, item in enumerate(self.spec.runs)
                for rep in range(1, item.repetitions + 1)]


_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


def run_id(campaign: str, scenario: Path, entry: CampaignEntry, repetition: int) -> str:
    """`national-trial-2026.smoke.hn-lab-1.r2`: the same for the same campaign name, scenario
    file name, bench (or sorted tags) and repetition, wherever the entry sits in the file."""
    target = entry.bench if entry.bench is not None else "+".join(
        f"{k}={v}" for k, v in sorted((entry.tags or {}).items()))
    parts = [campaign, scenario.stem, target]
    return ".".join(_UNSAFE.sub("_", p) for p in parts) + f".r{repetition}"


def is_campaign(data: object) -> bool:
    """True when a loaded YAML document looks like a campaign file (`runs` and `archive`)."""
    return isinstance(data, dict) and "runs" in data and "archive" in data


def load_campaign(path: Path) -> LoadedCampaign:
    """Validate `path` as a campaign file; ConfigError (FILE:LINE:COL) for anything wrong,
    including a scenario that does not validate (its own FILE:LINE:COL)."""
    spec = load_model(path, Campaign)
    _, index = load_yaml(path)
    base = path.absolute().parent
    scenarios = tuple(_check_entry(path, index, base, i, item)
                      for i, item in enumerate(spec.runs))
    _check_duplicates(path, index, spec, scenarios)
    keys = _check_keys(path, index, base, spec)
    archive = base / spec.archive
    if archive.exists() and not archive.is_dir():
        raise error_at(path, index, ("archive",), f"{archive} is not a folder")
    return LoadedCampaign(path=path, spec=spec, archive=archive, scenarios=scenarios, keys=keys)


def _check_entry(path: Path, index: PositionIndex, base: Path, i: int,
                 item: CampaignEntry) -> Path:
    if item.bench is not None and item.tags is not None:
        raise error_at(path, index, ("runs", i, "tags"), "give a bench or tags, not both",
                       at_key=True)
    if item.bench is None and not item.tags:
        raise error_at(path, index, ("runs", i), "give a bench (a lab's name) or tags "
                       "(site tags the bench's lab carries)")
    scenario = base / item.scenario
    if not scenario.is_file():
        raise error_at(path, index, ("runs", i, "scenario"), f"no such scenario file: "
                       f"{scenario}")
    _validate_scenario(scenario)
    return scenario


def _validate_scenario(scenario: Path) -> None:
    """The scenario validates on its own (kinds, presets, criteria); what depends on the
    bench (its devices) is checked when the run is submitted to one."""
    from harness.config.scenario import Scenario
    from harness.engine.plan import scenario_context
    from harness.kinds import default_registry

    load_model(scenario, Scenario, context=scenario_context(default_registry()))


def _check_duplicates(path: Path, index: PositionIndex, spec: Campaign,
                      scenarios: tuple[Path, ...]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(spec.runs):
        target = item.bench or repr(sorted((item.tags or {}).items()))
        key = (str(scenarios[i].resolve()), target)
        if key in seen:
            raise error_at(path, index, ("runs", i), f"the same scenario on the same bench as "
                           f"runs[{seen[key]}]: give that entry more repetitions instead")
        seen[key] = i


def _check_keys(path: Path, index: PositionIndex, base: Path, spec: Campaign) -> dict[str, Path]:
    from harness.store.signing import load_public_key

    given = {"*": spec.keys} if isinstance(spec.keys, str) else dict(spec.keys)
    keys: dict[str, Path] = {}
    for bench, rel in given.items():
        field: tuple[str, ...] = ("keys",) if bench == "*" else ("keys", bench)
        key_path = base / rel
        try:
            data = key_path.read_bytes()
        except OSError as exc:
            raise error_at(path, index, field, f"cannot read the public key {key_path}: "
                           f"{exc.strerror or exc}") from None
        try:
            load_public_key(data, str(key_path))
        except ConfigError as exc:
            raise error_at(path, index, field, exc.reason) from None
        keys[bench] = key_path
    if "*" not in keys:
        for i, item in enumerate(spec.runs):
            if item.bench is not None and item.bench not in keys:
                raise error_at(path, index, ("runs", i, "bench"),
                               f"no key registered for bench {item.bench} in keys: (a run "
                               "is accepted only if its signature verifies against it)")
    return keys
