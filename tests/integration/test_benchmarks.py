"""The effectiveness benchmark's --quick mode: every arm searches, lands in a ledger and
is summarised, and a second run resumes instead of searching again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARMS = {"specialists", "no-lineage", "generalist", "random", "optuna"}


def run_quick(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "benchmarks/effectiveness.py", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_quick_effectiveness_runs_every_arm_and_resumes(tmp_path):
    first = run_quick(tmp_path / "eff")
    assert first.returncode == 0, first.stderr[-2000:]
    results = tmp_path / "eff-quick"
    summary = json.loads((results / "summary.json").read_text())
    arms = summary["table"]["example-task"]
    assert set(arms) == ARMS
    for arm, row in arms.items():
        assert row["searches"] == 1, arm
        assert sum(row["labels"].values()) == 3, arm  # three trials after the baseline
    assert (results / "best-so-far-example-task.png").stat().st_size > 0
    again = run_quick(tmp_path / "eff")
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("done already") == len(ARMS)


def test_the_overhead_benchmark_gives_no_figure_when_its_search_fails(tmp_path):
    task = tmp_path / "broken-task"
    shutil.copytree(ROOT / "docs" / "example-task", task)
    recipe = task / "recipe" / "train.py"
    recipe.write_text("raise SystemExit('this recipe never trains')\n" + recipe.read_text())
    done = subprocess.run(
        [sys.executable, "benchmarks/overhead.py", "--task", str(task), "--trials", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stdout.strip() == ""
    assert "no figure: asked for 2 trials after the baseline; 0 ran" in done.stderr
    assert "baseline_failed" in done.stderr
