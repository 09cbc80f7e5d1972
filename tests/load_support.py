"""A busy machine on purpose: processes that spin, optionally on the same CPUs as the
work under test, so a test meets load of its own making whatever else runs beside it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def busy_loops(count: int, cpus: set[int] | None = None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` processes that spin until the block ends (on `cpus` only, if given);
    killed whatever happens."""
    loops: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            loops.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
            if cpus is not None:
                os.sched_setaffinity(loops[-1].pid, cpus)
        yield loops
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@contextmanager
def pinned(cpus: set[int]) -> Iterator[None]:
    """This thread (and every process it starts meanwhile) runs on `cpus` only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
