"""Caps relative to the machine, through the real loop and ledger: the baseline runs under
the task's caps, records the seed recipe's CPU cost and the caps it derives, and every
later job runs (and replays) under those."""

from __future__ import annotations

from domain import search as s
from domain import trial as t
from domain.budgets import Budgets
from domain.events import decode
from domain.ports import Outcome, TrialJob
from ledger.replay import replay, search_events
from tests.support import TINY_TASK, by_lr, scripted_loop

RELATIVE = TINY_TASK.model_copy(
    update={"budgets": Budgets(train_seconds=10, eval_seconds=5, seed_multiple=3)}
)
SEED_TRAIN_CPU_S, SEED_EVAL_CPU_S = 2.5, 1.0


def costed(job: TrialJob) -> Outcome:
    """by_lr, each seed measured at the seed recipe's CPU cost."""
    outcome = by_lr(job)
    cost = {"cpu_s": SEED_TRAIN_CPU_S, "eval_cpu_s": SEED_EVAL_CPU_S}
    per_seed = tuple(
        r.model_copy(update={"measurements": {**r.measurements, **cost}}) for r in outcome.per_seed
    )
    return outcome.model_copy(update={"per_seed": per_seed})


def test_jobs_after_the_baseline_run_under_the_caps_it_derived(tmp_path):
    loop, store, _ = scripted_loop(tmp_path, trials=3, script=costed, task=RELATIVE)
    loop.run()
    events = [decode(r) for r in store.read_all()]

    noise = next(e for e in events if isinstance(e, s.NoiseFloorMeasured))
    assert noise.budgets is not None
    assert (noise.budgets.seed_train_cpu_s, noise.budgets.seed_eval_cpu_s) == (2.5, 1.0)
    assert (noise.budgets.train_seconds, noise.budgets.eval_seconds) == (7.5, 3.0)
    launched = [e for e in events if isinstance(e, t.TrialLaunched)]
    baseline, *trials = launched
    assert baseline.budgets["train_seconds"] == 10  # the task's caps bound the baseline
    assert trials
    assert all(e.budgets["train_seconds"] == 7.5 for e in trials)
    assert all(e.budgets["eval_seconds"] == 3.0 for e in trials)
    assert all(e.clock == "cpu" for e in launched)

    report = replay(search_events(store, loop.state.started.id))
    assert report.ok, report.divergence
