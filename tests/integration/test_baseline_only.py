"""`search --trials 0` runs the seed recipe alone and reports its noise; it replays."""

from __future__ import annotations

import shutil

from tests.integration.test_faults import independent_count
from tests.test_cli import ROOT, cli

EXAMPLE = ROOT / "docs" / "example-task"


def test_zero_trials_measure_the_seed_recipe_s_noise(tmp_path):
    task, ledger = tmp_path / "task", tmp_path / "runs" / "ledger.sqlite"
    shutil.copytree(EXAMPLE, task)

    done = cli("search", "--task", str(task), "--trials", "0", "--ledger", str(ledger))

    assert done.returncode == 0, done.stderr
    assert "the seed recipe alone (its noise)" in done.stdout
    assert "seed recipe's noise: σ" in done.stdout
    assert "over 10 seeds" in done.stdout  # the task's `noise = 10`
    count = independent_count(ledger)
    assert count["proposed"] == [0]
    assert count["baselines"] == {0}
    assert count["finished"] == 1
    assert cli("replay", "--ledger", str(ledger)).returncode == 0
