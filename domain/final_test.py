"""The final test: the best kept recipe against the seed recipe, on data no trial saw.

Selection reads the validation split: every trial is scored on it and every keep is
decided on it, so the best's validation score is biased upward by the selection itself.
A task's test split (task.toml `[test]`, prepared into {test}) is scored once, here,
when the search ends. The rules, each a pure function of the search's fold:

* When. A search whose SearchStarted config carries `final_test` (searches recorded
  before 2026-12-04 replay as they ran) and that ended in ENDINGS: its trial budget,
  deadline, patience, cost cap, a run of empty LLM sessions, or every specialist out of
  ideas (exhausted). Not an interrupt (a
  resume goes on and tests at the end), a failing seed recipe (nothing to compare) or
  a run of harness faults (a resume goes on once the machine is fixed).
* No test split declared (user tasks without `[test]`, the upstream adapters): nothing
  runs; FinalTested says "skipped".
* No keep: the best is the seed recipe itself. Nothing runs, and FinalTested says
  "no_keep": the test checks a claim (the best beats the seed recipe), and with no keep
  there is none; the seed recipe against itself on the same seeds is identical by
  construction (one thread, fixed seeds), so a run would spend compute to show nothing.
* Seeds. Both recipes run on the same `count` fresh training seeds ([test] seeds, by
  default the racing cap: the seeds a keep took): from search seed + SEED_OFFSET on,
  skipping any seed the search ran (none, unless a search ran a million seeds), so no
  seed of the test was seen by selection.
* Runs. The same sandboxed pipeline and evaluator as every trial, with the test split
  passed to the evaluate command as {heldout}; the same classification (budgets, size
  cap, gate on the test split's mean). No smoke run: both recipes passed theirs.
* Decision. domain/paired.py's final look, with the best as the candidate and the seed
  recipe as the reference, on all the test seeds at once: a one-sided paired t-test of
  the improvement against the task's minimum effect at its alpha, and with per-example
  values on both sides a paired bootstrap over blocks of test examples that must agree.
  "held" if it keeps, else "not_held". A best that fails on the test split (a crash, a
  budget, the gate) is "not_held"; a seed recipe that fails, or a harness fault on either
  side, is "undecided": there is nothing to compare with, and no verdict on the idea.
* Cache. On a task whose score is deterministic, a side whose recipe an earlier final
  test in the ledger ran on the same seeds under the same key is copied from it, not
  run (domain/cache.py); the side names its source and the key.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from uuid import UUID, uuid5

from domain import bounded
from domain import search as s
from domain.base import DomainEvent
from domain.cache import CacheHit
from domain.labels import BASELINE, FailureLabel, FinishReason, Verdict
from domain.paired import Sides, look
from domain.ports import Outcome
from domain.progress import SearchState
from domain.task import TaskSpec

RULES = 1  # SearchStarted.config["final_test"]: this version of the rules
SEED_OFFSET = 1_000_000
ENDINGS = frozenset(
    {
        FinishReason.TRIAL_BUDGET,
        FinishReason.DEADLINE,
        FinishReason.NO_IMPROVEMENT,
        FinishReason.COST_CAP,
        FinishReason.NO_PROPOSALS,
        FinishReason.EXHAUSTED,  # out of ideas: the search ran its course
    }
)
NO_SPLIT = "the task declares no test split ([test] in task.toml): the best was not tested"
NO_KEEP = "no trial beat the seed recipe, so there is no improvement to test"

Launch = Callable[[s.FinalPlan], dict[str, Any]]


def due(state: SearchState, reason: FinishReason) -> bool:
    """Whether a search ending for `reason` ends with a final test (run or not)."""
    return "final_test" in state.started.config and reason in ENDINGS


def fresh_seeds(search_seed: int, used: Iterable[int], count: int) -> tuple[int, ...]:
    """`count` training seeds from search seed + SEED_OFFSET on that the search never ran."""
    taken, candidate = set(used), search_seed + SEED_OFFSET
    seeds: list[int] = []
    while len(seeds) < count:
        if candidate not in taken:
            seeds.append(candidate)
        candidate += 1
    return tuple(seeds)


def seed_trial(state: SearchState) -> UUID | None:
    """The seed recipe's judged run (an aborted one is run again first)."""
    return next((tr.id for tr in state.baselines if tr.verdict is Verdict.KEEP), None)


def opening_events(
    state: SearchState, reason: FinishReason, task: TaskSpec, launch: Launch
) -> list[DomainEvent]:
    """FinalTested if nothing is to run, else FinalTestLaunched: `launch(plan)` makes
    the plan's two jobs and returns their run facts (runner, seeds, budgets, recipes)."""
    search, best, seed = state.started, state.best, seed_trial(state)
    if task.test is None:
        return _folded(
            state, s.record_final_test(search, status="skipped", held=False, reason=NO_SPLIT)
        )
    if best is None or seed is None or best.specialist == BASELINE:
        return _folded(
            state, s.record_final_test(search, status="no_keep", held=False, reason=NO_KEEP)
        )
    used = (x for seeds in state.launched_seeds.values() for x in seeds)
    plan = s.FinalPlan(
        best_trial_id=best.id,
        seed_trial_id=seed,
        seeds=fresh_seeds(search.seed, used, task.test_seeds),
    )
    event = s.launch_final_test(
        search,
        ending=reason,
        split="test",
        best_trial_id=plan.best_trial_id,
        seed_trial_id=plan.seed_trial_id,
        **launch(plan),
    )
    return _folded(state, event)


