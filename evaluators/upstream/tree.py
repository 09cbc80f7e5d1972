"""Stop an upstream run and everything it started, without stopping the wrapper.

The upstream command stays in the wrapper's process group on purpose: when the harness
kills the train command at its cap it kills that group, and an upstream in a group of
its own would survive it and keep the GPUs. So the wrapper cannot signal its own group
to stop the run early; it signals the run's descendants, found through /proc, instead.
SIGTERM first (torchrun then takes its workers down itself), SIGKILL after a grace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every live process under `pid` (children of each of its threads), parents first."""
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop(0)
        for child in _children(parent):
            if child not in found:
                found.append(child)
                queue.append(child)
    return found


def stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the run and its descendants; SIGKILL whatever is left after `grace_s`."""
    tree = [proc.pid, *descendants(proc.pid)]
    _signal(tree, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    # Orphaned workers keep our group id; collect them while the run's own pid is known.
    _signal([*tree, *descendants(proc.pid)], signal.SIGKILL)
    proc.wait()


def _signal(pids: list[int], sig: signal.Signals) -> None:
    group = os.getpgrp()
    for pid in pids:
        # A pid outside our group is not ours any more (it exited and was reused).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pid != os.getpid() and os.getpgid(pid) == group:
                os.kill(pid, sig)


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    children: list[int] = []
    with contextlib.suppress(OSError):  # it exited meanwhile
        for task in tasks.iterdir():
            with contextlib.suppress(OSError):
                children += [int(c) for c in (task / "children").read_text().split()]
    return children
