"""Keep or discard as a recorded statistical decision: noise floor and Welch test.

A trial is kept only when it is valid and beats the current best by more than the noise
floor measured on the seed recipe. Every number used goes into the TrialJudged event, so
the decision can be re-computed, or re-made under another threshold, from the log alone.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Literal

from domain.base import Immutable
from domain.labels import Verdict
from domain.stats import welch_one_sided_p


class KeepRule(Immutable):
    """`noise_floor`: improvement > sigmas * sigma / sqrt(seeds per trial).
    `welch`: that, and a one-sided Welch test on per-seed scores with p < alpha.
    """

    name: Literal["noise_floor", "welch"] = "noise_floor"
    sigmas: float = 2.0
    alpha: float = 0.05
    min_floor: float = 0.0  # in metric units; a floor never goes below it


class NoiseFloor(Immutable):
    k: int
    scores: tuple[float, ...]
    sigma: float
    floor: float
    seeds_per_trial: int


class Judgement(Immutable):
    verdict: Verdict
    delta: float
    numbers: dict[str, float]


def measure_noise_floor(
    rule: KeepRule, scores: Sequence[float], seeds_per_trial: int
) -> NoiseFloor:
    """Sample standard deviation over the seed recipe's seeds, scaled to a trial's mean."""
    sigma = statistics.stdev(scores) if len(scores) >= 2 else 0.0
    floor = max(rule.sigmas * sigma / math.sqrt(max(seeds_per_trial, 1)), rule.min_floor)
    return NoiseFloor(
        k=len(scores),
        scores=tuple(scores),
        sigma=sigma,
        floor=floor,
        seeds_per_trial=seeds_per_trial,
    )


def decide(
    rule: KeepRule,
    noise: NoiseFloor,
    lower_is_better: bool,
    candidate: Sequence[float],
    best: Sequence[float],
) -> Judgement:
    """Compare the candidate's per-seed scores with the best's; means are the scores."""
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
