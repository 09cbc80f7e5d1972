"""The `paired` keep rule: paired seeds, paired held-out examples, racing. Pure functions.

What is tested, exactly. s = +1 when the metric is maximised, -1 when minimised. The
candidate C and the current best B are compared on the same training seeds (common
random numbers: seed i drives the same initialisation and data order on both sides):

    d_i = s * (m_C(seed_i) - m_B(seed_i))        paired improvement; > 0: C is better
    delta = max(min_effect, min_relative_effect * |mean of m_B on those seeds|)

    H0: mu_d <= delta    against    H1: mu_d > delta       one-sided, level alpha

where mu_d is C's mean improvement over the population of training seeds.

Racing. C first runs [seeds] per_trial seeds. At each look with n < cap ([seeds]
max_per_trial) seeds, C earns one more seed if mean(d) > delta (it looks better by the
minimum effect), and is discarded at once otherwise (a tie, zero improvement, is a
discard). At n = cap, the final look, C is kept if and only if both hold:

 1. seeds: a one-sample t-test of d against delta, p < alpha (scipy.stats.ttest_1samp,
    alternative "greater"; zero variance: p = 0 if mean(d) > delta, else 1). With one
    seed (cap = 1) the pair gives no variance: then Var(d) = 2 sigma^2, sigma from the
    noise model's k seed-recipe runs (as for two uncorrelated runs; pairs that share a
    seed usually correlate positively and vary less), t = (d - delta) / (sqrt(2) sigma)
    with k - 1 degrees of freedom (scipy.stats.t).
 2. held-out examples, when both sides report per-example values (in the metric's
    units and direction: their mean is, or stands for, the score) for every paired
    seed: e_b = the mean over the paired seeds of s * (C - B) on block b of contiguous
    held-out examples; the one-sided (1 - alpha) percentile-bootstrap lower bound of
    mean(e) over the blocks must exceed delta (scipy.stats.bootstrap, `resamples`
    resamples of the blocks, the generator seeded from the trial id, so replay gives the
    same bound). This bounds the held-out split's own sampling noise, which every seed
    shares and the seed test cannot see. Without such values the rule uses seeds alone
    and says so.

Interim looks spend no alpha: they can only stop for futility, and a non-binding futility
stop can only lower the type-I error, so all of alpha is spent at the final look (an
alpha-spending function of 0 before the last look, alpha at it). Requiring 1 and 2 is an
intersection-union test: its level is alpha with each part at alpha. Intervals are the
(1 - 2 alpha) two-sided ones; their low end is the one-sided (1 - alpha) bound.
"""

from __future__ import annotations

import statistics

from domain.base import Immutable
from domain.keep import ExampleTest, KeepRule, NoiseFloor, PairedTest
from domain.stats import TTest, bootstrap_mean_interval, t_test_greater, t_test_known_scale
from domain.trial import SeedResult

SEED_METHOD = (
    "paired t-test (scipy.stats.ttest_1samp, one-sided) of the per-seed improvement against"
    " the minimum effect; interim looks stop for futility only, all alpha at the final look"
)
ONE_SEED_METHOD = (
    "one paired seed: t-test of its improvement against the minimum effect with var ="
    " 2 sigma^2 from the noise model's k seed-recipe runs (scipy.stats.t, one-sided)"
)
LOOK_METHOD = "interim look: one more seed if the mean improvement exceeds the minimum effect"
EXAMPLE_METHOD = (
    "paired percentile bootstrap (scipy.stats.bootstrap) of the mean improvement over {blocks}"
    " contiguous blocks of held-out examples, averaged over the paired seeds; kept only"
    " with the seed test (intersection-union)"
)


class MoreSeeds(Immutable):
    """A racing look left the decision open: run the trial again on these seeds."""

    seeds: tuple[int, ...]
    test: PairedTest


class Sides(Immutable):
    """What one look compares: results by seed, in the order the candidate ran them."""

    candidate: dict[int, SeedResult]
    best: dict[int, SeedResult]
    lower_is_better: bool
    cap: int  # max seeds per trial
    looks: int  # looks before this one
    rng_seed: int  # the bootstrap's generator seed (from the trial id)


