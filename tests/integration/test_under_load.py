"""A verdict must not depend on how busy the machine is: the same tiny trial, quiet and
with busy-loop processes on every core, gets the same verdict and nearly the same
CPU-seconds. No wall time is asserted: that is what the load changes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.golf_support import run_trial, tiny_golf

# CPU-seconds of the same work differ under load (caches and frequency are shared with
# the busy loops, and the harness's own polls run beside it): within 30% plus 1 s.
CPU_TOLERANCE = 0.30
CPU_SLACK_S = 1.0


@contextmanager
def busy_loops(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` processes that spin until the block ends; killed whatever happens."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield loops
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@pytest.fixture(scope="module")
def golf(tmp_path_factory):
    root = tmp_path_factory.mktemp("golf")
    return tiny_golf(root), root / "runs"


def test_a_tiny_trial_gets_the_same_verdict_under_full_load(golf):
    quiet, quiet_report = run_trial(*golf, lambda text: text)
    with busy_loops(os.cpu_count() or 1) as loops:
        loaded, loaded_report = run_trial(*golf, lambda text: text)
        assert all(loop.poll() is None for loop in loops)  # they ran the whole time
    assert quiet.label is None, quiet.reason
    assert loaded.label is None, loaded.reason
    assert loaded.score == quiet.score  # the recipe is bit-for-bit deterministic
    assert quiet_report is not None
    assert loaded_report is not None
    quiet_cpu = quiet_report.seeds[0].train.cpu_s
    loaded_cpu = loaded_report.seeds[0].train.cpu_s
    assert abs(loaded_cpu - quiet_cpu) <= CPU_TOLERANCE * quiet_cpu + CPU_SLACK_S
    assert loaded.measurements["load_end"] >= 0  # recorded beside the numbers
