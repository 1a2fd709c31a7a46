"""The state file of a detached simulated lab (`harness sim up`), and whether it still runs.

`STATE_DIR/state.json` (mode 0600, in a 0700 directory) records the lab process (pid and its
kernel start time, so a recycled pid is never mistaken for it), the control socket, and every
virtual device's endpoints and credentials. The credentials are the simulated equipment's own,
written on purpose so users can point snmpwalk, ssh and iperf3 at it; a real lab's never are.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.base.errors import HarnessError

OWNER_ENV = "RAN_HARNESS_SIMLAB_OWNER"  # in a lab process's environment: sim-up | run:PID
STATE_FORMAT_VERSION = 1
STATE_FILE = "state.json"
DEFAULT_STATE_DIR = Path(".harness") / "sim"


class NoSimRunning(HarnessError):
    """No simulated lab runs for this state directory."""


def process_start_ticks(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None if it is not alive.

    A zombie counts as gone: a detached lab's new parent may never reap it.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


@dataclass(frozen=True)
class SimState:
    """What `harness sim up` wrote: the process and every virtual device's endpoints."""

    path: Path
    data: dict[str, Any]

    @property
    def pid(self) -> int:
        """The lab process."""
        return int(self.data["pid"])

    @property
    def control(self) -> Path:
        """The lab's control socket."""
        return Path(self.data["control"])

    @property
    def devices(self) -> dict[str, Any]:
        """name → endpoints and credentials."""
        devices: dict[str, Any] = self.data.get("devices", {})
        return devices

    def alive(self) -> bool:
        """Whether the recorded lab process still runs (same pid, same start time)."""
        return process_start_ticks(self.pid) == self.data.get("start_ticks")


def state_path(state_dir: Path) -> Path:
    """Where the state file of `state_dir` lives."""
    return state_dir / STATE_FILE


def read_state(state_dir: Path) -> SimState | None:
    """The recorded state, or None when there is none; a damaged file is an error."""
    path = state_path(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HarnessError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or "pid" not in data or "control" not in data:
            raise ValueError("pid or control missing")
    except ValueError as exc:
        raise HarnessError(f"{path} is damaged ({exc}): stop the lab by hand if it runs, "
                           "then delete the file") from None
    if int(data.get("format_version", 0)) > STATE_FORMAT_VERSION:
        raise HarnessError(f"{path} was written by a newer ran-harness (format "
                           f"{data['format_version']}): use that version")
    return SimState(path, data)


def running_state(state_dir: Path) -> SimState:
    """The state of the lab running for `state_dir`; NoSimRunning (stale state removed)."""
    state = read_state(state_dir)
    if state is None:
        raise NoSimRunning(f"no simulated lab is running (no {state_path(state_dir)}): "
                           "start one with `harness sim up`")
    if not state.alive():
        remove_state(state_dir)
        raise NoSimRunning(f"the simulated lab recorded in {state.path} is no longer running "
                           f"(pid {state.pid} is gone; stale state removed): start one with "
                           "`harness sim up`")
    return state


def make_state_dir(state_dir: Path) -> None:
    """Create the state directory, owner-only."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)


def write_state(state_dir: Path, data: dict[str, Any]) -> Path:
    """Write the state file atomically with mode 0600."""
    make_state_dir(state_dir)
    path = state_path(state_dir)
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".state-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"format_version": STATE_FORMAT_VERSION, **data}, handle, indent=2)
            handle.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def remove_state(state_dir: Path) -> None:
    """Forget the lab (idempotent)."""
    with contextlib.suppress(FileNotFoundError):
        state_path(state_dir).unlink()


def private_labs() -> list[tuple[int, int]]:
    """Simulated labs that `harness run` started for itself (not `harness sim up`), as
    (lab pid, run pid), among this user's processes: `harness sim fault` cannot reach them."""
    found: list[tuple[int, int]] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != os.getuid():
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        for item in environ:
            key, _, value = item.decode("utf-8", "replace").partition("=")
            if key == OWNER_ENV and value.startswith("run:"):
                if process_start_ticks(int(proc.name)) is not None:
                    found.append((int(proc.name), int(value[4:] or 0)))
                break
    return sorted(found)
