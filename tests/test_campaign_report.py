"""`harness campaign report` on real signed run directories: four runs of a 2 s scenario on
two simulated benches (two lab files, different `name:` and `site:`), archived, then the
report's per-bench table and per-criterion Wilson rates checked against the summaries; a
tampered directory, one signed by a key not registered for its bench and one of another
scenario are excluded with the reason and never counted; planned runs with no directory are
listed as missing."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.engine.inputs import load_inputs
from harness.store.manifest import MANIFEST, SIGNATURE, write_manifest
from harness.store.signing import Signer, key_dir, lab_signer
from tests.conftest import require_tool
from tests.runner_helpers import FAST_LAB, run_in_process, short_throughput

pytestmark = pytest.mark.e2e

# throughput.max is an exact observation: PASS/FAIL on 2 s of traffic, no interval needed
PASSING = short_throughput("smoke").replace(
    '"throughput.mean >= 1 Mbit/s"', '"throughput.max >= 1 Mbit/s"').replace(
    "kpi_interval: 0.5s}", "kpi_interval: 0.5s, min_samples: 1}")
FAILING = short_throughput("smoke-fail").replace(
    '"throughput.mean >= 1 Mbit/s"', '"throughput.max >= 100 Gbit/s"').replace(
    "kpi_interval: 0.5s}", "kpi_interval: 0.5s, min_samples: 1}")
HN = FAST_LAB.replace("name: test-lab\n", "name: hn-lab-1\nsite: {city: hanoi, band: n78}\n")
DN = FAST_LAB.replace("name: test-lab\n", "name: dn-lab-1\nsite: {city: danang, band: n78}\n")
Z = 1.959963984540054


def _wilson_low(passed: int, n: int) -> float:
    """The textbook Wilson score lower bound, in percent (computed here, not by the harness)."""
    p = passed / n
    centre = p + Z * Z / (2 * n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return 100 * (centre - half) / (1 + Z * Z / n)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four real runs (hn-lab-1: smoke twice and smoke-fail once; dn-lab-1: smoke once),
    their directories, the scenario and key files a campaign refers to."""
    require_tool("iperf3")
    tmp = tmp_path_factory.mktemp("campaign")
    (tmp / "scenarios").mkdir()
    (tmp / "labs").mkdir()
    (tmp / "keys").mkdir()
    for name, text in (("smoke", PASSING), ("smoke-fail", FAILING)):
        (tmp / "scenarios" / f"{name}.yaml").write_text(text, encoding="utf-8")
    for name, text in (("hn-lab-1", HN), ("dn-lab-1", DN)):
        (tmp / "labs" / f"{name}.yaml").write_text(text, encoding="utf-8")
    runs: dict[str, list[Path]] = {}
    for scenario, lab in (("smoke", "hn-lab-1"), ("smoke", "hn-lab-1"), ("smoke", "dn-lab-1"),
                          ("smoke-fail", "hn-lab-1")):
        inputs = load_inputs(tmp / "scenarios" / f"{scenario}.yaml", tmp / "labs" / f"{lab}.yaml")
        outcome, _ = run_in_process(inputs, tmp / "runs")
        assert (outcome.run_dir / MANIFEST).is_file()
        runs.setdefault(f"{scenario}@{lab}", []).append(outcome.run_dir)
    for lab in ("hn-lab-1", "dn-lab-1"):
        shutil.copy(key_dir() / f"{lab}.pub", tmp / "keys" / f"{lab}.pub")
    return {"tmp": tmp, "runs": runs}


