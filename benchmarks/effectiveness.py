"""Search effectiveness, side by side: specialists with and without lineage, one
generalist, random search and Optuna TPE, each scored by the same evaluator.

    python benchmarks/effectiveness.py [--quick] [--trials 24] [--seeds 0 1 2] [--jobs 2]

Every (task, arm, seed) is a real `cli.py search` into its own ledger under
benchmarks/results/effectiveness/; a finished one is skipped and an interrupted one is
resumed, so the command can be stopped and run again. `--quick` runs the example task
with 3 trials per arm (a CI smoke test). Results: summary.json and best-so-far plots.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.outcomes import summarise  # noqa: E402

ARMS: dict[str, list[str]] = {
    "specialists": [],
    "no-lineage": ["--no-lineage"],
    "generalist": ["--policy", "generalist"],
    "random": ["--policy", "random"],
    "optuna": ["--policy", "optuna"],
}
TASKS = ("golf-cpu", "airbench-cpu", "core-cpu")
QUICK_TASK = str(ROOT / "docs" / "example-task")


def ledger_of(out: Path, task: str, arm: str, seed: int) -> Path:
    return out / Path(task).name / arm / f"seed{seed}" / "ledger.sqlite"


def run_one(task: str, arm: str, seed: int, trials: int, out: Path) -> str:
    """One search; resumed if a previous run of this command was stopped halfway."""
    ledger = ledger_of(out, task, arm, seed)
    state = _state(ledger)
    if state == "finished":
        return f"{task}/{arm}/seed{seed}: done already"
    base = [sys.executable, str(ROOT / "cli.py"), "search", "--ledger", str(ledger)]
    args = (
        ["--resume"]
        if state == "unfinished"
        else ["--task", task, "--trials", str(trials), "--seed", str(seed), *ARMS[arm]]
    )
    done = subprocess.run([*base, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["?"]
    return f"{task}/{arm}/seed{seed}: exit {done.returncode}: {last[0][:120]}"


def _state(ledger: Path) -> str:
    if not ledger.exists():
        return "new"
    import sqlite3

    with sqlite3.connect(ledger) as con:
        topics = {
            row[0].rsplit(":", 1)[-1]
            for row in con.execute("SELECT DISTINCT topic FROM stored_events")
        }
    if "SearchFinished" in topics:
        return "finished"
    return "unfinished" if "SearchStarted" in topics else "new"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the example task, 3 trials, 1 seed")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--arms", nargs="+", default=list(ARMS))
    parser.add_argument("--jobs", type=int, default=2, help="searches side by side (1 core each)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "effectiveness"
    )
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.trials, args.seeds = [QUICK_TASK], 3, [0]
        args.out = args.out.with_name(args.out.name + "-quick")
    runs = [(task, arm, seed) for task in args.tasks for seed in args.seeds for arm in args.arms]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for line in pool.map(lambda r: run_one(*r, args.trials, args.out), runs):
            print(line, flush=True)
    ledgers = {r: ledger_of(args.out, *r) for r in runs}
    summary = summarise(ledgers, args.out)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["table"], indent=1))


if __name__ == "__main__":
    main()
