"""Ledger and projection overhead per trial, every cost timed, against the trial's own
time, in one real search (golf-cpu by default).

    python benchmarks/overhead.py [--trials 6] [--task golf-cpu]

It wires the search as `cli.py search` does, in this process, and times: `Ledger.append`
(canonical JSON, hash chain, the SQLite transaction and its stream index), the
projections' open (connect), DDL (create the tables), catch-up (the SQL fold of new
events), the lineage reads (view, recipe, trial detail, SQL), close, and the proposer's
own work; and the runner's time per trial (the final test's runs timed apart). If the
search did not run every trial it was asked for (a failed baseline, a stop, a trial
that never launched), it says so and exits 1 with no figure. Writes
benchmarks/results/overhead-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.catalogues import catalogue_for  # noqa: E402
from agents.offline import OfflineProposer  # noqa: E402
from domain import trial as t  # noqa: E402
from domain.config import SearchConfig  # noqa: E402
from domain.labels import FinishReason  # noqa: E402
from evaluators.evaluator import TaskEvaluator  # noqa: E402
from ledger import session  # noqa: E402
from ledger.executor import LiveExecutor  # noqa: E402
from ledger.store import open_ledger  # noqa: E402
from projections import db, schema  # noqa: E402
from projections.lineage import DuckLineage  # noqa: E402
from runners.local import LocalRunner  # noqa: E402

SPENT: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
COSTS = ("ledger appends", "open", "DDL", "catch-up", "view reads", "close", "agents")


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - started
            CALLS[name] += 1

    return wrapper


def instrument(store: Any, runner: Any, proposer: Any, lineage: DuckLineage) -> None:
    store.append = timed("ledger appends", store.append)
    trials, final = timed("trials", runner.run), timed("final test", runner.run)
    # The final test's two runs (the best and the seed recipe on the test split) are not
    # trials: timed apart, they do not dilute the overhead per trial.
    runner.run = lambda job, *rest: (final if job.split == "test" else trials)(job, *rest)
    proposer.propose = timed("propose", proposer.propose)
    db._connect = timed("open", db._connect)
    schema.create = timed("DDL", schema.create)
    db.catch_up = timed("catch-up", db.catch_up)  # type: ignore[attr-defined]
    lineage.projections.close = timed("close", lineage.projections.close)  # type: ignore[method-assign]
    for name in ("view", "recipe", "trial", "sql"):
        setattr(lineage, name, timed("view reads", getattr(lineage, name)))


def ran_every_trial(events: list[Any], reason: FinishReason, asked: int) -> str:
    """Why the search is not the one asked for, or "" if it is."""
    launched = {e.originator_id for e in events if isinstance(e, t.TrialLaunched)}
    proposed = [e for e in events if isinstance(e, t.TrialProposed)]
    ran = sum(1 for e in proposed if e.sequence > 0 and e.originator_id in launched)
    baseline = any(e.sequence == 0 and e.originator_id in launched for e in proposed)
    if reason is FinishReason.TRIAL_BUDGET and baseline and ran == asked:
        return ""
    return f"asked for {asked} trials after the baseline; {ran} ran (the search ended {reason})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--task", default="golf-cpu")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="overhead-"))
    store = open_ledger(str(tmp / "ledger.sqlite"))
    evaluator = TaskEvaluator.open(args.task, tmp)
    runner = LocalRunner()
    proposer = OfflineProposer(catalogue_for(evaluator.task.name, evaluator.seed_recipe()))
    lineage = DuckLineage(store, tmp / "ledger.duckdb")
    instrument(store, runner, proposer, lineage)
    config = SearchConfig(task=args.task, trials=args.trials)
    state = session.start(store, config, evaluator, proposer)
    executor = LiveExecutor(runner, evaluator, 1)
    loop = session.build_loop(
        state, store, evaluator, executor, proposer, lineage, config, runner.name, runner.host
    )
    load = os.getloadavg()
    started = time.perf_counter()
    reason = loop.run()
    wall = time.perf_counter() - started
    problem = ran_every_trial(store.stream(state.started.id), reason, args.trials)
    if problem:
        sys.exit(f"no figure: {problem}")
    print(json.dumps(result(args, wall, load), indent=1))


def result(args: argparse.Namespace, wall: float, load: tuple[float, ...]) -> dict[str, Any]:
    trials = args.trials + 1  # the baseline was recorded and projected too
    SPENT["agents"] = max(SPENT["propose"] - SPENT["view reads"], 0.0)  # reads inside it
    per_trial = {f"{name} ms": 1000 * SPENT[name] / trials for name in COSTS}
    overhead_ms = sum(per_trial.values())
    trial_s = SPENT["trials"] / trials
    report = {
        "task": args.task,
        "trials": trials,
        "wall_s": wall,
        "loadavg_at_start": load,
        "loadavg_at_end": os.getloadavg(),
        "calls": dict(CALLS),
        "per_trial": {**per_trial, "total overhead ms": overhead_ms, "trial s": trial_s},
        "overhead_pct_of_trial": 100 * overhead_ms / 1000 / trial_s,
        "final_test_s": SPENT["final test"],
        "unaccounted_s": wall
        - SPENT["trials"]
        - SPENT["final test"]
        - SPENT["ledger appends"]
        - SPENT["propose"],
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    (out / f"overhead-{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
