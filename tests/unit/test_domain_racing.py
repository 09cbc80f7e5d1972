"""Racing in the fold: given a search's events, when a trial is scored, then the judge
asks for one more seed, or gives its verdict against the best of that moment."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain import search as s
from domain import trial as t
from domain.keep import KeepRule, measure_noise_floor
from domain.labels import BASELINE, TrialStatus, Verdict
from domain.paired import MoreSeeds
from domain.progress import judgement
from domain.task import Gate, Seeds, TaskSpec
from tests.support import RACING_TASK
from tests.unit.test_domain_progress import Scenario

SEEDS = Seeds(per_trial=1, max_per_trial=3, noise=5)
BASELINE_SCORES = (1.00, 0.99, 1.01, 1.00, 0.98)


def result(seed: int, score: float) -> t.SeedResult:
    return t.SeedResult(seed=seed, score=score)


def facts(seeds: tuple[int, ...]) -> dict[str, object]:
    return {
        "runner": "local",
        "host": "h",
        "seeds": seeds,
        "threads": 1,
        "budgets": {},
        "sandbox": "none",
        "rules_version": "tiny/1",
        "recipe_sha256": "c",
        "deterministic": True,
        "clock": "cpu",
    }


class Race(Scenario):
    """A paired search with a judged five-seed baseline."""

    def __init__(self) -> None:
        super().__init__(keep_rule=KeepRule(alpha=0.05))
        self.baseline = self.propose(specialist=BASELINE)
        self.launch(self.baseline)
        self.score(
            self.baseline,
            1.0,
            *(result(i, v) for i, v in enumerate(BASELINE_SCORES)),
        )
        noise = measure_noise_floor(KeepRule(), BASELINE_SCORES, SEEDS.cap)
        self._apply(s.measure_noise_floor(self.state.started, self.baseline, noise))
        self.verdict(self.baseline)

    def look(self, tid: UUID) -> dict[str, object] | MoreSeeds:
        return judgement(self.state, tid, SEEDS)

    def verdict(self, tid: UUID) -> t.TrialJudged:
        fields = self.look(tid)
        assert not isinstance(fields, MoreSeeds)
        event = t.judge(self.state.trials[tid], **fields, timestamp=self.tick())
        self._apply(event)
        return event

    def extend(self, tid: UUID) -> MoreSeeds:
        more = self.look(tid)
        assert isinstance(more, MoreSeeds)
        self._apply(
            t.extend(
                self.state.trials[tid], **facts(more.seeds), test=more.test, timestamp=self.tick()
            )
        )
        return more

    def seed(self, tid: UUID, seed: int, score: float) -> None:
        self.score(tid, score, result(seed, score))


def test_a_trial_that_looks_better_races_to_the_cap_and_is_kept_there() -> None:
    race = Race()
    tid = race.propose(specialist="opt")
    race.launch(tid)  # seed 0
    race.seed(tid, 0, 0.90)

    first = race.extend(tid)
    assert (first.seeds, first.test.look, first.test.decision) == ((1,), 1, "more_seeds")
    assert race.state.trials[tid].status is TrialStatus.LAUNCHED
    assert [tr.id for tr in race.state.in_flight()] == [tid]  # open while it races

    race.seed(tid, 1, 0.88)
    second = race.extend(tid)
    assert (second.seeds, second.test.look) == ((2,), 2)

    race.seed(tid, 2, 0.92)
    judged = race.verdict(tid)

    assert (judged.verdict, judged.rule) == (Verdict.KEEP, "paired")
    assert judged.test is not None
    assert (judged.test.look, judged.test.final) == (3, True)
    assert judged.test.candidate_seeds == judged.test.best_seeds == (0, 1, 2)
    assert judged.test.best_scores == BASELINE_SCORES[:3]
    assert judged.delta == pytest.approx(-judged.test.mean_improvement)
    assert race.state.launched_seeds[tid] == (0, 1, 2)
    assert race.state.looks[tid] == 2
    assert race.state.best_id == tid
    assert race.state.in_flight() == []


def test_a_trial_worse_on_its_first_seed_is_discarded_without_more_seeds() -> None:
    race = Race()
    tid = race.propose(specialist="opt")
    race.launch(tid)
    race.seed(tid, 0, 1.05)

    judged = race.verdict(tid)

    assert judged.verdict is Verdict.DISCARD
    assert judged.test is not None
    assert (judged.test.look, judged.test.final, judged.test.p) == (1, False, None)
    assert race.state.best_id == race.baseline


def test_a_later_look_compares_with_the_best_of_that_moment() -> None:
    race = Race()
    racer = race.propose(specialist="opt")
    race.launch(racer)
    race.seed(racer, 0, 0.95)
    race.extend(racer)  # meanwhile, another trial is kept on all three seeds:
    winner = race.propose(specialist="arch")
    race.launch(winner)
    race.score(winner, 0.5, result(0, 0.50), result(1, 0.51), result(2, 0.49))
    assert race.verdict(winner).verdict is Verdict.KEEP

    race.seed(racer, 1, 0.94)
    judged = race.verdict(racer)

    assert judged.best_before_id == winner
    assert judged.test is not None
    assert judged.test.best_scores == (0.50, 0.51)
    assert judged.verdict is Verdict.DISCARD  # it beat the baseline, not the new best


def test_extension_needs_a_scored_trial() -> None:
    race = Race()
    tid = race.propose(specialist="opt")
    race.launch(tid)

    with pytest.raises(t.TrialError, match="cannot extend"):
        t.extend(race.state.trials[tid], **facts((1,)), test=None)


# Settings that cannot race are refused when the task is read:


def test_the_cap_defaults_to_three_and_never_sits_below_the_first_look() -> None:
    assert (Seeds().cap, Seeds(per_trial=5).cap, Seeds(max_per_trial=1).cap) == (3, 5, 1)
    with pytest.raises(ValueError, match=r"max_per_trial \(2\) is below per_trial \(3\)"):
        Seeds(per_trial=3, max_per_trial=2)


def test_a_gated_task_runs_every_seed_at_once_and_one_seed_needs_a_noise_model() -> None:
    fields = RACING_TASK.model_dump()
    gate = Gate(metric="accuracy", threshold=0.9).model_dump()
    with pytest.raises(ValueError, match="runs them all at once"):
        TaskSpec.model_validate({**fields, "gate": gate})
    one_seed = {"per_trial": 1, "max_per_trial": 1, "noise": 2}
    with pytest.raises(ValueError, match="noise to 3 or more"):
        TaskSpec.model_validate({**fields, "seeds": one_seed})
    fixed = {**fields, "gate": gate, "seeds": {"per_trial": 5, "max_per_trial": 5, "noise": 8}}
    assert TaskSpec.model_validate(fixed).seed_cap == 5
