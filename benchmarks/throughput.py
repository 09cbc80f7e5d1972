"""Throughput on this machine: trials per hour with 1 and 2 local workers, and the Ray
runner's overhead per trial against the local runner, side by side in one run.

Each configuration runs the same real search: the real loop, ledger, projections and
sandboxed pipeline, on the same task and budget. Its proposer re-runs the seed recipe
(plus a comment naming the trial) every time, so every trial does the same work: the
offline specialists would propose different edits once two trials are in flight, and a
size-blocked edit costs a fraction of a trained one, which would blur the comparison.
The baseline runs alone before anything else, so throughput is measured over the trials
after its verdict: trials / (SearchFinished - baseline verdict). The loop's own busy
time (proposals, projection refreshes, ledger writes) is what it spends outside waiting
for the executor.

    python benchmarks/throughput.py [--task golf-cpu] [--trials 6] [--skip-ray]

Results go to benchmarks/results/throughput-<time>.json (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from agents.view import render_view
from domain.config import SearchConfig
from domain.ports import Proposal, ProposalRequest
from evaluators.evaluator import TaskEvaluator
from ledger import session
from ledger.claim import new_search
from ledger.executor import LiveExecutor, Message
from ledger.store import open_ledger
from projections.db import projections_path
from projections.lineage import DuckLineage
from runners.registry import open_runner

RESULTS = Path(__file__).resolve().parent / "results"
TERMINAL = (":TrialJudged", ":TrialFailed")


class SeedRerun:
    """Proposes the seed recipe again, as a child of the best, after reading and rendering
    the lineage view as the offline specialists do (a part of the loop's own cost)."""

    name = "benchmark"

    def __init__(self, seed_recipe: dict[str, str]) -> None:
        self.seed_recipe = seed_recipe

    def propose(self, request: ProposalRequest, lineage: Any) -> Proposal:
        view = lineage.view(request.search_id, request.specialist.key, request.lineage)
        recipe = dict(self.seed_recipe)
        recipe["train.py"] += f"# benchmark trial {request.sequence}\n"  # not the parent's
        return Proposal(
            specialist=request.specialist.key,
            agent=self.name,
            parent_id=view.best.trial_id if view.best else None,
            hypothesis="re-run the seed recipe",
            recipe=recipe,
            view_text=render_view(view, request.specialist.surfaces, request.sequence),
            idea="rerun",
        )


class TimedExecutor(LiveExecutor):
    """The live executor, counting how long the loop waits for it."""

    waited = 0.0

    def next(self, timeout: float) -> Message | None:
        started = time.monotonic()
        try:
            return super().next(timeout)
        finally:
            self.waited += time.monotonic() - started


def run_search(task: str, trials: int, workers: int, runner: str, root: Path) -> dict[str, Any]:
    """One search; what it took, from the clock and from its own ledger."""
    location = str(root / f"{runner}-{workers}w.sqlite")
    store = open_ledger(location)
    evaluator = TaskEvaluator.open(task, root, sandbox=True)
    proposer = SeedRerun(evaluator.seed_recipe())
    config = SearchConfig(task=task, trials=trials, seed=0, workers=workers, runner=runner)
    begun = time.monotonic()
    with open_runner(runner) as trial_runner:
        ready = time.monotonic()
        executor = TimedExecutor(trial_runner, evaluator, workers)
        cpu_before, machine_before = _cpu(), _machine_busy()
        with new_search(store, config, evaluator, proposer) as state:
            lineage = DuckLineage(store, projections_path(location))
            loop = session.build_loop(
                state, store, evaluator, executor, proposer, lineage, config,
                trial_runner.name, trial_runner.host,
            )  # fmt: skip
            reason = loop.run()
        searched = time.monotonic() - ready
        cpu_after, machine_after = _cpu(), _machine_busy()
    return {
        "runner": runner,
        "workers": workers,
        "finish": str(reason),
        "runner_start_s": ready - begun,
        "search_s": searched,
        "loop_busy_s": searched - executor.waited,
        "driver_cpu_s": cpu_after[0] - cpu_before[0],
        "pipelines_cpu_s": cpu_after[1] - cpu_before[1],  # local runner only: its children
        # Every process on the machine, ours and other people's, in cores on average.
        "machine_busy_cores": (machine_after - machine_before) / searched,
        **from_ledger(location),
    }


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process (all threads) and of its finished children."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores, all users) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def from_ledger(location: str) -> dict[str, Any]:
    """Trial phase length, trials per hour and per-trial durations, from event times."""
    with sqlite3.connect(location) as con:
        rows = con.execute(
            "SELECT originator_id, topic, json_extract(state, '$.event.timestamp'),"
            " coalesce(json_extract(state, '$.event.label'), json_extract(state,"
            " '$.event.verdict')) FROM stored_events ORDER BY rowid"
        ).fetchall()
    launched: dict[str, datetime] = {}
    durations: list[float] = []
    labels: dict[str, int] = {}
    ends: list[datetime] = []
    for trial, topic, stamp, outcome in rows:
        when = datetime.fromisoformat(stamp)
        if topic.endswith(":TrialLaunched"):
            launched[trial] = when
        elif topic.endswith(TERMINAL) and trial in launched:
            durations.append((when - launched.pop(trial)).total_seconds())
            ends.append(when)
            labels[outcome] = labels.get(outcome, 0) + 1
    phase = (ends[-1] - ends[0]).total_seconds()  # from the baseline's verdict to the last
    done = len(ends) - 1
    return {
        "trials_after_baseline": done,
        "phase_s": phase,
        "trials_per_hour": done / phase * 3600 if phase > 0 else None,
        "baseline_s": durations[0],
        "trial_s_mean": statistics.fmean(durations[1:]) if done else None,
        "labels": labels,
    }


def summary(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    one, two = runs["local-1w"], runs["local-2w"]
    out: dict[str, Any] = {
        "trials_per_hour_1w": one["trials_per_hour"],
        "trials_per_hour_2w": two["trials_per_hour"],
        "speedup_2w_over_1w": two["trials_per_hour"] / one["trials_per_hour"],
    }
    for run in (one, two):  # how much of the machine other people's processes took
        ours = (run["driver_cpu_s"] + run["pipelines_cpu_s"]) / run["search_s"]
        out[f"others_cores_during_{run['workers']}w"] = run["machine_busy_cores"] - ours
    if "ray-1w" in runs:
        ray = runs["ray-1w"]
        out["ray_overhead_per_trial_s"] = ray["trial_s_mean"] - one["trial_s_mean"]
        out["ray_cluster_start_s"] = ray["runner_start_s"]
    return out


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "loadavg_at_start": os.getloadavg(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="golf-cpu")
    parser.add_argument("--trials", type=int, default=6, help="trials after the baseline")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    plan = [("local", 1), ("local", 2)] + ([] if args.skip_ray else [("ray", 1)])
    report: dict[str, Any] = {"machine": machine(), "task": args.task, "trials": args.trials}
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        TaskEvaluator.open(args.task, Path(tmp), sandbox=True)  # data staged before timing
        for runner, workers in plan:
            name = f"{runner}-{workers}w"
            runs[name] = run_search(args.task, args.trials, workers, runner, Path(tmp))
            print(f"{name}: {json.dumps(runs[name])}", flush=True)
    report |= {"runs": runs, "summary": summary(runs), "loadavg_at_end": os.getloadavg()}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"throughput-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["summary"], indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