def _campaign(folder: Path, runs: str) -> Path:
    text = f"""\
name: nt-2026
title: {{vi: "Chiến dịch đo kiểm quốc gia", en: "National trial campaign"}}
archive: archive/
runs:
{runs}
keys: {{hn-lab-1: keys/hn-lab-1.pub, dn-lab-1: keys/dn-lab-1.pub}}
"""
    path = folder / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _archive(site: dict[str, Any], tmp_path: Path, *keys: str) -> Path:
    """A campaign folder (scenarios, keys) whose archive holds copies of the runs named."""
    folder = tmp_path / "camp"
    shutil.copytree(site["tmp"] / "scenarios", folder / "scenarios")
    shutil.copytree(site["tmp"] / "keys", folder / "keys")
    (folder / "archive").mkdir()
    for key in keys:
        for run_dir in site["runs"][key]:
            shutil.copytree(run_dir, folder / "archive" / key / run_dir.name, symlinks=True)
    return folder


def _report(path: Path, *args: str) -> tuple[int, str, dict[str, Any], str]:
    out = path.parent / "report"
    result = CliRunner().invoke(cli, ["campaign", "report", str(path), "--out", str(out),
                                      *args])
    data = json.loads((out / "campaign.json").read_text(encoding="utf-8"))
    html = (out / "campaign.html").read_text(encoding="utf-8")
    return result.exit_code, result.output, data, html


