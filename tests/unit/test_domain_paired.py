"""The paired keep rule, look by look: given each side's results by seed, when the judge
looks, then keep, discard or one more seed, with every number of the test."""

from __future__ import annotations

import pytest
from scipy import stats

from domain.keep import KeepRule, NoiseFloor
from domain.paired import EXAMPLE_METHOD, ONE_SEED_METHOD, SEED_METHOD, Sides, look, racing_score
from domain.trial import SeedResult

RULE = KeepRule(alpha=0.05)
BEST = {0: 1.00, 1: 0.99, 2: 1.01, 3: 1.00, 4: 0.98}  # the baseline ran five seeds


def results(
    scores: dict[int, float], examples: dict[int, tuple[float, ...]] | None = None
) -> dict[int, SeedResult]:
    examples = examples or {}
    return {
        s: SeedResult(seed=s, score=v, per_example=examples.get(s, ())) for s, v in scores.items()
    }


def sides(
    candidate: dict[int, float],
    best: dict[int, float] = BEST,
    lower: bool = True,
    cap: int = 3,
    looks: int = 0,
    candidate_examples: dict[int, tuple[float, ...]] | None = None,
    best_examples: dict[int, tuple[float, ...]] | None = None,
) -> Sides:
    return Sides(
        candidate=results(candidate, candidate_examples),
        best=results(best, best_examples),
        lower_is_better=lower,
        cap=cap,
        looks=looks,
        rng_seed=7,
    )


# Interim looks: racing.


def test_a_candidate_worse_on_its_first_seed_stops_at_once() -> None:
    test = look(RULE, None, sides({0: 1.10}))

    assert (test.decision, test.look, test.final) == ("discard", 1, False)
    assert test.differences == pytest.approx((-0.10,))
    assert test.p is None  # no test is run at an interim look: it spends no alpha
    assert "stop" in test.reason


def test_a_candidate_better_on_its_first_seed_earns_one_more_seed() -> None:
    test = look(RULE, None, sides({0: 0.90}))

    assert test.decision == "more_seeds"
    assert (test.candidate_seeds, test.best_seeds) == ((0,), (0,))
    assert (test.candidate_scores, test.best_scores) == ((0.90,), (1.00,))
    assert test.mean_improvement == pytest.approx(0.10)


def test_a_tie_on_the_first_seed_is_a_discard() -> None:
    assert look(RULE, None, sides({0: 1.00})).decision == "discard"


def test_a_second_seed_that_undoes_the_first_stops_the_race() -> None:
    test = look(RULE, None, sides({0: 0.95, 1: 1.10}, looks=1))

    assert (test.decision, test.look) == ("discard", 2)
    assert test.mean_improvement == pytest.approx((0.05 - 0.11) / 2)


# The final look, at the cap.


def test_at_the_cap_a_consistent_gain_is_kept_with_every_number() -> None:
    test = look(RULE, None, sides({0: 0.90, 1: 0.88, 2: 0.92}, looks=2))

    diffs = (0.10, 0.11, 0.09)
    expected = stats.ttest_1samp(diffs, 0.0, alternative="greater")
    assert (test.decision, test.final, test.look, test.method) == ("keep", True, 3, SEED_METHOD)
    assert test.candidate_seeds == test.best_seeds == (0, 1, 2)
    assert test.differences == pytest.approx(diffs)
    assert test.p == pytest.approx(expected.pvalue)
    assert test.statistic == pytest.approx(expected.statistic)
    assert test.df == 2
    assert test.interval is not None
    assert test.interval[0] > 0 > -test.interval[1]
    assert (test.min_effect, test.alpha, test.examples) == (0.0, 0.05, None)
    assert "seeds only" in test.reason


def test_at_the_cap_a_noisy_gain_is_discarded() -> None:
    test = look(RULE, None, sides({0: 0.70, 1: 1.19, 2: 0.91}, looks=2))

    assert test.mean_improvement > 0
    assert test.p is not None
    assert test.p > 0.05
    assert test.decision == "discard"


def test_a_gain_below_the_minimum_effect_in_metric_units_stops_at_once() -> None:
    rule = KeepRule(min_effect=0.05)

    first = look(rule, None, sides({0: 0.97}))
    last = look(rule, None, sides({0: 0.90, 1: 0.93, 2: 0.95}, looks=2))

    assert (first.decision, first.min_effect) == ("discard", 0.05)
    assert last.mean_improvement == pytest.approx(0.0733, abs=1e-3)
    assert last.p == pytest.approx(
        stats.ttest_1samp(last.differences, 0.05, alternative="greater").pvalue
    )
    assert last.decision == "discard"  # better, but not surely by 0.05


