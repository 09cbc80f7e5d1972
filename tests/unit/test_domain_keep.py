"""Keep or discard: the noise model, the earlier rules (noise_floor, welch) and the
scipy statistics under every rule."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from domain.keep import FLOOR_METHOD, PAIRED_NOISE_METHOD, KeepRule, NoiseFloor, decide
from domain.keep import measure_noise_floor as measure
from domain.labels import Verdict
from domain.stats import (
    blocks_of,
    bootstrap_mean_interval,
    sd_interval,
    t_test_greater,
    t_test_known_scale,
    welch_one_sided_p,
)

FLOOR = KeepRule(name="noise_floor")

# Noise floor:


def test_one_seed_gives_no_spread() -> None:
    noise = measure(FLOOR, [1.25], seeds_per_trial=1)

    assert noise == NoiseFloor(k=1, scores=(1.25,), sigma=0.0, floor=0.0, seeds_per_trial=1)


def test_the_floor_is_sigmas_times_the_sample_deviation() -> None:
    noise = measure(FLOOR, [1.0, 2.0, 3.0], seeds_per_trial=1)

    assert (noise.k, noise.scores) == (3, (1.0, 2.0, 3.0))
    assert noise.sigma == pytest.approx(1.0)  # sample (n - 1) deviation, not population
    assert noise.floor == pytest.approx(2.0)


@pytest.mark.parametrize(("seeds", "floor"), [(1, 2.0), (4, 1.0), (16, 0.5), (0, 2.0)])
def test_the_floor_shrinks_with_the_root_of_the_seeds_per_trial(seeds: int, floor: float) -> None:
    noise = measure(FLOOR, [1.0, 2.0, 3.0], seeds)

    assert noise.sigma == pytest.approx(1.0)
    assert noise.floor == pytest.approx(floor)
    assert noise.seeds_per_trial == seeds


def test_the_floor_never_goes_below_min_floor() -> None:
    rule = KeepRule(name="noise_floor", sigmas=2.0, min_floor=0.5)

    assert measure(rule, [1.0], 1).floor == 0.5
    assert measure(rule, [1.0, 1.1], 1).floor == 0.5
    assert measure(rule, [1.0, 2.0, 3.0], 1).floor == pytest.approx(2.0)


# Decision:


def floor_of(value: float) -> NoiseFloor:
    return NoiseFloor(k=2, scores=(0.0, 0.0), sigma=0.125, floor=value, seeds_per_trial=1)


def test_lower_is_better_keeps_a_drop_bigger_than_the_floor() -> None:
    judgement = decide(FLOOR, floor_of(0.125), True, [0.75], [1.0])

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
    judgement = decide(FLOOR, floor_of(0.0), True, [1.25], [1.0])

    assert judgement.verdict is Verdict.DISCARD
    assert (judgement.delta, judgement.numbers["improvement"]) == (0.25, -0.25)


def test_higher_is_better_keeps_a_rise_and_discards_a_drop() -> None:
    up = decide(FLOOR, floor_of(0.125), False, [1.25], [1.0])
    down = decide(FLOOR, floor_of(0.125), False, [0.75], [1.0])

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
    lower = decide(FLOOR, floor_of(floor), True, [0.75], [1.0])
    higher = decide(FLOOR, floor_of(floor), False, [1.25], [1.0])

    assert lower.verdict is verdict
    assert higher.verdict is verdict


def test_the_scores_are_the_means_of_the_seeds() -> None:
    judgement = decide(FLOOR, floor_of(0.0), True, [0.5, 1.0], [1.0, 1.5])

    assert (judgement.numbers["candidate"], judgement.numbers["best"]) == (0.75, 1.25)
    assert judgement.delta == -0.5


def test_noise_floor_rule_records_no_p_value() -> None:
    judgement = decide(FLOOR, floor_of(0.0), True, [0.5, 0.51], [1.0, 1.01])

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


def test_the_paired_t_test_is_scipys_one_sided_test_against_the_reference() -> None:
    values = [0.30, 0.10, 0.25, 0.20]

    test = t_test_greater(values, 0.05, alpha=0.05)

    expected = stats.ttest_1samp(values, 0.05, alternative="greater")
    assert test.p == pytest.approx(expected.pvalue, rel=1e-12)
    assert test.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert test.df == 3
    margin = stats.t.ppf(0.95, 3) * stats.tstd(values) / 2  # sd / sqrt(4)
    assert (test.low, test.high) == pytest.approx((0.2125 - margin, 0.2125 + margin))


def test_a_t_test_without_variance_is_decided_by_the_sign() -> None:
    above = t_test_greater([0.5, 0.5, 0.5], 0.1, alpha=0.05)
    tie = t_test_greater([0.1, 0.1], 0.1, alpha=0.05)

    assert (above.p, above.statistic, above.low, above.high) == (0.0, None, 0.5, 0.5)
    assert tie.p == 1.0


def test_a_t_test_needs_two_values() -> None:
    with pytest.raises(ValueError, match="two values"):
        t_test_greater([0.5], 0.0, alpha=0.05)


def test_a_known_scale_test_uses_the_scales_degrees_of_freedom() -> None:
    test = t_test_known_scale(0.3, 0.1, df=4, reference=0.1, alpha=0.05)

    assert test.statistic == pytest.approx(2.0)
    assert test.p == pytest.approx(stats.t.sf(2.0, 4))
    assert test.low == pytest.approx(0.3 - stats.t.ppf(0.95, 4) * 0.1)
    assert t_test_known_scale(0.3, 0.0, df=4, reference=0.1, alpha=0.05).p == 0.0


def test_the_sd_interval_is_the_chi_square_one_and_holds_the_estimate() -> None:
    low, high = sd_interval(2.0, df=7, confidence=0.9)

    assert low == pytest.approx(2.0 * math.sqrt(7 / stats.chi2.ppf(0.95, 7)))
    assert high == pytest.approx(2.0 * math.sqrt(7 / stats.chi2.ppf(0.05, 7)))
    assert low < 2.0 < high


def test_blocks_are_contiguous_means_in_order() -> None:
    assert blocks_of([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 3) == (
        1.5,
        3.5,
        6.0,
    )  # [1, 2] [3, 4] [5, 6, 7]
    assert blocks_of([1.0, 2.0], 64) == (1.0, 2.0)
    assert blocks_of([1.0, math.nan, 2.0], 64) == ()  # no interval could use a NaN


def test_the_bootstrap_is_deterministic_for_a_seed_and_brackets_the_mean() -> None:
    values = [0.1 * ((7 * i) % 11) - 0.3 for i in range(40)]

    first = bootstrap_mean_interval(values, 0.05, seed=123, resamples=999)
    again = bootstrap_mean_interval(values, 0.05, seed=123, resamples=999)
    other = bootstrap_mean_interval(values, 0.05, seed=124, resamples=999)

    assert first == again
    assert first != other
    assert first[0] < sum(values) / len(values) < first[1]
    assert bootstrap_mean_interval([0.2, 0.2], 0.05, seed=1, resamples=999) == (0.2, 0.2)


def test_welch_is_scipys_unequal_variance_test() -> None:
    low, high = [0.50, 0.52, 0.48], [1.00, 1.03, 0.98, 1.01]

    expected = stats.ttest_ind(low, high, equal_var=False, alternative="less").pvalue
    assert welch_one_sided_p(low, high, lower_is_better=True) == pytest.approx(expected, rel=1e-12)
    assert welch_one_sided_p(high, low, lower_is_better=False) < 1e-4
    assert welch_one_sided_p(high, low, lower_is_better=True) > 1 - 1e-4


def test_welch_on_identical_samples_is_one_half() -> None:
    values = [1.0, 1.2, 0.9, 1.1]

    assert welch_one_sided_p(values, values, True) == pytest.approx(0.5, abs=1e-12)
    assert welch_one_sided_p(values, values, False) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize(("candidate", "best"), [([0.5], [1.0, 1.1]), ([0.5, 0.6], [1.0])])
def test_welch_needs_two_values_a_side(candidate: list[float], best: list[float]) -> None:
    assert welch_one_sided_p(candidate, best, True) == 1.0


def test_welch_without_variance_is_certain_either_way() -> None:
    assert welch_one_sided_p([0.5, 0.5], [1.0, 1.0], True) == 0.0
    assert welch_one_sided_p([1.0, 1.0], [1.0, 1.0], True) == 1.0
    assert welch_one_sided_p([1.5, 1.5], [1.0, 1.0], True) == 1.0


# The paired rule's noise model:


def test_the_paired_noise_model_records_its_method_interval_and_held_out_error() -> None:
    rule = KeepRule(alpha=0.05)
    scores = [1.0, 1.2, 0.9, 1.1, 1.05]

    noise = measure(rule, scores, 3, blocks=[(1.0, 1.2, 0.8, 1.0), (0.9, 1.1, 0.9, 1.1)])

    sd = stats.tstd(scores)
    assert (noise.k, noise.sigma, noise.method) == (5, pytest.approx(sd), PAIRED_NOISE_METHOD)
    assert noise.sigma_interval == pytest.approx(sd_interval(sd, 4, 0.9))
    assert noise.floor == pytest.approx(stats.t.ppf(0.95, 2) * math.sqrt(2 / 3) * sd)
    se = (stats.tstd([1.0, 1.2, 0.8, 1.0]) / 2 + stats.tstd([0.9, 1.1, 0.9, 1.1]) / 2) / 2
    assert noise.heldout_se == pytest.approx(se)


def test_the_paired_floor_starts_at_the_minimum_effect() -> None:
    rule = KeepRule(min_effect=0.01, min_relative_effect=0.05)

    assert measure(rule, [2.0, 2.0, 2.0], 3).floor == pytest.approx(0.1)  # 5% of 2.0
    assert measure(rule, [2.0], 3).sigma_interval is None


def test_the_earlier_rules_keep_their_noise_floor_method() -> None:
    noise = measure(FLOOR, [1.0, 2.0], 1, blocks=[(1.0, 2.0)])

    assert (noise.method, noise.sigma_interval, noise.heldout_se) == (FLOOR_METHOD, None, None)