def _summary(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    return data


PASS_ENTRIES = """\
  - {scenario: scenarios/smoke.yaml, bench: hn-lab-1, repetitions: 2}
  - {scenario: scenarios/smoke.yaml, tags: {city: danang}, repetitions: 2}"""


def test_the_report_tallies_verified_runs_per_bench_and_per_criterion(
        site: dict[str, Any], tmp_path: Path) -> None:
    folder = _archive(site, tmp_path, "smoke@hn-lab-1", "smoke@dn-lab-1")
    code, out, data, html = _report(_campaign(folder, PASS_ENTRIES))
    counted = [*site["runs"]["smoke@hn-lab-1"], *site["runs"]["smoke@dn-lab-1"]]
    verdicts = [_summary(d)["verdict"] for d in counted]
    assert verdicts == ["PASS"] * 3, verdicts  # the sim cell carries > 1 Mbit/s
    # three runs verified and PASS, but the danang entry asked for two: INCONCLUSIVE (3)
    assert code == 3, out
    assert data["verdict"] == "INCONCLUSIVE"
    assert data["planned"] == 4 and data["counted"] == 3
    assert data["excluded"] == []
    assert [m["planned_id"] for m in data["missing"]] == ["nt-2026.smoke.city=danang.r2"]
    assert data["sites"] == [
        {"bench": "dn-lab-1", "site": {"city": "danang", "band": "n78"}, "runs": 1,
         "verdicts": {"PASS": 1}},
        {"bench": "hn-lab-1", "site": {"city": "hanoi", "band": "n78"}, "runs": 2,
         "verdicts": {"PASS": 2}}]
    # the one criterion, judged PASS in each of the three summaries: 3/3 with its interval
    judged = [c["verdict"] for d in counted for t in _summary(d)["trials"]
              for c in t["criteria"]]
    assert judged == ["PASS"] * 3
    [rate] = data["criteria"]
    assert (rate["trial"], rate["expr"], rate["passed"], rate["n"]) == (
        "tput", "throughput.max >= 1 Mbit/s", 3, 3)
    low, high = rate["wilson95_percent"]
    assert low == pytest.approx(_wilson_low(3, 3), abs=1e-6) and high == 100.0
    assert low < 50  # three runs cannot show a high pass rate
    # the HTML as a reader sees it: never a bare 100 %
    # rounded outwards: 43.85 % shows as 43.8, never as the narrower 43.9
    assert "100 % (95 % CI 43.8-100 %, 3/3)" in html
    assert "100 %<" not in html and "100 % <" not in html
    assert "Tỷ lệ đạt theo chỉ tiêu / Pass rate per criterion" in html
    assert "Chưa đủ cơ sở kết luận / INCONCLUSIVE" in html
    assert "nt-2026.smoke.city=danang.r2" in html
    for run_dir in counted:  # every counted run linked to its own signed report
        bench = _summary(run_dir)["lab"]["name"]
        link = f"../archive/smoke@{bench}/{run_dir.name}/report.html"
        assert f'href="{link}"' in html
        assert (tmp_path / "camp" / "report" / link).resolve().is_file()


def test_a_failed_run_fails_the_campaign_and_its_criterion_rate(
        site: dict[str, Any], tmp_path: Path) -> None:
    folder = _archive(site, tmp_path, "smoke@hn-lab-1", "smoke-fail@hn-lab-1")
    entries = """\
  - {scenario: scenarios/smoke.yaml, bench: hn-lab-1, repetitions: 2}
  - {scenario: scenarios/smoke-fail.yaml, bench: hn-lab-1}"""
    code, out, data, html = _report(_campaign(folder, entries), "--lang", "en")
    assert code == 1, out
    assert data["verdict"] == "FAIL" and data["missing"] == []
    assert data["sites"][0]["verdicts"] == {"FAIL": 1, "PASS": 2}
    fail = next(c for c in data["criteria"] if c["scenario"] == "smoke-fail")
    assert (fail["passed"], fail["n"], fail["verdicts"]) == (0, 1, {"FAIL": 1})
    assert fail["wilson95_percent"][0] == 0.0
    assert "0 % (95 % CI 0-" in html and ", 0/1)" in html
    assert "Không đạt" not in html and "FAIL" in html  # --lang en: English only


def _tamper_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("victim", ["samples.sqlite", "summary.json"])
def test_a_tampered_run_directory_is_excluded_with_the_reason(
        site: dict[str, Any], tmp_path: Path, victim: str) -> None:
    folder = _archive(site, tmp_path, "smoke@hn-lab-1", "smoke@dn-lab-1")
    tampered = sorted((folder / "archive" / "smoke@hn-lab-1").iterdir())[0]
    _tamper_byte(tampered / victim)
    code, out, data, html = _report(_campaign(folder, PASS_ENTRIES))
    assert code == 3, out
    assert data["counted"] == 2
    [excluded] = data["excluded"]
    assert excluded["run_dir"] == str(tampered) and excluded["integrity"] is True
    assert f"changed: {victim}" in excluded["reason"]
    assert tampered.name not in {r["run_dir"] for r in data["runs"]}
    assert f"excluded: {tampered}" in out
    [hn] = [s for s in data["sites"] if s["bench"] == "hn-lab-1"]
    assert hn["runs"] == 1
    assert data["criteria"][0]["n"] == 2
    assert f"changed: {victim}" in html


def test_a_run_signed_by_a_key_not_registered_for_its_bench_is_excluded(
        site: dict[str, Any], tmp_path: Path) -> None:
    folder = _archive(site, tmp_path, "smoke@hn-lab-1", "smoke@dn-lab-1")
    # re-signed by another, valid Ed25519 key: the directory verifies under its own
    # manifest.pub, but not under the key the campaign registered for hn-lab-1
    stranger: Signer = lab_signer("stranger", None, tmp_path / "stranger-keys")
    victim = sorted((folder / "archive" / "smoke@hn-lab-1").iterdir())[0]
    write_manifest(victim, _summary(victim)["run_id"], stranger)
    assert CliRunner().invoke(cli, ["verify", str(victim)]).exit_code == 0
    # and a dn-lab-1 run claimed by a key registered only for hn-lab-1
    (folder / "keys" / "dn-lab-1.pub").write_bytes((folder / "keys" / "hn-lab-1.pub")
                                                   .read_bytes())
    code, out, data, _ = _report(_campaign(folder, PASS_ENTRIES))
    assert code == 3, out
    assert data["counted"] == 1
    reasons = {Path(e["run_dir"]).name: e["reason"] for e in data["excluded"]}
    assert "bad signature" in reasons[victim.name]
    assert "hn-lab-1" in reasons[victim.name]
    [dn_run] = site["runs"]["smoke@dn-lab-1"]
    assert "bad signature" in reasons[dn_run.name] and "dn-lab-1" in reasons[dn_run.name]
    assert data["verdict"] == "INCONCLUSIVE"
    assert (victim / SIGNATURE).is_file()


def test_a_bench_without_a_registered_key_and_a_foreign_run_are_not_counted(
        site: dict[str, Any], tmp_path: Path) -> None:
    folder = _archive(site, tmp_path, "smoke@hn-lab-1", "smoke@dn-lab-1", "smoke-fail@hn-lab-1")
    text = _campaign(folder, PASS_ENTRIES).read_text(encoding="utf-8")
    path = folder / "campaign.yaml"
    path.write_text(text.replace(", dn-lab-1: keys/dn-lab-1.pub", ""), encoding="utf-8")
    code, out, data, _ = _report(path)
    assert code == 3, out
    reasons = [e["reason"] for e in data["excluded"]]
    assert any("no key registered for bench dn-lab-1" in r for r in reasons), reasons
    # smoke-fail verified but is no entry of this campaign: listed, not counted, and its FAIL
    # does not reach the campaign verdict
    assert any("not one of this campaign's runs (scenario smoke-fail" in r for r in reasons)
    assert data["counted"] == 2 and data["verdict"] == "INCONCLUSIVE"
    assert len(data["missing"]) == 2


def test_a_complete_verified_campaign_passes_and_prints_a_pdf(
        site: dict[str, Any], tmp_path: Path) -> None:
    folder = _archive(site, tmp_path, "smoke@hn-lab-1", "smoke@dn-lab-1")
    entries = """\
  - {scenario: scenarios/smoke.yaml, bench: hn-lab-1, repetitions: 2}
  - {scenario: scenarios/smoke.yaml, tags: {city: danang}}"""
    code, out, data, _ = _report(_campaign(folder, entries), "--pdf")
    assert code == 0, out
    assert data["verdict"] == "PASS" and data["missing"] == [] and data["excluded"] == []
    pdf = tmp_path / "camp" / "report" / "campaign.pdf"
    if "WeasyPrint is not usable" not in out:
        assert pdf.read_bytes().startswith(b"%PDF")
        tool = require_tool("pdftotext")
        import subprocess

        text = subprocess.run([tool, str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "CAMPAIGN REPORT" in text and "3/3" in text, text


def _resign(run_dir: Path, lab: str, **changes: Any) -> None:
    """Change summary.json and sign the directory again with `lab`'s own key (what a site
    that ran something else under a planned id would hand in)."""
    summary = _summary(run_dir)
    summary.update(changes)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    write_manifest(run_dir, summary["run_id"], lab_signer(lab, None))


def test_a_planned_run_id_counts_only_for_its_own_scenario_and_bench(
        site: dict[str, Any], tmp_path: Path) -> None:
    folder = _archive(site, tmp_path, "smoke@hn-lab-1", "smoke@dn-lab-1", "smoke-fail@hn-lab-1")
    [exact] = (folder / "archive" / "smoke@dn-lab-1").iterdir()
    _resign(exact, "dn-lab-1", run_id="nt-2026.smoke.city=danang.r2")
    [wrong] = (folder / "archive" / "smoke-fail@hn-lab-1").iterdir()
    _resign(wrong, "hn-lab-1", run_id="nt-2026.smoke.hn-lab-1.r1")
    code, out, data, _ = _report(_campaign(folder, PASS_ENTRIES))
    assert code == 3, out
    by_dir = {Path(r["run_dir"]).name: r["planned_id"] for r in data["runs"]}
    assert by_dir[exact.name] == "nt-2026.smoke.city=danang.r2"  # the id decides the slot
    [excluded] = data["excluded"]
    assert Path(excluded["run_dir"]).name == wrong.name
    assert "is planned for scenarios/smoke.yaml on hn-lab-1" in excluded["reason"]
    assert "smoke-fail" in excluded["reason"]
    assert data["verdict"] == "INCONCLUSIVE"  # its FAIL is not the campaign's
    assert [m["planned_id"] for m in data["missing"]] == ["nt-2026.smoke.city=danang.r1"]
