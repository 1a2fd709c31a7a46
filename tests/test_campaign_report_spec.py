"""The campaign file (harness/campaign/spec.py): what `harness validate` and `harness
campaign report` accept, FILE:LINE:COL errors with exit 2 for what they refuse, and the
stable run ids of its entries."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.campaign.spec import load_campaign
from harness.cli import cli
from harness.store.signing import public_pem
from tests.runner_helpers import short_throughput

GOOD = """\
name: nt-2026
title: {vi: "Chiến dịch thử", en: "Trial campaign"}
archive: archive/
runs:
  - scenario: smoke.yaml
    bench: hn-lab-1
    repetitions: 3
  - scenario: smoke.yaml
    tags: {city: danang}
keys: {hn-lab-1: keys/hn.pub}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "smoke.yaml").write_text(short_throughput("smoke"), encoding="utf-8")
    (tmp_path / "keys").mkdir()
    key = Ed25519PrivateKey.generate().public_key()
    (tmp_path / "keys" / "hn.pub").write_text(public_pem(key), encoding="ascii")
    return tmp_path


def _write(folder: Path, text: str) -> Path:
    path = folder / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", str(path)])
    return result.exit_code, result.output


def _report(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["campaign", "report", str(path), "--out",
                                      str(path.parent / "out")])
    return result.exit_code, result.output


def test_a_good_campaign_validates_and_its_run_ids_are_stable(folder: Path) -> None:
    path = _write(folder, GOOD)
    code, out = _validate(path)
    assert code == 0, out
    assert "ok (campaign)" in out
    ids = [p.run_id for p in load_campaign(path).planned()]
    assert ids == ["nt-2026.smoke.hn-lab-1.r1", "nt-2026.smoke.hn-lab-1.r2",
                   "nt-2026.smoke.hn-lab-1.r3", "nt-2026.smoke.city=danang.r1"]
    # the entries swapped: the same ids (derived from content, not position)
    lines = GOOD.splitlines(keepends=True)
    swapped = "".join(lines[:4] + lines[7:9] + lines[4:7] + lines[9:])
    again = {p.run_id for p in load_campaign(_write(folder, swapped)).planned()}
    assert again == set(ids)


@pytest.mark.parametrize(("edit", "where", "message"), [
    (lambda t: t.replace("    repetitions: 3\n", "    repetitions: 3\n    colour: red\n"),
     ":8:5: runs[0].colour", "unknown key 'colour'"),
    (lambda t: t.replace("    bench: hn-lab-1\n", "    bench: hn-lab-1\n    tags: {city: x}\n"),
     ":7:5: runs[0].tags", "a bench or tags, not both"),
    (lambda t: t.replace("smoke.yaml\n    tags", "nosuch.yaml\n    tags"),
     ":8:15: runs[1].scenario", "no such scenario file"),
    (lambda t: t.replace("keys/hn.pub", "keys/none.pub"),
     ":10:18: keys.hn-lab-1", "cannot read the public key"),
    (lambda t: t.replace("bench: hn-lab-1", "bench: other-lab"),
     ":6:12: runs[0].bench", "no key registered for bench other-lab"),
    (lambda t: t.replace("    tags: {city: danang}\n", "    bench: hn-lab-1\n"),
     ":8:5: runs[1]", "the same scenario on the same bench as runs[0]"),
    (lambda t: t.replace("repetitions: 3", "repetitions: 0"),
     ":7:18: runs[0].repetitions", ""),
])
def test_a_bad_campaign_file_is_refused_at_its_place(folder: Path, edit: object,
                                                      where: str, message: str) -> None:
    assert callable(edit)
    path = _write(folder, edit(GOOD))
    for run in (_validate, _report):
        code, out = run(path)
        assert code == 2, out
        assert f"campaign.yaml{where}" in out, out
        assert message in out, out


def test_a_scenario_that_does_not_validate_is_reported_in_the_scenario(folder: Path) -> None:
    (folder / "smoke.yaml").write_text(
        short_throughput("smoke").replace("kind: throughput", "kind: thruput"),
        encoding="utf-8")
    code, out = _validate(_write(folder, GOOD))
    assert code == 2, out
    assert "smoke.yaml:" in out and "thruput" in out, out


@pytest.mark.parametrize(("passed", "n", "text"), [
    (3, 3, "100 % (95 % CI 43.8-100 %, 3/3)"),  # 43.85: shown 43.8, never the narrower 43.9
    (2, 3, "66.7 % (95 % CI 20.7-93.9 %, 2/3)"),  # 20.77 .. 93.85
    (0, 1, "0 % (95 % CI 0-79.4 %, 0/1)"),  # .. 79.35
])
def test_a_pass_rate_shows_its_wilson_interval_rounded_outwards(passed: int, n: int,
                                                                text: str) -> None:
    from harness.campaign.collect import CriterionRate
    from harness.campaign.report import rate_text
    from harness.judge.estimates import wilson_percent

    rate = CriterionRate("s", "t", "x >= 1", passed, n, {}, wilson_percent(passed, n))
    assert rate_text(rate) == text
