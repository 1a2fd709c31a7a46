"""`harness verify RUN_DIR [--pubkey FILE]`: is this run directory the one the harness
signed? Exit 0 ("verified", with the signer's fingerprint) or 1 (each changed, missing or
added file, or a bad or missing signature, on its own line); 2 for bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--pubkey", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              default=None,
              help="Require the signature to be this Ed25519 public key's (PEM, or base64 of "
                   "the 32 raw bytes), e.g. the lab's ~/.config/ran-harness/keys/LAB.pub.")
def verify(run_dir: Path, pubkey: Path | None) -> None:
    """Check RUN_DIR against its signed manifest (manifest.json, manifest.sig, manifest.pub).

    \b
    Exit codes: 0 verified: the signature holds and every file matches
                1 a file changed, missing or added, or a bad or missing signature
                2 bad input (no such directory or key file)"""
    from harness.store.manifest import verify_run

    result = verify_run(run_dir, pubkey)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.ok:
        click.echo(f"verified: {run_dir} ({result.files} files), signed by Ed25519 key "
                   f"{result.signer}")
        sys.exit(0)
    for problem in result.problems:
        click.echo(problem)
    click.echo(f"NOT verified: {run_dir}: {len(result.problems)} problem(s)", err=True)
    sys.exit(1)
