"""How much the noise model moves between searches, measured through the real harness.

    python benchmarks/noise_spread.py --task docs/example-task [--runs 10] [--searches 5]

A search with seed s measures its noise model on training seeds s, s+1, ..., s+runs-1
(domain/config.py). This runs the task's seed recipe once on every training seed that
searches 0 .. searches-1 need, in one job through the same pipeline and sandbox as a
search, then prints the sigma each of those searches records (the same function as the
search) and the largest over the smallest. Consecutive searches share most of their runs,
so it also prints the spread over disjoint windows of `runs` seeds (independent noise
models) when `--seeds` runs enough of them. The caps are raised so that a busy machine
cannot fail a run: the built-in recipes train a fixed number of steps, so their scores
do not depend on time (a timed metric, airbench-cpu's, does). Any failed seed is fatal.
Writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.keep import KeepRule, measure_noise_floor  # noqa: E402
from domain.ports import JobPlan, Outcome  # noqa: E402
from domain.reports import RunReport  # noqa: E402
from evaluators.evaluator import TaskEvaluator  # noqa: E402
from evaluators.tasks import load  # noqa: E402
from runners.local import LocalRunner  # noqa: E402


def scores_on(task: str, seeds: tuple[int, ...], root: Path) -> list[float]:
    """The seed recipe's score on each seed, in one job through the real pipeline, from a
    copy of the task whose caps are an hour (the pipeline reads the folder's caps)."""
    folder = root / "task"
    shutil.copytree(load(task).folder, folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "task.toml"
    text = toml.read_text()
    for key in ("train_seconds", "eval_seconds"):
        text = re.sub(rf"^{key} = [^#\n]*", f"{key} = 3600 ", text, count=1, flags=re.M)
    toml.write_text(text)
    _evaluator, _report, outcome = run_seed_recipe(str(folder), seeds, root, smoke=False)
    return [r.score for r in outcome.per_seed if r.score is not None]


def run_seed_recipe(
    task: str, seeds: tuple[int, ...], root: Path, smoke: bool
) -> tuple[TaskEvaluator, RunReport, Outcome]:
    """The task's seed recipe on `seeds`, in one job through the real pipeline; a failed
    seed is fatal (exits with the reason)."""
    evaluator = TaskEvaluator.open(task, root)
    plan = JobPlan(
        search_id=uuid4(),
        trial_id=uuid4(),
        sequence=0,
        recipe=evaluator.seed_recipe(),
        seeds=seeds,
        scoring_seeds=seeds,
        threads=1,
        smoke=smoke,
    )
    job = evaluator.job(plan)
    report = LocalRunner().run(job, lambda seed, samples: None, threading.Event())
    outcome = evaluator.classify(report, seeds)
    if outcome.label is not None:
        raise SystemExit(f"the seed recipe failed ({outcome.label}): {outcome.reason}")
    return evaluator, report, outcome


def spread(
    rule: KeepRule, scores: list[float], runs: int, starts: list[int], cap: int
) -> dict[str, Any]:
    """The sigma a search starting at each seed records, as the search computes it."""
    sigmas = [measure_noise_floor(rule, scores[s : s + runs], cap).sigma for s in starts]
    return {"starts": starts, "sigmas": sigmas, "ratio": max(sigmas) / min(sigmas)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="docs/example-task")
    parser.add_argument("--runs", type=int, default=None, help="default: the task's noise")
    parser.add_argument("--searches", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=None, help="training seeds to run")
    args = parser.parse_args()
    spec = load(args.task).spec
    runs = args.runs or spec.seeds.noise
    count = max(args.seeds or 0, args.searches + runs - 1)
    with tempfile.TemporaryDirectory() as tmp:
        scores = scores_on(args.task, tuple(range(count)), Path(tmp))
    result = {
        "task": args.task,
        "runs": runs,
        "scores": scores,
        "consecutive": spread(spec.keep, scores, runs, list(range(args.searches)), spec.seed_cap),
    }
    disjoint = list(range(0, count - runs + 1, runs))
    if len(disjoint) >= 2:
        result["disjoint"] = spread(spec.keep, scores, runs, disjoint, spec.seed_cap)
    for name in ("consecutive", "disjoint"):
        if name in result:
            part = result[name]
            sigmas = ", ".join(f"{x:.4g}" for x in part["sigmas"])
            print(
                f"{name} windows of {runs} from seeds {part['starts']}: sigma {sigmas};"
                f" largest / smallest {part['ratio']:.2f}"
            )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = Path(args.task).name.replace("-", "_")
    (out / f"noise_spread_{name}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
