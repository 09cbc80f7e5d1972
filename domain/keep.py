"""Keep or discard as a recorded statistical decision: the rule's settings and the
noise model measured on the seed recipe.

The default rule, `paired`, compares a candidate with the best on the same training
seeds and held-out examples, racing more seeds while the decision is open; its test is
written out in domain/paired.py. The two earlier rules stay so that searches recorded
under them replay with the rule they ran: `noise_floor` keeps an improvement larger than
sigmas x sigma / sqrt(seeds per trial), and `welch` adds a one-sided Welch test.
Every number used goes into the events, so each decision can be re-computed from the log.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from domain.base import Immutable
from domain.labels import Verdict
from domain.stats import sd_interval, t_quantile, welch_one_sided_p

# The method of every noise floor measured before 2026-12-04 (and of the two earlier
# rules still): stored events without a method field read back with this one.
FLOOR_METHOD = "noise_floor: sigmas x sample sd of k runs / sqrt(seeds per trial)"
PAIRED_NOISE_METHOD = (
    "sample sd (n - 1) of k seed-recipe runs with its 90% chi-square interval"
    " (scipy.stats.chi2); floor = the mean improvement a one-sided t-test on the full"
    " seeds of two uncorrelated recipes would keep (guidance only: the decision uses the"
    " paired differences)"
)
SIGMA_CONFIDENCE = 0.90


class KeepRule(Immutable):
    """The task's [keep] table. `alpha`, the minimum effect and the bootstrap settings
    belong to `paired`; `sigmas` and `min_floor` to `noise_floor` and `welch`."""

    name: Literal["paired", "noise_floor", "welch"] = "paired"
    alpha: float = Field(default=0.05, gt=0, lt=0.5)  # one-sided level of the test
    min_effect: float = Field(default=0.0, ge=0)  # in metric units
    min_relative_effect: float = Field(default=0.0, ge=0)  # a fraction of the best's score
    example_blocks: int = Field(default=64, ge=2)  # held-out examples are averaged in blocks
    resamples: int = Field(default=9999, ge=99)  # bootstrap resamples of the blocks
    sigmas: float = 2.0
    min_floor: float = 0.0  # in metric units; a floor never goes below it

    def minimum_effect(self, best_mean: float) -> float:
        """The smallest improvement worth keeping, in metric units."""
        return max(self.min_effect, self.min_relative_effect * abs(best_mean))


class NoiseFloor(Immutable):
    """The noise model: how much the seed recipe's score moves between training seeds.

    `floor` is what an improvement must exceed under `noise_floor` and `welch`; under
    `paired` it is guidance for agents and reproductions, and the decision never reads it.
    """

    k: int
    scores: tuple[float, ...]
    sigma: float
    floor: float
    seeds_per_trial: int
    method: str = FLOOR_METHOD
    sigma_interval: tuple[float, float] | None = None
    heldout_se: float | None = None  # one run's standard error from its held-out blocks


Decision = Literal["keep", "discard", "more_seeds"]


class ExampleTest(Immutable):
    method: str
    blocks: int
    mean: float  # mean improvement over the blocks, metric units (> 0: candidate better)
    low: float
    high: float
    resamples: int
    rng_seed: int


class PairedTest(Immutable):
    """Every number behind one look at a candidate against the best."""

    method: str
    look: int  # 1 for the first look, one more per extra seed
    final: bool  # the cap was reached: only this look can keep
    decision: Decision
    reason: str
    candidate_seeds: tuple[int, ...]
    best_seeds: tuple[int, ...]  # the same seeds: the comparison is paired
    candidate_scores: tuple[float, ...]
    best_scores: tuple[float, ...]
    differences: tuple[float, ...]  # per-seed improvement, metric units (> 0: better)
    mean_improvement: float
    min_effect: float
    alpha: float
    statistic: float | None = None
    df: float | None = None
    p: float | None = None
    interval: tuple[float, float] | None = None  # of the mean improvement
    examples: ExampleTest | None = None


class Judgement(Immutable):
    verdict: Verdict
    delta: float
    numbers: dict[str, float]


def measure_noise_floor(
    rule: KeepRule,
    scores: Sequence[float],
    seeds_per_trial: int,
    blocks: Sequence[Sequence[float]] = (),
) -> NoiseFloor:
    """The noise model from the seed recipe's runs (all of them, scoring or not)."""
    sigma = statistics.stdev(scores) if len(scores) >= 2 else 0.0
    if rule.name != "paired":
        floor = max(rule.sigmas * sigma / math.sqrt(max(seeds_per_trial, 1)), rule.min_floor)
        return NoiseFloor(
            k=len(scores),
            scores=tuple(scores),
            sigma=sigma,
            floor=floor,
            seeds_per_trial=seeds_per_trial,
        )
    return NoiseFloor(
        k=len(scores),
        scores=tuple(scores),
        sigma=sigma,
        floor=_keepable(rule, scores, sigma, seeds_per_trial),
        seeds_per_trial=seeds_per_trial,
        method=PAIRED_NOISE_METHOD,
        sigma_interval=(
            sd_interval(sigma, len(scores) - 1, SIGMA_CONFIDENCE) if len(scores) >= 2 else None
        ),
        heldout_se=_heldout_se(blocks),
    )


def _keepable(rule: KeepRule, scores: Sequence[float], sigma: float, cap: int) -> float:
    """delta + t(1 - alpha, df) * sqrt(2) * sigma / sqrt(cap): seeds of two uncorrelated
    recipes differ by sqrt(2) sigma; pairing usually makes the real margin smaller."""
    delta = rule.minimum_effect(statistics.fmean(scores)) if scores else rule.min_effect
    df = cap - 1 if cap >= 2 else len(scores) - 1
    if sigma == 0.0 or df < 1:
        return delta
    return delta + t_quantile(1 - rule.alpha, df) * math.sqrt(2.0 / cap) * sigma


def _heldout_se(blocks: Sequence[Sequence[float]]) -> float | None:
    """Mean over runs of sd(blocks) / sqrt(blocks): how far one run's score could move if
    the held-out examples were drawn again."""
    usable = [b for b in blocks if len(b) >= 2]
    if not usable:
        return None
    return statistics.fmean(statistics.stdev(b) / math.sqrt(len(b)) for b in usable)


def decide(
    rule: KeepRule,
    noise: NoiseFloor,
    lower_is_better: bool,
    candidate: Sequence[float],
    best: Sequence[float],
) -> Judgement:
    """`noise_floor` and `welch`: compare the candidate's per-seed scores with the best's;
    means are the scores."""
    cand, ref = statistics.fmean(candidate), statistics.fmean(best)
    delta = cand - ref
    improvement = -delta if lower_is_better else delta
    numbers = {
        "candidate": cand,
        "best": ref,
        "improvement": improvement,
        "floor": noise.floor,
        "sigma": noise.sigma,
        "sigmas": rule.sigmas,
        "k": float(noise.k),
    }
    keep = improvement > noise.floor
    if rule.name == "welch":
        p = welch_one_sided_p(candidate, best, lower_is_better)
        numbers.update(p=p, alpha=rule.alpha)
        keep = keep and p < rule.alpha
    return Judgement(
        verdict=Verdict.KEEP if keep else Verdict.DISCARD, delta=delta, numbers=numbers
    )
