"""Shared fixtures: free loopback ports and system tools that must exist under CI."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest

from harness.base import ports


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that is free right now (TCP by default, UDP with SOCK_DGRAM), chosen
    the way a run chooses its servers' ports (below the ephemeral range, never twice)."""
    return ports.free_port("127.0.0.1", kind)


def require_tool(name: str) -> str:
    """Path of a system tool; missing fails the test under CI and skips it elsewhere."""
    sbin = f"/usr/sbin/{name}"
    path = shutil.which(name) or (sbin if os.path.exists(sbin) else None)
    if path is None:
        message = f"{name} not installed (apt-get install the package that provides it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def tcp_port() -> int:
    return free_port()


@pytest.fixture
def udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


@pytest.fixture(autouse=True, scope="session")
def _lab_keys_out_of_home(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Runs sign their manifests with a lab key generated on first use under
    $XDG_CONFIG_HOME/ran-harness/keys: the tests' keys go to a temporary directory (child
    processes inherit it), never into the home of whoever runs the suite."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
        yield None


def pytest_configure(config: pytest.Config) -> None:
    """net-snmp's tools keep persistent state (engine boots, the last engine ID) in
    /var/lib/snmp/snmpapp.conf: a stale one left there by an earlier snmptrap or snmpget -v3
    made every later `snmpget -v3` against the simulated agents fail ("buffer too small to
    read octet string"). The suite's tools keep theirs in a temporary directory and never read
    or write the machine's. Set before collection, so that environments test modules copy at
    import carry it too."""
    persist = tempfile.mkdtemp(prefix="net-snmp-persist-")
    config.add_cleanup(lambda: shutil.rmtree(persist, ignore_errors=True))
    os.environ["SNMP_PERSISTENT_DIR"] = persist


@pytest.fixture(scope="session")
def every_kind_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], Path]:
    """(run directory, summary, reports directory) of one short run with every trial kind on
    the simulated MOCN lab, report.pdf included (tests/every_kind.py), shared by the report
    tests."""
    from tests.every_kind import run_every_kind

    return run_every_kind(tmp_path_factory.mktemp("all-kinds"))


# What makes a test file one that measures: an e2e mark, or a traffic tool it needs.
MEASURING = ("pytest.mark.e2e", 'require_tool("iperf3")', 'require_tool("irtt")')


def _e2e_files(root: Path) -> frozenset[str]:
    """Test files (relative to `root`) that run the simulated lab end to end or push traffic
    through it (text scan for MEASURING)."""
    return frozenset(str(path.relative_to(root)) for path in (root / "tests").glob("test_*.py")
                     if any(m in path.read_text(encoding="utf-8") for m in MEASURING))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """How `make test` spreads the suite over two pytest-xdist workers (`-n 2`): every file
    that runs the simulated lab end to end or pushes traffic through it goes to ONE worker,
    one file after the other — they measure a 1.7 Gbit/s cell and RTTs, and two at once on two
    cores would measure each other — while each other file is a unit of its own (its module
    fixtures start once).

    (A scheduler, not `--dist loadgroup` marks: under pytest 9.2 xdist 3.8's loadgroup no
    longer renames the items it groups, so its groups are silently ignored.)"""
    from xdist.scheduler import LoadScopeScheduling

    e2e = _e2e_files(config.rootpath)

    class E2eOnOneWorker(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "e2e" if path in e2e else path

    return E2eOnOneWorker(config, log)
