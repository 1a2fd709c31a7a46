"""The signed evidence manifest of a run directory and `harness verify`: a real run on the
simulated lab, then every kind of tampering (a flipped byte in each file in turn, a deleted
file, an added one, an edited manifest, a replaced signature, a swapped key)."""

from __future__ import annotations

import base64
import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.base.errors import ConfigError
from harness.base.secrets import Secret
from harness.cli import cli
from harness.store.manifest import MANIFEST, PUBLIC_KEY, SIGNATURE, verify_run
from harness.store.signing import fingerprint, lab_signer, public_pem
from tests.conftest import require_tool
from tests.runner_helpers import inputs, run_in_process, short_throughput

SCENARIO = short_throughput("evidence")


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(run directory, the lab's generated key directory) of one real run."""
    require_tool("iperf3")
    tmp = tmp_path_factory.mktemp("evidence")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp / "config"))
        outcome, _ = run_in_process(inputs(tmp, SCENARIO), tmp / "out")
        yield outcome.run_dir, tmp / "config" / "ran-harness" / "keys"


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / run_dir.name
    shutil.copytree(run_dir, target, symlinks=True)
    return target


def _listed(run_dir: Path) -> list[str]:
    manifest: dict[str, Any] = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    return [str(e["path"]) for e in manifest["files"]]


def _verify(*args: str) -> Any:
    return CliRunner().invoke(cli, ["verify", *args])


def test_manifest_lists_every_file_and_the_run_verifies(signed_run: tuple[Path, Path]) -> None:
    run_dir, keys = signed_run
    listed = _listed(run_dir)
    on_disk = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")
                     if p.is_file() and p.name not in (MANIFEST, SIGNATURE, PUBLIC_KEY))
    assert listed == on_disk
    for name in ("summary.json", "report.html", "junit.xml", "samples.sqlite", "run.log"):
        assert name in listed, name
    assert any(p.startswith("raw/") for p in listed)
    assert any(p.startswith("devices/") for p in listed)
    assert any(p.startswith("plots/") for p in listed)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    key_file = keys / "test-lab.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (keys / "test-lab.pub").is_file()
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert summary["signing"]["fingerprint"] == fingerprint(key.public_key())
    result = _verify(str(run_dir))
    assert result.exit_code == 0, result.output
    assert "verified" in result.output and summary["signing"]["fingerprint"] in result.output
    strict = _verify(str(run_dir), "--pubkey", str(keys / "test-lab.pub"))
    assert strict.exit_code == 0, strict.output


