"""Ledger overhead: milliseconds of ledger, projection and agent work per trial, against
the trial's own time, measured side by side in one real golf-cpu search.

    python benchmarks/overhead.py [--trials 6] [--task golf-cpu]

It runs the same wiring as `cli.py search` in this process, timing `Ledger.append`
(hash chain + SQLite transaction), the projections (catch-up, lineage view, recipe) and
the proposer's own work, and the runner's wall time per trial. Writes JSON under
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.catalogues import catalogue_for  # noqa: E402
from agents.offline import OfflineProposer  # noqa: E402
from domain.config import SearchConfig  # noqa: E402
from evaluators.evaluator import TaskEvaluator  # noqa: E402
from ledger import session  # noqa: E402
from ledger.loop import LiveExecutor  # noqa: E402
from ledger.store import open_ledger  # noqa: E402
from projections.lineage import DuckLineage  # noqa: E402
from runners.local import LocalRunner  # noqa: E402

SPENT: dict[str, float] = defaultdict(float)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - started

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--task", default="golf-cpu")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="overhead-"))
    location = str(tmp / "ledger.sqlite")
    store = open_ledger(location)
    store.append = timed("ledger", store.append)  # type: ignore[method-assign]
    evaluator = TaskEvaluator.open(args.task, tmp)
    runner = LocalRunner()
    runner.run = timed("trials", runner.run)  # type: ignore[method-assign]
    proposer = OfflineProposer(catalogue_for(evaluator.task.name, evaluator.seed_recipe()))
    proposer.propose = timed("agents+lineage", proposer.propose)  # type: ignore[method-assign]
    lineage = DuckLineage(store, tmp / "ledger.duckdb")
    for name in ("view", "recipe", "hold"):
        setattr(lineage, name, timed(f"lineage.{name}", getattr(lineage, name)))
    config = SearchConfig(task=args.task, trials=args.trials)
    state = session.start(store, config, evaluator, proposer)
    loop = session.build_loop(
        state,
        store,
        evaluator,
        LiveExecutor(runner, evaluator, 1),
        proposer,
        lineage,
        config,
        runner.name,
        runner.host,
    )
    started = time.perf_counter()
    loop.run()
    wall = time.perf_counter() - started
    trials = args.trials + 1  # the baseline counts: it was recorded and projected too
    lineage_s = SPENT["lineage.view"] + SPENT["lineage.recipe"]
    per_trial = {
        "ledger_ms": 1000 * SPENT["ledger"] / trials,
        "projections_ms": 1000 * lineage_s / trials,
        "agents_ms": 1000 * max(SPENT["agents+lineage"] - SPENT["lineage.view"], 0.0) / trials,
        "trial_s": SPENT["trials"] / trials,
    }
    overhead = (
        per_trial["ledger_ms"] + per_trial["projections_ms"] + per_trial["agents_ms"]
    ) / 1000
    result = {
        "task": args.task,
        "trials": trials,
        "wall_s": wall,
        "per_trial": per_trial,
        "overhead_pct_of_trial": 100 * overhead / per_trial["trial_s"],
        "unaccounted_s": wall - SPENT["trials"] - SPENT["ledger"] - SPENT["agents+lineage"],
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
