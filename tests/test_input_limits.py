"""Issue 12 items 3 and 6 below the CLI: strict JSON, the raw_path guard, secret references,
strict true/false, server error bodies masked, console warnings for unverified host keys."""

from __future__ import annotations

import http.server
import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.base.errors import ConfigError, HarnessError
from harness.base.loader import load_model
from harness.base.sample import Sample
from harness.base.schema import Port, StrictModel
from harness.base.secrets import Secret
from harness.config.lab import Lab
from harness.engine.plan import PlannedTrial
from harness.engine.trial import dump_json
from harness.kinds.base import KindRun
from harness.store.influx import InfluxTarget, InfluxWriter, WriteRefused
from harness.store.sink import InfluxSink
from harness.store.spool import Destination
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "tok-9f8e7d6c5b4a"


def _strict_loads(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_summary_json_is_strict_and_non_finite_numbers_become_null(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    dump_json(path, {"threshold": {"value": math.inf, "unit": "Mbit/s"},
                     "observed": [1.5, math.nan, -math.inf]})
    data = _strict_loads(path.read_text(encoding="utf-8"))  # old code: 'Infinity' here
    assert data == {"threshold": {"value": None, "unit": "Mbit/s"},
                    "observed": [1.5, None, None]}


def _run_of(trial_id: str, raw_dir: Path) -> KindRun:
    trial = PlannedTrial.__new__(PlannedTrial)
    object.__setattr__(trial, "id", trial_id)  # as if validation had been bypassed
    object.__setattr__(trial, "repetition", 1)
    return KindRun(trial=trial, bench=None, tags={}, raw_dir=raw_dir,  # type: ignore[arg-type]
                   emit=lambda samples: None)


@pytest.mark.parametrize("trial_id", ["../../../../x", "/tmp/abs", "a/../../b", ".."])
def test_raw_path_refuses_names_outside_the_raw_dir(tmp_path: Path, trial_id: str) -> None:
    raw = tmp_path / "run" / "raw"
    raw.mkdir(parents=True)
    with pytest.raises(HarnessError, match="outside"):
        _run_of(trial_id, raw).raw_path("iperf3.json")
    assert _run_of("tcp-dl-1.5", raw).raw_path("iperf3.json") == raw / "tcp-dl-1.5-r1.iperf3.json"


@pytest.mark.parametrize("text, message", [
    ("${vault:x}", "unknown secret scheme 'vault'"),
    ("${env:}", "needs a variable name"),
    ("${file: }", "needs a file path"),
    ("${env:A B}", "environment variable name"),
    ("${env:X", "not closed"),
])
def test_malformed_secret_references_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Secret(text)  # old code: used verbatim as the password


def test_inline_and_reference_secrets_are_told_apart(tmp_path: Path) -> None:
    assert Secret("hunter2").inline and not Secret("${env:X}").inline
    inside = Secret("${file:secrets/pw}", base=tmp_path)
    outside = Secret("${file:../pw}", base=tmp_path)
    assert not inside.outside_base() and outside.outside_base()
    (tmp_path / "link").symlink_to("/etc")
    assert Secret("${file:link/passwd}", base=tmp_path).outside_base()


def test_secret_file_is_read_only_if_regular_and_small(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * (100 << 10))
    with pytest.raises(ConfigError, match="larger than 64 KiB"):
        Secret("${file:big}", base=tmp_path).reveal()
    with pytest.raises(ConfigError, match="not a regular file"):
        Secret("${file:/dev/zero}", base=tmp_path).reveal()


class _Flags(StrictModel):
    enabled: bool = False
    count: int = 0
    port: Port | None = None
    either: bool | str = "auto"
    ratio: float = 0.0


@pytest.mark.parametrize("data, message", [
    ({"enabled": "yes"}, "expected true or false, got 'yes'"),
    ({"enabled": "on"}, "expected true or false"),
    ({"enabled": 1}, "expected true or false, got 1"),
    ({"count": True}, "expected an integer, got true"),
    ({"ratio": 1e400}, "finite"),
])
def test_true_false_and_numbers_are_strict(tmp_path: Path, data: dict[str, object],
                                           message: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(json.dumps(data).replace("Infinity", ".inf"), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_model(path, _Flags)
    assert _Flags.model_validate({"enabled": True, "either": "yes"}).either == "yes"


class _EchoingInflux(http.server.BaseHTTPRequestHandler):
    """Stands in for a server that echoes the request's headers in its 401 body (seen in the
    wild with proxies); VictoriaMetrics does not, so a fake is needed for this fault."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"code": "unauthorized", "message": "bad token",
                           "request_headers": dict(self.headers.items())}).encode()
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _EchoingInflux)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_error_body_echoing_the_token_is_masked(echoing_server: str, tmp_path: Path) -> None:
    target = InfluxTarget(Destination(echoing_server, "lab", "trials"), TOKEN, timeout_s=3.0)
    with pytest.raises(WriteRefused) as caught:
        InfluxWriter(target).post(b"m v=1i 1\n")
    assert caught.value.status == 401
    assert TOKEN not in str(caught.value) and "***" in str(caught.value)
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    sink = InfluxSink(target, run_dir)
    sink.write([Sample(1_700_000_000 * 10**9, "kpi", {"run_id": "run-1"}, {"value": 1.0})])
    status = sink.close(timeout_s=5)
    assert status.refused is not None and "401" in status.refused
    stored = "".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in run_dir.rglob("*") if p.is_file())
    for text in [status.refused, *(t for _, t in sink.messages()), stored]:
        assert TOKEN not in text


def test_unverified_host_keys_and_inline_secrets_are_warned(tmp_path: Path) -> None:
    from harness.engine.inputs import input_warnings

    text = (ROOT / "lab.yaml").read_text(encoding="utf-8").replace(
        "  ssh: {user: admin, host_key: verify}",
        "  ssh: {user: admin, host_key: ignore, password: inline-pw}").replace(
        "name: sim-lab", "name: sim-lab\nallow_inline_secrets: true")
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    warnings = input_warnings(load_model(path, Lab))
    assert any("gnb1, core1 are NOT verified" in w and "host_key: ignore" in w
               for w in warnings), warnings
    assert any("1 inline secret(s)" in w and "defaults.ssh.password" in w for w in warnings)
    assert not any("inline-pw" in w for w in warnings)


def test_a_run_with_unverified_host_keys_says_so_and_writes_strict_json(tmp_path: Path) -> None:
    from tests.test_e2e_smoke import load_run, run_harness

    lab = tmp_path / "lab.yaml"
    lab.write_text((ROOT / "lab.yaml").read_text(encoding="utf-8").replace(
        "  ssh: {user: admin, host_key: verify}", "  ssh: {user: admin, host_key: accept-new}"),
        encoding="utf-8")
    proc = run_harness("run", "scenarios/smoke.yaml", "--lab", str(lab), "--out",
                       str(tmp_path / "reports"), "--progress", "lines", timeout=180)
    assert proc.returncode in (0, 1, 3), proc.stderr[-2000:]
    console = " ".join(proc.stderr.split())  # the console wraps long lines
    assert "SSH host keys of gnb1, core1 are trusted on first use" in console
    assert "(host_key: accept-new)" in console
    run_dir, summary = load_run(proc.stdout)
    assert summary["verdict"] in ("PASS", "FAIL", "ERROR", "INCONCLUSIVE")
    _strict_loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "host_key: accept-new" in html


_LATENCY_SCENARIO = """\
name: lat
title: {{vi: "Trễ", en: "Latency"}}
{monitors}trials:
  - id: rtt
    kind: latency
    ue: ue1
    dn: dn1
    via: gnb1
{fields}    criteria: ["rtt.mean <= 50 ms"]
"""


@pytest.mark.parametrize(("fields", "monitors", "where", "words"), [
    ("    interval: 1ms\n", "", "trials[0].interval", "at least 0.01 s: irtt's server"),
    ("    tool: ping\n    interval: 50ms\n", "", "trials[0].interval",
     "at least 0.2 s: ping sends"),
    ("", "monitors: {alarms: {interval: 1ms}}\n", "monitors.alarms.interval",
     "at least 0.1 s"),
    ("", "monitors: {health: {interval: 10ms}}\n", "monitors.health.interval",
     "at least 0.1 s"),
])
def test_send_and_poll_intervals_below_what_the_tool_keeps_are_refused(
        tmp_path: Path, fields: str, monitors: str, where: str, words: str) -> None:
    """Never rounded up in silence. Old code: irtt/alarm/health intervals had no minimum (a
    1 ms alarm poll was accepted) and ping's were raised to 0.2 s without a word."""
    from tests.test_e2e_smoke import ROOT, run_harness

    path = tmp_path / "s.yaml"
    path.write_text(_LATENCY_SCENARIO.format(fields=fields, monitors=monitors), encoding="utf-8")
    proc = run_harness("validate", str(ROOT / "lab.yaml"), str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = (proc.stdout + proc.stderr).strip().splitlines()[-1]
    assert "s.yaml:" in line and where in line and words in line, line
    assert "Traceback" not in proc.stderr


def test_ping_defaults_to_its_shortest_interval() -> None:
    from harness.kinds.latency import LatencySpec

    spec = LatencySpec.model_validate({"id": "r", "kind": "latency", "ue": "u", "dn": "d",
                                       "tool": "ping", "criteria": ["rtt.mean <= 50 ms"]})
    assert spec.interval == 0.2
    irtt = LatencySpec.model_validate({"id": "r", "kind": "latency", "ue": "u", "dn": "d",
                                       "criteria": ["rtt.mean <= 50 ms"]})
    assert irtt.interval == 0.01
