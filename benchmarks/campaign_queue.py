"""What the campaign queue costs per run, and how many queued runs an agent pool gets through
per minute on this machine (issue 15's figures).

N runs are queued round-robin on B simulated benches (copies of lab.yaml), then A agents
serving every bench take them with `--dry-run` (each run is a `harness validate` of the
scenario against its bench's lab, in the supervised child a real run uses): a bench's runs go
one after the other (the lease), so per bench the time is (N/B) × (validate + overhead).
Printed: runs/minute, the per-run overhead (elapsed·B/N − one validate measured alone) and
the database used.

    .venv/bin/python benchmarks/campaign_queue.py [--runs 30] [--benches 3] [--agents 2]
        [--postgres | --db URL] [--json]

`--postgres` starts a throw-away PostgreSQL (tests/campaign_helpers.py; needs initdb, run as
root or postgres). Without it: a SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.campaign.bench_run import BenchJob  # noqa: E402
from harness.campaign.queue import client, run_rows, submit  # noqa: E402


def main() -> None:
    """Queue, serve, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--benches", type=int, default=3)
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument("--db", default=None)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="campaign-bench-")))
        if args.postgres:
            from tests.campaign_helpers import postgres_server

            url = stack.enter_context(postgres_server())
        else:
            url = args.db or f"sqlite:///{tmp / 'campaign.sqlite'}"
        result = measure(tmp, url, args.runs, args.benches, args.agents)
    result["database"] = "postgresql" if args.postgres or url.startswith("postgres") \
        else "sqlite"
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['runs']} runs on {result['benches']} benches, {result['agents']} agents "
          f"({result['database']}): {result['elapsed_s']:.1f} s, "
          f"{result['runs_per_minute']:.1f} runs/min; validate alone "
          f"{result['validate_s']:.2f} s, queue overhead per run "
          f"{result['overhead_per_run_s']:.2f} s")


def measure(tmp: Path, url: str, runs: int, benches: int, agents: int) -> dict[str, float]:
    """Run the benchmark in `tmp` against `url`."""
    lab_text = (ROOT / "lab.yaml").read_text(encoding="utf-8")
    labs = []
    for i in range(1, benches + 1):
        lab = tmp / f"bench-{i}.yaml"
        lab.write_text(re.sub(r"(?m)^name: .*$", f"name: bench-{i}", lab_text))
        labs.append(lab)
    scenario = ROOT / "scenarios" / "smoke.yaml"
    text = scenario.read_text(encoding="utf-8")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "harness", "validate", "--lab", str(labs[0]),
                    str(scenario)], check=True, capture_output=True)
    validate_s = time.monotonic() - started
    with client(url) as db:
        for n in range(runs):
            submit(db, BenchJob(f"bench-run-{n}", f"bench-{n % benches + 1}", "smoke", text))
    procs = []
    started = time.monotonic()
    for a in range(agents):
        argv = [sys.executable, "-m", "harness", "agent", "--executor-id", f"bench-agent-{a}",
                "--out", str(tmp / "out"), "--db", url, "--dry-run"]
        for lab in labs:
            argv += ["--lab", str(lab)]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    try:
        with client(url) as db:
            while True:
                rows = run_rows(db)
                if all(r["state"] in ("done", "failed", "cancelled") for r in rows):
                    break
                time.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(60)
    failed = [r["id"] for r in rows if r["state"] != "done"]
    if failed:
        raise SystemExit(f"runs that did not end done: {failed}")
    return {"runs": runs, "benches": benches, "agents": agents, "elapsed_s": elapsed,
            "runs_per_minute": runs / elapsed * 60, "validate_s": validate_s,
            "overhead_per_run_s": elapsed * benches / runs - validate_s}


if __name__ == "__main__":
    main()