def look(rule: KeepRule, noise: NoiseFloor | None, sides: Sides) -> PairedTest:
    """The decision at this look: keep, discard, or run one more seed."""
    sign = -1.0 if sides.lower_is_better else 1.0
    seeds = [s for s in sides.candidate if s in sides.best]
    cand = tuple(_score(sides.candidate[s]) for s in seeds)
    best = tuple(_score(sides.best[s]) for s in seeds)
    diffs = tuple(sign * (c - b) for c, b in zip(cand, best, strict=True))
    mean = statistics.fmean(diffs) if diffs else 0.0
    delta = rule.minimum_effect(statistics.fmean(best) if best else 0.0)
    base = PairedTest(
        method=LOOK_METHOD,
        look=sides.looks + 1,
        final=len(sides.candidate) >= sides.cap,
        decision="discard",
        reason="",
        candidate_seeds=tuple(seeds),
        best_seeds=tuple(seeds),
        candidate_scores=cand,
        best_scores=best,
        differences=diffs,
        mean_improvement=mean,
        min_effect=delta,
        alpha=rule.alpha,
    )
    if not diffs:
        return base.model_copy(update={"reason": "no seed in common with the best"})
    if not base.final:
        return _interim(base)
    return _final(base, rule, noise, sides, sign)


def _interim(test: PairedTest) -> PairedTest:
    n, mean, delta = len(test.differences), test.mean_improvement, test.min_effect
    if mean > delta:
        why = f"mean improvement {mean:.6g} > minimum effect {delta:.6g} on {n} seed(s): one more"
        return test.model_copy(update={"decision": "more_seeds", "reason": why})
    why = f"mean improvement {mean:.6g} <= minimum effect {delta:.6g} on {n} seed(s): stop"
    return test.model_copy(update={"reason": why})


def _final(
    test: PairedTest, rule: KeepRule, noise: NoiseFloor | None, sides: Sides, sign: float
) -> PairedTest:
    seed_test, method = _seed_test(test, rule, noise)
    examples = _example_test(test, rule, sides, sign)
    keep = seed_test.p < rule.alpha and (examples is None or examples.low > test.min_effect)
    parts = [
        f"p {seed_test.p:.4g} {'<' if seed_test.p < rule.alpha else '>='} alpha {rule.alpha:g}"
    ]
    if examples is None:
        parts.append("seeds only (no per-example values on both sides)")
    else:
        side = ">" if examples.low > test.min_effect else "<="
        parts.append(
            f"example bound {examples.low:.6g} {side} minimum effect {test.min_effect:.6g}"
        )
    return test.model_copy(
        update={
            "method": method,
            "decision": "keep" if keep else "discard",
            "reason": "; ".join(parts),
            "statistic": seed_test.statistic,
            "df": seed_test.df,
            "p": seed_test.p,
            "interval": (seed_test.low, seed_test.high),
            "examples": examples,
        }
    )


def _seed_test(test: PairedTest, rule: KeepRule, noise: NoiseFloor | None) -> tuple[TTest, str]:
    diffs = test.differences
    if len(diffs) >= 2:
        return t_test_greater(diffs, test.min_effect, rule.alpha), SEED_METHOD
    sigma, k = (noise.sigma, noise.k) if noise is not None else (0.0, 0)
    if k < 2:  # no spread to test one seed against: nothing can be shown
        return TTest(statistic=None, df=0.0, p=1.0, low=diffs[0], high=diffs[0]), ONE_SEED_METHOD
    scale = (2.0**0.5) * sigma
    return t_test_known_scale(diffs[0], scale, k - 1, test.min_effect, rule.alpha), ONE_SEED_METHOD


def _example_test(
    test: PairedTest, rule: KeepRule, sides: Sides, sign: float
) -> ExampleTest | None:
    pairs = [
        (sides.candidate[s].per_example, sides.best[s].per_example) for s in test.candidate_seeds
    ]
    widths = {len(c) for c, _ in pairs} | {len(b) for _, b in pairs}
    if len(widths) != 1 or min(widths) < 2:  # missing on a side, or nothing to resample
        return None
    per_block = [
        statistics.fmean(sign * (c[i] - b[i]) for c, b in pairs) for i in range(widths.pop())
    ]
    low, high = bootstrap_mean_interval(per_block, rule.alpha, sides.rng_seed, rule.resamples)
    return ExampleTest(
        method=EXAMPLE_METHOD.format(blocks=len(per_block)),
        blocks=len(per_block),
        mean=statistics.fmean(per_block),
        low=low,
        high=high,
        resamples=rule.resamples,
        rng_seed=sides.rng_seed,
    )


def _score(result: SeedResult) -> float:
    if result.score is None:
        raise ValueError(f"seed {result.seed} has no score")
    return result.score


def racing_score(before: dict[int, SeedResult], new: tuple[SeedResult, ...]) -> float | None:
    """A trial's score after a further look: the mean over every scoring seed it has run,
    in run order (None at its first look, where the evaluator's own mean stands)."""
    if not before:
        return None
    values = [r.score for r in (*before.values(), *new) if r.scoring and r.score is not None]
    return statistics.fmean(values) if values else None
