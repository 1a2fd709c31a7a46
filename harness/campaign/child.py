"""`python -m harness.campaign.child PARENT_PID LOCK_FD -- ARGV…`: the supervisor between an
agent and its `harness run`, so the run hears of its agent's death exactly once.

PR_SET_PDEATHSIG fires each time the child is handed to another thread of the dying parent
(the kernel reparents it thread by thread), so a run started directly by a many-threaded agent
got several SIGINTs when the agent was killed, and the second one cut the run's own Ctrl-C
handling short (no summary.json, nothing to resume). The supervisor takes those signals
(SIGUSR1) and any SIGINT (a `harness cancel`), and sends the run ONE SIGINT; it waits for the
run and exits with its code, holding the queued run's lock until then."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from types import FrameType

_PR_SET_PDEATHSIG = 1


def main(args: list[str]) -> int:
    """Run ARGV under the supervisor; its exit code."""
    parent, lock_fd, argv = int(args[0]), int(args[1]), args[3:]
    child: subprocess.Popen[bytes] | None = None
    fired = False

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if not fired and child is not None and child.poll() is None:
            fired = True
            why = "its agent is gone" if signum == signal.SIGUSR1 else "cancelled or stopped"
            print(f"supervisor: {why}: interrupting the run (one SIGINT)", file=sys.stderr,
                  flush=True)
            child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGUSR1, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGUSR1, 0, 0, 0)
    child = subprocess.Popen(argv, pass_fds=(lock_fd,),
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    if os.getppid() != parent:  # the agent died before the death signal was set
        interrupt(signal.SIGUSR1, None)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