def closing_events(
    state: SearchState,
    outcomes: Mapping[UUID, Outcome],
    hits: Mapping[UUID, CacheHit] | None = None,
) -> list[DomainEvent]:
    """FinalTested from both sides' classified outcomes, keyed by trial id; `hits`: the
    sides the trial cache answered, and from where."""
    search = state.started
    plan = search.final_plan
    if plan is None:
        raise ValueError("the final test was never launched")
    hits = hits or {}
    best, seed = (
        side(state, tid, outcomes[tid], hits.get(tid))
        for tid in (plan.best_trial_id, plan.seed_trial_id)
    )
    fields = verdict(state, best, seed, plan.seeds)
    event = s.record_final_test(search, seeds=plan.seeds, best=best, seed_recipe=seed, **fields)
    return _folded(state, event)


def _folded(state: SearchState, event: DomainEvent) -> list[DomainEvent]:
    """Fold an event as it is built (the caller stores it), as domain/steps.py does."""
    state.apply(event)
    return [event]


def side(
    state: SearchState, trial_id: UUID, outcome: Outcome, hit: CacheHit | None = None
) -> s.FinalSide:
    """One recipe's outcome on the test split; a failure is labelled and bounded as a
    TrialFailed is (an outcome without a score is a crash). A side the cache answered
    (`hit`) names the run it copied."""
    common = {
        "trial_id": trial_id,
        "sequence": state.trials[trial_id].sequence,
        "measurements": outcome.measurements,
        "rules_version": outcome.rules_version,
        "confinement": outcome.confinement,
        "accounting": outcome.accounting,
        **(_source(hit) if hit is not None else {}),
    }
    if outcome.label is None and outcome.score is not None:
        return s.FinalSide(**common, score=outcome.score, per_seed=outcome.per_seed)
    failure = {
        "reason": outcome.reason or "no score",
        "evidence": outcome.evidence,
        "log_excerpt": outcome.log_excerpt,
    }
    label = outcome.label or FailureLabel.CRASH
    return s.FinalSide(**common, label=label, **bounded.failure_fields(failure))


def _source(hit: CacheHit) -> dict[str, Any]:
    return {
        "reused_from_search_id": hit.source_search_id,
        "reused_from_trial_id": hit.source_trial_id,
        "reused_from_sequence": hit.source_sequence,
        "cache_key": hit.key.digest,
    }


def verdict(
    state: SearchState,
    best: s.FinalSide,
    seed: s.FinalSide,
    seeds: tuple[int, ...],
) -> dict[str, Any]:
    """held, not_held or undecided, with every number of the paired test."""
    failure = _failure(best, seed)
    if failure is not None:
        return failure
    search = state.started
    sides = Sides(
        candidate={r.seed: r for r in best.per_seed if r.score is not None},
        best={r.seed: r for r in seed.per_seed if r.score is not None},
        lower_is_better=search.lower_is_better,
        cap=len(seeds),
        looks=0,
        rng_seed=uuid5(search.id, "final-test").int % 2**63,  # the same on replay
    )
    test = look(search.keep_rule, search.noise_floor, sides)
    held = test.decision == "keep"
    sign = -1.0 if search.lower_is_better else 1.0  # improvement -> best minus seed
    differences = tuple(sign * d + 0.0 for d in test.differences)
    interval = None
    if test.interval is not None:
        low, high = sorted(sign * v + 0.0 for v in test.interval)
        interval = (low, high)
    return {
        "status": "held" if held else "not_held",
        "held": held,
        "reason": test.reason,
        "differences": differences,
        "delta": statistics.fmean(differences) if differences else None,
        "interval": interval,
        "method": test.method,
        "test": test,
    }


def _failure(best: s.FinalSide, seed: s.FinalSide) -> dict[str, Any] | None:
    """A side that did not score: a harness fault or the seed recipe leaves the test
    undecided; the best failing a rule on the test split means it did not hold."""
    abort = FailureLabel.HARNESS_ABORT
    for which, run in (("the best", best), ("the seed recipe", seed)):
        if run.label is abort:
            why = f"{which} (#{run.sequence}) was stopped by the harness: {run.reason}"
            return {"status": "undecided", "held": False, "reason": why}
    if best.label is not None:
        why = f"the best (#{best.sequence}) fails on the test split: {best.label}: {best.reason}"
        return {"status": "not_held", "held": False, "reason": why}
    if seed.label is not None:
        why = (
            f"the seed recipe (#{seed.sequence}) fails on the test split: {seed.label}:"
            f" {seed.reason}; there is nothing to compare with"
        )
        return {"status": "undecided", "held": False, "reason": why}
    return None
