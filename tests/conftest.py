"""Shared fixtures: free loopback ports and system tools that must exist under CI."""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that is free right now (TCP by default, UDP with SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests for `pytest -n 2 --dist loadgroup` (pytest-xdist, the Makefile's
    `pytest` target): every end-to-end run of the simulated lab goes to one worker, one after
    the other — they measure a 1.7 Gbit/s cell and RTTs, and two at once on two cores would
    measure each other — while each other file stays whole on a worker (its module fixtures
    start once)."""
    for item in items:
        group = "e2e" if item.get_closest_marker("e2e") else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
