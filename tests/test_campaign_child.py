"""The supervisor between an agent and its run: however often the agent's death is signalled
(PR_SET_PDEATHSIG fires at each reparenting between the dying agent's threads) or a cancel
repeats, the run gets exactly ONE SIGINT, so its Ctrl-C handling is not cut short (a second
SIGINT made `harness run` exit without its partial summary: nothing to resume)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

COUNTER = textwrap.dedent("""
    import signal, sys, time
    seen = []
    signal.signal(signal.SIGINT, lambda signum, frame: seen.append(time.monotonic()))
    open(sys.argv[1] + ".ready", "w").close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (seen and time.monotonic() > seen[0] + 2.0):
        time.sleep(0.05)
    open(sys.argv[1], "w").write(str(len(seen)))
""")


AGENT = textwrap.dedent("""
    import os, subprocess, sys, threading, time
    mode, counter, out, lock = sys.argv[1:5]
    def spawn():
        argv = [sys.executable, counter, out]
        if mode == "supervised":
            argv = [sys.executable, "-m", "harness.campaign.child", str(os.getpid()), lock,
                    "--", *argv]
            subprocess.Popen(argv, pass_fds=(int(lock),))
        else:  # the first increment: the run itself asked for SIGINT at its parent's death
            import ctypes, signal
            def pdeath():
                ctypes.CDLL(None).prctl(1, signal.SIGINT, 0, 0, 0)
            subprocess.Popen(argv, preexec_fn=pdeath)
        time.sleep(120)
    for _ in range(8):  # a many-threaded agent, like DBOS's
        threading.Thread(target=time.sleep, args=(120,), daemon=True).start()
    threading.Thread(target=spawn, daemon=True).start()
    time.sleep(120)
""")


def _deaths(tmp_path: Path, mode: str) -> int:
    counter, agent, out = tmp_path / "counter.py", tmp_path / "agent.py", tmp_path / mode
    counter.write_text(COUNTER)
    agent.write_text(AGENT)
    lock = os.open(tmp_path / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        proc = subprocess.Popen([sys.executable, str(agent), mode, str(counter), str(out),
                                 str(lock)], pass_fds=(lock,))
        deadline = time.monotonic() + 30
        while not Path(f"{out}.ready").exists():
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 30
        while not out.exists() or not out.read_text():
            assert time.monotonic() < deadline, "the run did not report"
            time.sleep(0.1)
        return int(out.read_text())
    finally:
        os.close(lock)


def test_a_killed_agent_interrupts_its_run_exactly_once(tmp_path: Path) -> None:
    assert _deaths(tmp_path, "supervised") == 1


def test_repeated_signals_reach_the_run_once(tmp_path: Path) -> None:
    counter, out = tmp_path / "counter.py", tmp_path / "count"
    counter.write_text(COUNTER)
    lock = os.open(tmp_path / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        sup = subprocess.Popen([sys.executable, "-m", "harness.campaign.child", str(os.getpid()),
                                str(lock), "--", sys.executable, str(counter), str(out)],
                               pass_fds=(lock,))
        deadline = time.monotonic() + 30
        while not Path(f"{out}.ready").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for sig in (signal.SIGUSR1, signal.SIGINT, signal.SIGUSR1, signal.SIGINT):
            sup.send_signal(sig)
            time.sleep(0.05)
        assert sup.wait(30) == 0
        assert out.read_text() == "1"
    finally:
        os.close(lock)
