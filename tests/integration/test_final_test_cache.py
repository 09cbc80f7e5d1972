"""The trial cache answers the final test's runs too: a deterministic task's second search
on the same seed copies a side an earlier final test ran under the same key, names it in
FinalTested, and verifies and replays; a side the machine failed, or --no-cache, runs;
a forged copy is found by the reuse check."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from domain import search as s
from domain import trial as t
from domain.labels import FailureLabel
from domain.ports import Outcome, TrialJob
from ledger.cache import check_reuses
from ledger.replay import replay, search_events
from ledger.store import Ledger, open_ledger
from ledger.verify import verify
from tests.mixed_ledger import rewritten
from tests.support import TESTED_TASK, by_lr_per_seed, failed, scripted_loop
from tests.test_cli import ROOT, assert_one_line_error, cli

EXAMPLE = ROOT / "docs" / "example-task"
# TESTED_TASK (a test split, racing), declared deterministic: its runs may be cached.
TESTED_CACHED = TESTED_TASK.model_copy(update={"deterministic": True})


class FinalRuns:
    """The scripted pipeline, counting the final test's runs it 'trains'."""

    def __init__(self, harness_fails_the_best: bool = False) -> None:
        self.tests, self.harness_fails_the_best = 0, harness_fails_the_best

    def __call__(self, job: TrialJob) -> Outcome:
        if job.split != "test":
            return by_lr_per_seed(job)
        self.tests += 1
        if self.harness_fails_the_best and job.sequence != 0:  # 0: the seed recipe
            return failed(FailureLabel.HARNESS_ABORT, "the machine went away")
        return by_lr_per_seed(job)


def _search(tmp_path: Path, script: FinalRuns, cache: bool = True) -> tuple[UUID, Ledger, str]:
    loop, store, location = scripted_loop(
        tmp_path, trials=3, script=script, task=TESTED_CACHED, cache=cache
    )
    loop.run()
    return loop.state.started.id, store, location


def _tested(store: Ledger, sid: UUID) -> s.FinalTested:
    return next(e for e in store.stream(sid) if isinstance(e, s.FinalTested))


def _sides(tested: s.FinalTested) -> tuple[s.FinalSide, s.FinalSide]:
    assert tested.best is not None
    assert tested.seed_recipe is not None
    return tested.best, tested.seed_recipe


def _outcome(side: s.FinalSide) -> tuple[object, ...]:
    return (side.score, side.per_seed, side.measurements, side.label)


def _scores(side: s.FinalSide) -> tuple[object, ...]:
    return (side.score, tuple(r.score for r in side.per_seed))


def test_a_second_search_copies_both_sides_and_replays(tmp_path):
    first, store, _ = _search(tmp_path, FinalRuns())
    again = FinalRuns()
    second, _, _ = _search(tmp_path, again)
    assert again.tests == 0  # neither side ran
    before, after = _tested(store, first), _tested(store, second)
    for old, new in zip(_sides(before), _sides(after), strict=True):
        assert new.reused_from_search_id == first
        assert new.reused_from_trial_id == old.trial_id
        assert (new.reused_from_sequence, new.sequence) == (old.sequence, old.sequence)
        assert new.cache_key is not None
        assert old.cache_key is None
        assert _outcome(new) == _outcome(old)
    assert (after.status, after.delta, after.interval) == (
        before.status,
        before.delta,
        before.interval,
    )
    trials = sum(isinstance(e, t.TrialReused) for e in store.stream(second))
    assert check_reuses(store, store.stream(second)) == (trials + 2, "")
    assert verify(store.read_all()).ok
    report = replay(search_events(store, second))
    assert report.ok, report.divergence


def test_a_side_the_machine_failed_runs_again_and_the_other_is_copied(tmp_path):
    first, store, _ = _search(tmp_path, FinalRuns(harness_fails_the_best=True))
    assert _tested(store, first).status == "undecided"
    again = FinalRuns()
    second, _, _ = _search(tmp_path, again)
    assert again.tests == 1  # the best, whose harness fault is no fact about the recipe
    best, seed = _sides(_tested(store, second))
    assert best.reused_from_search_id is None
    assert best.label is None
    assert seed.reused_from_search_id == first
    assert replay(search_events(store, second)).ok


