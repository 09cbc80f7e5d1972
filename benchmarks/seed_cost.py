"""A task's seed recipe, measured as the baseline measures it: CPU-seconds and the caps.

    python benchmarks/seed_cost.py --task golf-cpu [--seeds 3]

Runs the seed recipe on training seeds 0 .. seeds-1 in one job through the real pipeline
and sandbox, under the task's own (baseline) caps, and prints each seed's training and
evaluation CPU-seconds (the whole process tree, as the harness counts them), its wall
seconds, run-queue wait and load average beside them, then the caps a search on this
machine derives from them (`[budgets] seed_multiple`, domain.task.Budgets.derive). A
failed seed is fatal: no figure is printed for work that did not run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.noise_spread import run_seed_recipe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="golf-cpu")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = tuple(range(args.seeds))
        evaluator, report, _outcome = run_seed_recipe(args.task, seeds, Path(tmp), smoke=True)
    train, evaluate = [], []
    for seed in report.seeds:
        run, ev = seed.train, seed.eval
        if ev is None:  # classify passed it, so every seed was evaluated
            raise SystemExit(f"seed {seed.seed} was not evaluated")
        train.append(run.cpu_s)
        evaluate.append(ev.process.cpu_s)
        print(
            f"seed {seed.seed}: train {run.cpu_s:.2f} CPU-s ({run.wall_s:.1f} s wall, run-queue"
            f" wait {run.runqueue_s:.1f} s, load {run.load_start:.1f} to {run.load_end:.1f});"
            f" eval {ev.process.cpu_s:.2f} CPU-s; counted by {run.clock}"
        )
    budgets = evaluator.task.budgets
    derived = budgets.derive(train, evaluate)
    if derived is None:
        print(f"absolute caps: train {budgets.train_seconds:g}, eval {budgets.eval_seconds:g}")
        return
    print(
        f"seed mean: train {derived.seed_train_cpu_s:.2f} CPU-s, eval"
        f" {derived.seed_eval_cpu_s:.2f} CPU-s; derived caps ({derived.seed_multiple:g}x):"
        f" train {derived.train_seconds:g} CPU-s, eval {derived.eval_seconds:g} CPU-s"
    )


if __name__ == "__main__":
    main()
