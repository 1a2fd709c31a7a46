"""No secret of the lab reaches the evidence: a run on the simulated lab with every kind of
secret set (SSH password, SNMP communities, SNMPv3 auth and priv keys, the InfluxDB token with
points spooled for an unreachable server, the signing key), then every file of the run
directory — device logs, InfluxDB spool, raw output, summary, report, samples, manifest — and
the reports catalog scanned for each secret in plain, hex and base64 form: none found."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import free_port, require_tool
from tests.runner_helpers import short_throughput, write_inputs

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e

LAB = """\
name: secret-lab
defaults:
  snmp: {{version: 3, user: harness, auth: {{protocol: SHA-256, key: "${{env:T_AUTH_KEY}}"}},
         priv: {{protocol: AES-128, key: "${{env:T_PRIV_KEY}}"}}, timeout: 0.5s, retries: 0}}
  ssh: {{user: admin, password: "${{env:T_SSH_PASSWORD}}", host_key: verify}}
signing: {{key: "${{file:signing.key}}"}}
traps: {{listen: "127.0.0.1:0", communities: ["${{env:T_TRAP_COMMUNITY}}"]}}
devices:
  gnb1:
    role: gnodeb
    profile: sim-gnb
    simulated:
      cells:
        - {{id: 1, bandwidth_mhz: 20, scs_khz: 30, layers: {{dl: 2, ul: 1}}}}
  core1:
    role: core
    profile: sim-core
    snmp: {{version: 2c, community: "${{env:T_COMMUNITY}}"}}
    simulated: {{plmns: ["452-02"]}}
  ue1: {{role: ue-host}}
  dn1: {{role: dn-host}}
results:
  influxdb: {{url: "http://127.0.0.1:{port}", org: lab, bucket: trials,
              token: "${{env:T_INFLUX_TOKEN}}"}}
"""

SCENARIO = short_throughput("secrets", "{gnb1: [DRB.UEThpDl], core1: [GTP.InDataPktN3UPF]}")


def forms(secret: str) -> dict[str, bytes]:
    """The ways a secret could sit in a file: plain, hex (both cases), and base64 at each of
    the three byte alignments a longer base64 text could hold it at (only the 4-character
    groups made of the secret's bytes alone)."""
    raw = secret.encode("utf-8")
    found = {"plain": raw, "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        first = -(-offset // 3) * 4  # the first group with no padding byte in it
        last = (offset + len(raw)) // 3 * 4  # the groups made only of the secret's bytes
        found[f"base64+{offset}"] = encoded[first:last]
        found[f"base64url+{offset}"] = base64.urlsafe_b64encode(
            b"\0" * offset + raw)[first:last]
    return found


def test_forms_find_a_secret_inside_longer_base64() -> None:
    secret = "Sshpw-" + secrets.token_hex(8)
    for prefix in (b"", b"a", b"ab", b"user:"):
        text = base64.b64encode(prefix + secret.encode())
        assert any(f in text for k, f in forms(secret).items() if k.startswith("base64+"))


def test_no_secret_in_any_file_of_the_run(tmp_path: Path) -> None:
    require_tool("iperf3")
    values = {
        "T_AUTH_KEY": "AuthKey-" + secrets.token_hex(10),
        "T_PRIV_KEY": "PrivKey-" + secrets.token_hex(10),
        "T_SSH_PASSWORD": "SshPass-" + secrets.token_hex(10),
        "T_TRAP_COMMUNITY": "TrapComm-" + secrets.token_hex(10),
        "T_COMMUNITY": "CoreComm-" + secrets.token_hex(10),
        "T_INFLUX_TOKEN": "InfluxTok-" + secrets.token_hex(16),
    }
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode("ascii")
    (tmp_path / "signing.key").write_text(pem, encoding="ascii")
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    write_inputs(tmp_path, SCENARIO, LAB.format(port=free_port()))  # nothing listens there
    env = {**os.environ, **values, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "scenario.yaml", "--lab",
                           "lab.yaml", "--out", "reports", "--progress", "lines"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    run_dir = tmp_path / proc.stdout.strip().splitlines()[-1]
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    (tmp_path / "console.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    assert summary["trials"][0]["verdict"] in ("PASS", "INCONCLUSIVE"), summary["trials"]
    # the evidence that must exist for the scan to mean anything
    assert (run_dir / "influx-spool.lp").stat().st_size > 0  # points waiting for the server
    assert {"core1.log", "gnb1.log"} <= {p.name for p in (run_dir / "devices").iterdir()}
    assert any((run_dir / "raw").iterdir())
    assert (run_dir / "manifest.json").is_file()
    assert "SshPass" not in pem
    needles = {name: forms(value) for name, value in values.items()}
    needles["signing key"] = {"pem body": pem.splitlines()[1].encode(),
                              "seed hex": seed.hex().encode(),
                              "seed base64": base64.b64encode(seed)}
    files = [p for p in tmp_path.joinpath("reports").rglob("*") if p.is_file()]
    files.append(tmp_path / "console.txt")  # what the run printed
    assert len(files) >= 10
    leaks = []
    for path in files:
        data = path.read_bytes()
        for name, variants in needles.items():
            for form, needle in variants.items():
                if needle and needle in data:
                    leaks.append(f"{path.relative_to(tmp_path)}: {name} ({form})")
    assert leaks == []