def test_a_relative_minimum_effect_scales_with_the_best() -> None:
    rule = KeepRule(min_relative_effect=0.1)

    test = look(rule, None, sides({0: 9.5}, best={0: 10.0, 1: 10.0, 2: 10.0}))

    assert test.min_effect == pytest.approx(1.0)
    assert test.decision == "discard"


def test_higher_is_better_mirrors_lower_is_better() -> None:
    up = look(RULE, None, sides({0: 1.10, 1: 1.11, 2: 1.09}, lower=False, looks=2))
    down = look(RULE, None, sides({0: 0.90}, lower=False))

    assert up.decision == "keep"
    assert up.differences == pytest.approx((0.10, 0.12, 0.08))
    assert down.decision == "discard"


def test_zero_variance_keeps_a_gain_and_discards_a_tie() -> None:
    best = {0: 1.0, 1: 1.0, 2: 1.0}

    gain = look(RULE, None, sides({0: 0.9, 1: 0.9, 2: 0.9}, best=best, looks=2))
    tie = look(RULE, None, sides({0: 1.0, 1: 1.0, 2: 1.0}, best=best))

    assert (gain.decision, gain.p, gain.statistic) == ("keep", 0.0, None)
    assert (tie.decision, tie.p, tie.final) == ("discard", 1.0, True)


def test_every_seed_at_once_is_one_final_look() -> None:
    test = look(RULE, None, sides({0: 0.90, 1: 0.88, 2: 0.92}, cap=3, looks=0))

    assert (test.look, test.final, test.decision) == (1, True, "keep")


def test_one_seed_per_trial_is_tested_against_the_noise_model() -> None:
    noise = NoiseFloor(k=8, scores=(1.0,) * 8, sigma=0.02, floor=0.0, seeds_per_trial=1)

    test = look(RULE, noise, sides({0: 0.93}, cap=1))

    scale = 2**0.5 * 0.02
    assert test.method == ONE_SEED_METHOD
    assert (test.df, test.statistic) == (7, pytest.approx(0.07 / scale))
    assert test.p == pytest.approx(stats.t.sf(0.07 / scale, 7))
    assert test.decision == "keep"


def test_one_seed_without_a_measured_spread_cannot_be_kept() -> None:
    test = look(RULE, None, sides({0: 0.5}, cap=1))

    assert (test.decision, test.p) == ("discard", 1.0)


def test_no_seed_in_common_with_the_best_is_a_discard() -> None:
    test = look(RULE, None, sides({7: 0.5}))

    assert (test.decision, test.differences) == ("discard", ())
    assert "no seed in common" in test.reason


# Held-out examples.

CAND = {0: 0.90, 1: 0.89, 2: 0.91}


def blocks(values: list[float]) -> dict[int, tuple[float, ...]]:
    return {s: tuple(values) for s in range(3)}


def test_per_example_values_add_a_deterministic_bootstrap_bound() -> None:
    better = [0.1 + 0.01 * (i % 5) for i in range(40)]
    case = sides(
        CAND,
        looks=2,
        candidate_examples=blocks([1.0 - b for b in better]),
        best_examples=blocks([1.0] * 40),
    )

    first, again = look(RULE, None, case), look(RULE, None, case)

    assert first.examples is not None
    assert first.examples == again.examples  # seeded from the trial: replay agrees
    assert first.examples.blocks == 40
    assert first.examples.method == EXAMPLE_METHOD.format(blocks=40)
    assert first.examples.mean == pytest.approx(sum(better) / 40)
    assert first.examples.low > 0
    assert first.decision == "keep"
    assert "example bound" in first.reason


def test_held_out_noise_blocks_a_keep_the_seeds_alone_would_give() -> None:
    noisy = [(-1) ** i * 0.5 + 0.02 for i in range(20)]  # mean 0.02, spread 0.5
    case = sides(
        CAND,
        looks=2,
        candidate_examples=blocks([1.0 - b for b in noisy]),
        best_examples=blocks([1.0] * 20),
    )

    test = look(RULE, None, case)

    assert test.p is not None
    assert test.p < 0.05
    assert test.examples is not None
    assert test.examples.low < 0 < test.examples.high
    assert test.decision == "discard"


def test_examples_missing_on_one_side_leave_the_seeds_alone() -> None:
    case = sides(CAND, looks=2, candidate_examples=blocks([0.5] * 10))

    test = look(RULE, None, case)

    assert test.examples is None
    assert test.decision == "keep"


# The score after a further look.


def test_the_score_after_more_seeds_is_the_mean_of_all_of_them() -> None:
    before = results({0: 0.9})
    new = (SeedResult(seed=1, score=0.8), SeedResult(seed=9, score=5.0, scoring=False))

    assert racing_score({}, new) is None  # the first look: the evaluator's mean stands
    assert racing_score(before, new) == pytest.approx(0.85)
