"""Keep or discard: the noise floor, the decision rule and the statistics under it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.keep import KeepRule, NoiseFloor, decide, measure_noise_floor
from domain.labels import Verdict
from domain.stats import regularized_beta, student_t_sf, welch_one_sided_p

# Noise floor:


def test_one_seed_gives_no_spread() -> None:
    noise = measure_noise_floor(KeepRule(), [1.25], seeds_per_trial=1)

    assert noise == NoiseFloor(k=1, scores=(1.25,), sigma=0.0, floor=0.0, seeds_per_trial=1)


def test_the_floor_is_sigmas_times_the_sample_deviation() -> None:
    noise = measure_noise_floor(KeepRule(sigmas=2.0), [1.0, 2.0, 3.0], seeds_per_trial=1)

    assert (noise.k, noise.scores) == (3, (1.0, 2.0, 3.0))
    assert noise.sigma == pytest.approx(1.0)  # sample (n - 1) deviation, not population
    assert noise.floor == pytest.approx(2.0)


@pytest.mark.parametrize(("seeds", "floor"), [(1, 2.0), (4, 1.0), (16, 0.5), (0, 2.0)])
def test_the_floor_shrinks_with_the_root_of_the_seeds_per_trial(seeds: int, floor: float) -> None:
    noise = measure_noise_floor(KeepRule(sigmas=2.0), [1.0, 2.0, 3.0], seeds)

    assert noise.sigma == pytest.approx(1.0)
    assert noise.floor == pytest.approx(floor)
    assert noise.seeds_per_trial == seeds


def test_the_floor_never_goes_below_min_floor() -> None:
    rule = KeepRule(sigmas=2.0, min_floor=0.5)

    assert measure_noise_floor(rule, [1.0], 1).floor == 0.5
    assert measure_noise_floor(rule, [1.0, 1.1], 1).floor == 0.5
    assert measure_noise_floor(rule, [1.0, 2.0, 3.0], 1).floor == pytest.approx(2.0)


# Decision:


def floor_of(value: float) -> NoiseFloor:
    return NoiseFloor(k=2, scores=(0.0, 0.0), sigma=0.125, floor=value, seeds_per_trial=1)


def test_lower_is_better_keeps_a_drop_bigger_than_the_floor() -> None:
    judgement = decide(KeepRule(), floor_of(0.125), True, [0.75], [1.0])

    assert judgement.verdict is Verdict.KEEP
    assert judgement.delta == -0.25
    assert judgement.numbers == {
        "candidate": 0.75,
        "best": 1.0,
        "improvement": 0.25,
        "floor": 0.125,
        "sigma": 0.125,
        "sigmas": 2.0,
        "k": 2.0,
    }


def test_lower_is_better_discards_a_rise() -> None:
    judgement = decide(KeepRule(), floor_of(0.0), True, [1.25], [1.0])

    assert judgement.verdict is Verdict.DISCARD
    assert (judgement.delta, judgement.numbers["improvement"]) == (0.25, -0.25)


def test_higher_is_better_keeps_a_rise_and_discards_a_drop() -> None:
    up = decide(KeepRule(), floor_of(0.125), False, [1.25], [1.0])
    down = decide(KeepRule(), floor_of(0.125), False, [0.75], [1.0])

    assert (up.verdict, up.delta, up.numbers["improvement"]) == (
        Verdict.KEEP,
        0.25,
        0.25,
    )
    assert (down.verdict, down.numbers["improvement"]) == (Verdict.DISCARD, -0.25)


@pytest.mark.parametrize(
    ("floor", "verdict"),
    [(0.25, Verdict.DISCARD), (math.nextafter(0.25, 0.0), Verdict.KEEP)],
)
def test_the_improvement_must_be_strictly_greater_than_the_floor(
    floor: float, verdict: Verdict
) -> None:
    lower = decide(KeepRule(), floor_of(floor), True, [0.75], [1.0])
    higher = decide(KeepRule(), floor_of(floor), False, [1.25], [1.0])

    assert lower.verdict is verdict
    assert higher.verdict is verdict


def test_the_scores_are_the_means_of_the_seeds() -> None:
    judgement = decide(KeepRule(), floor_of(0.0), True, [0.5, 1.0], [1.0, 1.5])

    assert (judgement.numbers["candidate"], judgement.numbers["best"]) == (0.75, 1.25)
    assert judgement.delta == -0.5


def test_noise_floor_rule_records_no_p_value() -> None:
    judgement = decide(KeepRule(), floor_of(0.0), True, [0.5, 0.51], [1.0, 1.01])

    assert "p" not in judgement.numbers
    assert "alpha" not in judgement.numbers


WELCH = KeepRule(name="welch", alpha=0.05)


def test_welch_keeps_a_clear_gain_and_records_p_and_alpha() -> None:
    candidate, best = [0.50, 0.51, 0.49, 0.50], [1.00, 1.01, 0.99, 1.00]

    judgement = decide(WELCH, floor_of(0.1), True, candidate, best)

    assert judgement.verdict is Verdict.KEEP
    assert judgement.numbers["alpha"] == 0.05
    assert judgement.numbers["p"] == welch_one_sided_p(candidate, best, True)
    assert judgement.numbers["p"] < 1e-6


def test_welch_discards_a_gain_over_the_floor_without_a_small_p() -> None:
    # improvement 0.5 > floor 0.1, but one seed each gives no variance: p = 1
    judgement = decide(WELCH, floor_of(0.1), True, [0.5], [1.0])

    assert judgement.numbers["improvement"] == 0.5
    assert judgement.numbers["p"] == 1.0
    assert judgement.verdict is Verdict.DISCARD


def test_welch_discards_a_significant_gain_under_the_floor() -> None:
    candidate, best = [0.50, 0.51, 0.49, 0.50], [1.00, 1.01, 0.99, 1.00]

    judgement = decide(WELCH, floor_of(0.6), True, candidate, best)

    assert judgement.numbers["p"] < 0.05
    assert judgement.verdict is Verdict.DISCARD


# Statistics:


def test_student_t_tail_matches_tables() -> None:
    assert student_t_sf(2.0, 10) == pytest.approx(0.036694, abs=1e-6)
    assert student_t_sf(1.0, 1) == pytest.approx(0.25, abs=1e-12)  # Cauchy
    assert student_t_sf(2.228, 10) == pytest.approx(0.025, abs=1e-4)


@pytest.mark.parametrize("df", [1, 3.5, 30, 1e6])
def test_student_t_tail_at_zero_is_one_half(df: float) -> None:
    assert student_t_sf(0.0, df) == pytest.approx(0.5, abs=1e-12)


def test_student_t_tail_tends_to_the_normal_tail() -> None:
    assert student_t_sf(2.0, 1e6) == pytest.approx(0.02275, abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(t=st.floats(-30, 30), df=st.floats(0.5, 1e4))
def test_student_t_tail_is_a_probability_and_symmetric(t: float, df: float) -> None:
    upper = student_t_sf(t, df)

    assert 0.0 <= upper <= 1.0
    assert upper + student_t_sf(-t, df) == pytest.approx(1.0, abs=1e-9)


def test_regularized_beta_bounds_and_symmetric_midpoint() -> None:
    assert regularized_beta(2.0, 3.0, 0.0) == 0.0
    assert regularized_beta(2.0, 3.0, 1.0) == 1.0
    assert regularized_beta(4.0, 4.0, 0.5) == pytest.approx(0.5, abs=1e-12)
    assert regularized_beta(1.0, 1.0, 0.3) == pytest.approx(0.3, abs=1e-12)


def test_welch_on_identical_samples_is_one_half() -> None:
    values = [1.0, 1.2, 0.9, 1.1]

    assert welch_one_sided_p(values, values, True) == pytest.approx(0.5, abs=1e-12)
    assert welch_one_sided_p(values, values, False) == pytest.approx(0.5, abs=1e-12)


def test_welch_p_is_small_for_a_clear_gain_and_large_for_a_clear_loss() -> None:
    low, high = [0.50, 0.52, 0.48], [1.00, 1.02, 0.98]

    assert welch_one_sided_p(low, high, lower_is_better=True) < 1e-4
    assert welch_one_sided_p(high, low, lower_is_better=False) < 1e-4
    assert welch_one_sided_p(high, low, lower_is_better=True) > 1 - 1e-4


@pytest.mark.parametrize(("candidate", "best"), [([0.5], [1.0, 1.1]), ([0.5, 0.6], [1.0])])
def test_welch_needs_two_values_a_side(candidate: list[float], best: list[float]) -> None:
    assert welch_one_sided_p(candidate, best, True) == 1.0


def test_welch_without_variance_is_certain_either_way() -> None:
    assert welch_one_sided_p([0.5, 0.5], [1.0, 1.0], True) == 0.0
    assert welch_one_sided_p([1.0, 1.0], [1.0, 1.0], True) == 1.0
    assert welch_one_sided_p([1.5, 1.5], [1.0, 1.0], True) == 1.0
