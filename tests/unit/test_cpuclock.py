"""The /proc CPU clock of a process tree, on real processes: forked workers are counted,
live and once reaped, and a process that leaves the tree but not its session still is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from evaluators.harness.cpuclock import PROC_METHOD, TreeMeter

WORKERS = """
import os, sys, time
pids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        while time.process_time() < 0.6:  # CPU time: the same however busy the machine
            pass
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
sys.stdout.write("done\\n")
sys.stdout.flush()
sys.stdin.read()  # stays up, its workers reaped, until the test lets it go
"""


def test_forked_workers_count_live_and_after_they_are_reaped() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKERS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    meter = TreeMeter(proc.pid)
    assert meter.method == PROC_METHOD
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"done\n"  # both workers have run and been reaped
    reaped = meter.read()  # their time lives on in the parent's cutime
    assert reaped >= 1.1  # 2 x 0.6 s, less rounding to clock ticks
    proc.communicate(b"")
    assert meter.read() >= reaped  # never less than it said
    assert proc.returncode == 0


def test_a_process_that_leaves_the_tree_but_not_the_session_is_counted() -> None:
    """Attack: double-fork a worker so that it is no one's child in the tree any more."""
    escape = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    if os.fork() == 0:\n"
        "        sys.stdout.write(str(os.getpid()) + '\\n'); sys.stdout.flush()\n"
        "        while True: pass\n"
        "    os._exit(0)\n"
        "os.wait()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", escape], stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    orphan = int(proc.stdout.readline())
    proc.wait()  # the tree's root is gone; the orphan spins on, reparented elsewhere
    meter = TreeMeter(proc.pid)
    try:
        first = meter.read()
        while meter.read() <= first + 0.2:  # CPU time, not wall time, ends the wait
            pass
        assert orphan in {pid for pid, _start in meter.known}
    finally:
        os.kill(orphan, signal.SIGKILL)
