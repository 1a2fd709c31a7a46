"""The `ntc` output parser: a profile names a template of the ntc-templates collection by
platform and command (issue 14 §1: "TextFSM — ntc-templates where it has the platform"). Real
output parsed (this machine's `ip address show`, as a Linux core server or host would answer
over SSH); an unknown platform or command is a validate error at its line. Fails on the old
code, which had no `ntc` parser."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from drivers.actions import ParserSpec
from harness.cli import cli
from tests.conftest import require_tool

PROFILE = """\
name: linux-core
role: core
facts: {{}}
actions:
  show_interfaces:
    command: ip address show
    parser:
      ntc: {{platform: {platform}, command: ip address show}}
"""

def test_real_ip_address_output_parses_through_ntc_templates() -> None:
    ip = require_tool("ip")
    output = subprocess.run([ip, "address", "show"], capture_output=True, text=True,
                            check=True).stdout
    rows = ParserSpec.model_validate(
        {"ntc": {"platform": "linux", "command": "ip address show"}}).parse(output)
    by_name = {row["interface"]: row for row in rows}
    assert by_name["lo"]["ip_addresses"] == "127.0.0.1"
    assert by_name["lo"]["type"] == "loopback"
    assert len(rows) == output.count("mtu ")  # one row per interface


def test_a_profile_with_an_ntc_parser_validates(tmp_path: Path) -> None:
    path = tmp_path / "linux-core.yaml"
    path.write_text(PROFILE.format(platform="linux"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_an_unknown_ntc_platform_is_a_validate_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "linux-core.yaml"
    path.write_text(PROFILE.format(platform="acme_gnb"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "linux-core.yaml:8:" in result.output  # the ntc line
    assert "ntc-templates has no template for platform 'acme_gnb'" in result.output
    assert "Traceback" not in result.output
