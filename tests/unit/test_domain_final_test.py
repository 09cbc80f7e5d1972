"""The final test, given-when-then: given a search's fold and both recipes' outcomes on
the test split, when the search ends, then the events that record the verdict."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from domain import final_test as ft
from domain import search as s
from domain.base import DomainEvent
from domain.budgets import Budgets
from domain.keep import KeepRule
from domain.labels import BASELINE, FailureLabel, FinishReason
from domain.ports import Outcome, Proposal
from domain.progress import SearchState, fold
from domain.steps import outcome_events, proposal_events
from domain.task import Commands, FinalTestRules, Metric, RosterEntry, Seeds, TaskSpec
from domain.trial import SeedResult

SEED = {"train.py": "LR = 0.001\n"}
CHILD = {"train.py": "LR = 0.004\n"}


def task(lower: bool = True, test: bool = True) -> TaskSpec:
    prepare = ("prep", "{data}", "{heldout}", "{test}") if test else ()
    return TaskSpec(
        name="tiny",
        description="unit",
        rules_version="tiny/1",
        recipe=("train.py",),
        metric=Metric(name="loss", direction="minimize" if lower else "maximize"),
        budgets=Budgets(train_seconds=10, eval_seconds=5),
        commands=Commands(train=("t",), evaluate=("e",), prepare=prepare),
        roster=(RosterEntry(key="opt", surfaces=("*",)),),
        seeds=Seeds(per_trial=1, noise=3),
        keep=KeepRule(name="noise_floor"),
        test=FinalTestRules(seeds=3) if test else None,
    )


def scored(scores: dict[int, float], examples: tuple[float, ...] = ()) -> Outcome:
    per_seed = tuple(
        SeedResult(seed=seed, score=value, per_example=tuple(v + value for v in examples))
        for seed, value in scores.items()
    )
    mean = sum(scores.values()) / len(scores)
    return Outcome(label=None, score=mean, per_seed=per_seed, rules_version="tiny/1")


def failed(label: FailureLabel, reason: str) -> Outcome:
    return Outcome(label=label, reason=reason, evidence={"why": reason}, rules_version="tiny/1")


def launch(plan: s.FinalPlan) -> dict[str, Any]:
    return {
        "runner": "local",
        "host": "box",
        "seeds": plan.seeds,
        "threads": 1,
        "budgets": {"train_seconds": 10.0},
        "sandbox": "bwrap",
        "deterministic": True,
        "clock": "cpu",
        "rules_version": "tiny/1",
        "recipe_sha256": "b" * 64,
        "seed_recipe_sha256": "a" * 64,
    }


def searched(
    spec: TaskSpec, keep: bool = True, config: dict[str, Any] | None = None
) -> SearchState:
    """A search whose seed recipe and one trial ran on seeds 0-2 and were judged; the
    trial, much better than the seed recipe, is kept if `keep`."""
    started = s.start(
        0, "tiny", 0, task_sha256="0" * 64, rules_version="tiny/1", metric="loss",
        lower_is_better=spec.metric.lower_is_better, roster=("opt",), policy="specialists",
        agent="offline", lineage=True, keep_rule=spec.keep,
        config={"final_test": ft.RULES} if config is None else config, environment={},
    )  # fmt: skip
    state = fold([started])
    sign = 1.0 if spec.metric.lower_is_better else -1.0
    for seq, (who, recipe, base) in enumerate(((BASELINE, SEED, 1.0), ("opt", CHILD, 0.5))):
        if who != BASELINE and not keep:
            base = 2.0
        proposal = Proposal(
            specialist=who, agent="offline", parent_id=None if seq == 0 else UUID(int=0),
            hypothesis=who, recipe=recipe,
        )  # fmt: skip
        seeds = (0, 1, 2) if seq == 0 else (0,)
        facts = {
            **launch(s.FinalPlan(best_trial_id=UUID(int=0), seed_trial_id=UUID(int=0), seeds=seeds))
        }
        del facts["seed_recipe_sha256"]
        proposal_events(state, proposal, SEED, lambda child: None, lambda tid, f=facts: f)
        score = {seed: sign * (base + 0.01 * seed) for seed in seeds}
        outcome_events(state, state.trial(seq).id, scored(score), spec)
    return state


def ended(
    state: SearchState, spec: TaskSpec, calls: list[s.FinalPlan] | None = None
) -> list[DomainEvent]:
    made = calls if calls is not None else []

    def launched(plan: s.FinalPlan) -> dict[str, Any]:
        made.append(plan)
        return launch(plan)

    return ft.opening_events(state, FinishReason.TRIAL_BUDGET, spec, launched)


def verdict_of(state: SearchState, best: Outcome, seed: Outcome) -> s.FinalTested:
    plan = state.started.final_plan
    assert plan is not None
    (event,) = ft.closing_events(state, {plan.best_trial_id: best, plan.seed_trial_id: seed})
    assert isinstance(event, s.FinalTested)
    return event


TEST_SEEDS = (1_000_000, 1_000_001, 1_000_002)


def given_a_final_test(lower: bool = True) -> SearchState:
    """Given a search that kept a trial and launched its final test."""
    spec = task(lower=lower)
    state = searched(spec)
    ended(state, spec)
    return state


# When it is due:


@pytest.mark.parametrize("reason", list(FinishReason))
def test_only_a_search_that_ran_its_course_ends_with_a_final_test(reason: FinishReason) -> None:
    state = searched(task())

    assert ft.due(state, reason) is (reason in ft.ENDINGS)
    assert not ft.due(state, FinishReason.INTERRUPTED)  # a resume goes on, then tests


def test_a_search_recorded_before_final_tests_replays_without_one() -> None:
    state = searched(task(), config={})

    assert not ft.due(state, FinishReason.TRIAL_BUDGET)


# What runs:


def test_the_best_and_the_seed_recipe_run_on_the_same_fresh_seeds() -> None:
    spec, plans = task(), []
    state = searched(spec)

    (event,) = ended(state, spec, plans)

    assert isinstance(event, s.FinalTestLaunched)
    assert plans == [
        s.FinalPlan(
            best_trial_id=state.trial(1).id, seed_trial_id=state.trial(0).id, seeds=TEST_SEEDS
        )
    ]
    assert (event.best_trial_id, event.seed_trial_id, event.seeds) == (
        state.trial(1).id,
        state.trial(0).id,
        TEST_SEEDS,
    )
    assert (event.split, event.ending) == ("test", FinishReason.TRIAL_BUDGET)
    assert not set(event.seeds) & {0, 1, 2}  # no seed the search ran
    assert state.started.final_test == "launched"


def test_fresh_seeds_skip_every_seed_the_search_ran() -> None:
    assert ft.fresh_seeds(5, [0, 1, 1_000_005, 1_000_007], 3) == (1_000_006, 1_000_008, 1_000_009)
    assert ft.fresh_seeds(5, [], 2) == ft.fresh_seeds(5, [], 2) == (1_000_005, 1_000_006)


def test_with_no_keep_nothing_runs_and_the_event_says_why() -> None:
    spec, plans = task(), []
    state = searched(spec, keep=False)

    (event,) = ended(state, spec, plans)

    assert plans == []
    assert isinstance(event, s.FinalTested)
    assert (event.status, event.held, event.reason) == ("no_keep", False, ft.NO_KEEP)
    assert event.best is None
    assert event.seed_recipe is None


def test_a_task_without_a_test_split_skips_the_test_and_says_so() -> None:
    spec, plans = task(test=False), []
    state = searched(spec)

    (event,) = ended(state, spec, plans)

    assert plans == []
    assert isinstance(event, s.FinalTested)
    assert (event.status, event.held) == ("skipped", False)
    assert "no test split" in event.reason


# The verdict:


@pytest.mark.parametrize("lower", [True, False])
def test_a_gain_that_holds_on_the_test_split_is_held_in_either_direction(lower: bool) -> None:
    state = given_a_final_test(lower)
    sign = 1.0 if lower else -1.0
    blocks = (-0.02, 0.0, 0.01, 0.02, -0.01, 0.0)

    event = verdict_of(
        state,
        scored({seed: sign * (0.80 + 0.01 * i) for i, seed in enumerate(TEST_SEEDS)}, blocks),
        scored({seed: sign * (0.90 + 0.012 * i) for i, seed in enumerate(TEST_SEEDS)}, blocks),
    )

    assert (event.status, event.held) == ("held", True)
    assert event.seeds == TEST_SEEDS
    assert event.differences == pytest.approx([sign * -0.10, sign * -0.102, sign * -0.104])
    assert event.delta == pytest.approx(sign * -0.102)
    assert event.interval is not None
    low, high = event.interval
    assert low <= event.delta <= high
    assert (high < 0) if lower else (low > 0)  # the whole interval on the better side
    assert event.test is not None
    assert event.test.decision == "keep"
    assert event.test.examples is not None  # both sides gave per-example values
    assert event.method == event.test.method
    assert event.best is not None
    assert event.seed_recipe is not None
    assert (event.best.sequence, event.seed_recipe.sequence) == (1, 0)
    assert [r.seed for r in event.best.per_seed] == list(TEST_SEEDS)
    assert state.started.final_test == "held"


@pytest.mark.parametrize("lower", [True, False])
def test_a_gain_that_vanishes_on_the_test_split_is_not_held(lower: bool) -> None:
    state = given_a_final_test(lower)
    sign = 1.0 if lower else -1.0

    event = verdict_of(
        state,
        scored(
            {TEST_SEEDS[0]: sign * 0.95, TEST_SEEDS[1]: sign * 0.92, TEST_SEEDS[2]: sign * 0.99}
        ),
        scored(
            {TEST_SEEDS[0]: sign * 0.94, TEST_SEEDS[1]: sign * 0.95, TEST_SEEDS[2]: sign * 0.96}
        ),
    )

    assert (event.status, event.held) == ("not_held", False)
    assert event.test is not None
    assert event.test.p is not None
    assert event.test.p >= 0.05
    assert "p " in event.reason
    assert event.delta == pytest.approx(sign * (0.95 + 0.92 + 0.99 - 0.94 - 0.95 - 0.96) / 3)


def test_a_best_that_fails_on_the_test_split_did_not_hold() -> None:
    state = given_a_final_test()

    event = verdict_of(
        state,
        failed(FailureLabel.DISQUALIFIED, "mean accuracy 0.97 misses the gate 0.9775"),
        scored(dict.fromkeys(TEST_SEEDS, 1.0)),
    )

    assert (event.status, event.held) == ("not_held", False)
    assert "the best (#1) fails on the test split: disqualified" in event.reason
    assert event.best is not None
    assert event.best.label is FailureLabel.DISQUALIFIED
    assert event.delta is None
    assert event.test is None


def test_a_seed_recipe_that_fails_leaves_the_test_undecided() -> None:
    state = given_a_final_test()

    event = verdict_of(
        state, scored(dict.fromkeys(TEST_SEEDS, 0.5)), failed(FailureLabel.CRASH, "x")
    )

    assert (event.status, event.held) == ("undecided", False)
    assert "nothing to compare with" in event.reason


def test_a_harness_fault_on_either_side_says_nothing_about_the_idea() -> None:
    state = given_a_final_test()

    event = verdict_of(
        state, failed(FailureLabel.HARNESS_ABORT, "killed"), failed(FailureLabel.CRASH, "y")
    )

    assert event.status == "undecided"
    assert "stopped by the harness" in event.reason


def test_a_side_failure_is_bounded_as_a_trial_failure_is() -> None:
    state = given_a_final_test()

    event = verdict_of(
        state, failed(FailureLabel.CRASH, "x" * 5000), scored(dict.fromkeys(TEST_SEEDS, 1.0))
    )

    assert event.best is not None
    assert len(event.best.reason) == 1000


# The aggregate:


def test_the_final_test_is_recorded_once_and_only_before_the_finish() -> None:
    state = given_a_final_test()
    verdict_of(
        state, scored(dict.fromkeys(TEST_SEEDS, 0.5)), scored(dict.fromkeys(TEST_SEEDS, 1.0))
    )

    with pytest.raises(s.FinalTestRecordedError, match="recorded once"):
        s.record_final_test(state.started, status="skipped", held=False, reason="again")
    finished = s.finish(
        state.started, FinishReason.TRIAL_BUDGET, trials=1, best_trial_id=None, best_score=None
    )
    state.apply(finished)
    with pytest.raises(s.SearchFinishedError, match="cannot launch the final test"):
        s.launch_final_test(state.started, **launch(state.started.final_plan))  # type: ignore[arg-type]


def test_a_final_test_cut_off_by_a_crash_is_launched_again_on_the_same_seeds() -> None:
    spec = task()
    state = searched(spec)
    (first,) = ended(state, spec)

    (again,) = ended(state, spec)  # a resumed process concludes once more

    assert isinstance(again, s.FinalTestLaunched)
    assert isinstance(first, s.FinalTestLaunched)
    assert again.seeds == first.seeds
    assert again.originator_version == first.originator_version + 1