def test_a_flipped_byte_in_any_file_is_named(signed_run: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    run_dir, _ = signed_run
    for i, rel in enumerate(_listed(run_dir)):
        copy = _copy(run_dir, tmp_path / str(i))
        path = copy / rel
        data = bytearray(path.read_bytes() or b"\0")  # an empty file gets one byte
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        result = verify_run(copy)
        assert not result.ok and result.problems == [f"changed: {rel}"], (rel, result)
    result = _verify(str(copy))
    assert result.exit_code == 1 and f"changed: {rel}" in result.output


def test_a_deleted_or_added_file_is_named(signed_run: tuple[Path, Path],
                                          tmp_path: Path) -> None:
    run_dir, _ = signed_run
    copy = _copy(run_dir, tmp_path)
    (copy / "junit.xml").unlink()
    (copy / "raw" / "extra.json").write_text("{}", encoding="utf-8")
    result = _verify(str(copy))
    assert result.exit_code == 1
    assert "missing: junit.xml" in result.output and "added: raw/extra.json" in result.output


def test_an_edited_manifest_breaks_the_signature(signed_run: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    run_dir, _ = signed_run
    copy = _copy(run_dir, tmp_path)
    # the forger edits summary.json and puts its new hash into the manifest
    summary = copy / "summary.json"
    data = json.loads(summary.read_text(encoding="utf-8"))
    data["verdict"] = "FAIL" if data["verdict"] == "PASS" else "PASS"
    summary.write_text(json.dumps(data), encoding="utf-8")
    from harness.store.manifest import sha256_file

    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        if entry["path"] == "summary.json":
            entry["sha256"], entry["size"] = sha256_file(summary)
    (copy / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    assert (copy / MANIFEST).read_bytes() != (run_dir / MANIFEST).read_bytes()
    result = _verify(str(copy))
    assert result.exit_code == 1 and "bad signature" in result.output, result.output


def _forge(copy: Path, key: Ed25519PrivateKey, *, with_pub: bool) -> None:
    raw = (copy / MANIFEST).read_bytes()
    (copy / SIGNATURE).write_text(base64.b64encode(key.sign(raw)).decode() + "\n",
                                  encoding="ascii")
    if with_pub:
        (copy / PUBLIC_KEY).write_text(public_pem(key.public_key()), encoding="ascii")


def test_a_replaced_signature_or_swapped_key_fails(signed_run: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    run_dir, keys = signed_run
    other = Ed25519PrivateKey.generate()
    # another key's signature beside the lab's public key
    copy = _copy(run_dir, tmp_path / "sig")
    _forge(copy, other, with_pub=False)
    result = _verify(str(copy))
    assert result.exit_code == 1 and "bad signature" in result.output
    # signature and key both swapped: self-consistent, so only --pubkey can tell; the
    # fingerprint printed is the forger's, not the lab's
    copy = _copy(run_dir, tmp_path / "key")
    _forge(copy, other, with_pub=True)
    loose = _verify(str(copy))
    assert loose.exit_code == 0 and fingerprint(other.public_key()) in loose.output
    strict = _verify(str(copy), "--pubkey", str(keys / "test-lab.pub"))
    assert strict.exit_code == 1 and "bad signature" in strict.output, strict.output
    # a run signed by the lab's key, checked against another key
    pub = tmp_path / "other.pub"
    pub.write_text(public_pem(other.public_key()), encoding="ascii")
    wrong = _verify(str(run_dir), "--pubkey", str(pub))
    assert wrong.exit_code == 1 and "bad signature" in wrong.output


def test_missing_signature_or_manifest_fails(signed_run: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    run_dir, _ = signed_run
    copy = _copy(run_dir, tmp_path / "a")
    (copy / SIGNATURE).unlink()
    result = _verify(str(copy))
    assert result.exit_code == 1 and "missing signature" in result.output
    copy = _copy(run_dir, tmp_path / "b")
    (copy / MANIFEST).unlink()
    result = _verify(str(copy))
    assert result.exit_code == 1 and "missing manifest" in result.output
    assert _verify(str(tmp_path / "nowhere")).exit_code == 2


def test_lab_key_by_reference_and_bad_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           ) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    (tmp_path / "lab.key").write_text(pem, encoding="ascii")
    signer = lab_signer("lab", Secret("${file:lab.key}", base=tmp_path))
    assert signer.fingerprint == fingerprint(key.public_key()) and not signer.generated
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    monkeypatch.setenv("SIGNING_SEED", base64.b64encode(raw).decode())
    assert lab_signer("lab", Secret("${env:SIGNING_SEED}")).fingerprint == signer.fingerprint
    assert not (tmp_path / "config").exists()  # nothing generated when a key is given
    monkeypatch.setenv("SIGNING_SEED", "not-a-key-but-a-secret")
    with pytest.raises(ConfigError, match=r"signing.key \$\{env:SIGNING_SEED\}") as info:
        lab_signer("lab", Secret("${env:SIGNING_SEED}"))
    assert "not-a-key-but-a-secret" not in str(info.value)
    first = lab_signer("lab", None)
    assert first.generated and lab_signer("lab", None).fingerprint == first.fingerprint
    assert repr(first).count("PRIVATE") == 0


def test_lab_yaml_takes_a_signing_key_reference(tmp_path: Path) -> None:
    from harness.base.loader import load_model
    from harness.config.lab import Lab

    (tmp_path / "lab.yaml").write_text(
        "name: l\nsigning: {key: \"${file:keys/lab.key}\"}\n"
        "devices: {ue1: {role: ue-host}}\n", encoding="utf-8")
    lab = load_model(tmp_path / "lab.yaml", Lab)
    assert lab.signing is not None and lab.signing.key.reference == "${file:keys/lab.key}"
    (tmp_path / "lab.yaml").write_text(
        "name: l\nsigning: {key: inline-key}\ndevices: {ue1: {role: ue-host}}\n",
        encoding="utf-8")
    with pytest.raises(ConfigError, match="inline secret"):
        load_model(tmp_path / "lab.yaml", Lab)