def test_without_the_cache_both_sides_run(tmp_path):
    _search(tmp_path, FinalRuns())
    again = FinalRuns()
    second, store, _ = _search(tmp_path, again, cache=False)
    assert again.tests == 2
    assert all(side.reused_from_search_id is None for side in _sides(_tested(store, second)))


@pytest.mark.parametrize("forged", ["source_score", "own_key"])
def test_a_forged_final_test_reuse_is_found_though_the_chain_was_resealed(tmp_path, forged):
    """The source's side is made to say another score (the copy no longer matches it), or
    the copy claims another key; the chain is resealed, so verify accepts the log."""
    first, store, location = _search(tmp_path, FinalRuns())
    second, _, _ = _search(tmp_path, FinalRuns())
    target = str(first if forged == "source_score" else second)

    def edit(topic: str, body: dict) -> int | None:
        if not (topic.endswith(":FinalTested") and body["originator_id"] == target):
            return None
        if forged == "source_score":
            body["seed_recipe"]["score"] += 1.0
        else:
            body["seed_recipe"]["cache_key"] = "0" * 64
        return s.FinalTested.class_version

    assert rewritten(Path(location), edit) == 1
    assert verify(store.read_all()).ok
    count, problem = check_reuses(store, store.stream(second))
    wanted = "not the one its source recorded" if forged == "source_score" else "another run's key"
    assert wanted in problem
    assert count >= 1
    assert_one_line_error(cli("replay", "--ledger", location, "--search", str(second)))


def test_the_example_task_tests_once_and_replays_from_the_cache(tmp_path):
    """Real processes: the second identical search on docs/example-task copies both sides
    of its final test from the first (it trains nothing at all), says so in its last
    lines, and verifies and replays; with --no-cache a third runs both sides again."""
    ledger = str(tmp_path / "l.sqlite")
    args = ("search", "--task", str(EXAMPLE), "--trials", "2", "--ledger", ledger)
    runs = [cli(*args, *extra, timeout=300) for extra in ((), (), ("--no-cache",))]
    assert [done.returncode for done in runs] == [0, 0, 0]
    store = open_ledger(ledger)
    first, second, third = (sid for sid, _ in store.searches())
    before, after, fresh = (_tested(store, sid) for sid in (first, second, third))
    assert before.status == "held"  # both sides ran: there is something to copy
    for old, new, ran in zip(_sides(before), _sides(after), _sides(fresh), strict=True):
        assert new.reused_from_search_id == first
        assert ran.reused_from_search_id is None
        assert _outcome(new) == _outcome(old)
        assert _scores(ran) == _scores(old)  # the same bits; its clocks read otherwise
    assert not [e for e in store.stream(second) if isinstance(e, t.TrainingProgressed)]
    assert "and 2 final-test runs reused from the ledger" in runs[1].stdout
    assert "final-test" not in runs[2].stdout
    assert "no divergence" in cli("replay", "--ledger", ledger, "--search", str(second)).stdout
    assert cli("verify", "--ledger", ledger).returncode == 0


def test_a_final_test_stored_as_v2_still_verifies_and_replays(tmp_path):
    """A ledger from before the final test was cached: its FinalTested (v2) names no
    source, and decodes as a test that ran both sides."""
    first, store, location = _search(tmp_path, FinalRuns())
    new = ("reused_from_search_id", "reused_from_trial_id", "reused_from_sequence", "cache_key")

    def as_v2(topic: str, body: dict) -> int | None:
        if not topic.endswith(":FinalTested"):
            return None
        for side in (body["best"], body["seed_recipe"]):
            for name in new:
                del side[name]
        return 2

    assert rewritten(Path(location), as_v2) == 1
    store = open_ledger(location)  # a fresh process reading the old file
    assert verify(store.read_all()).ok
    assert all(side.cache_key is None for side in _sides(_tested(store, first)))
    report = replay(search_events(store, first))
    assert report.ok, report.divergence
