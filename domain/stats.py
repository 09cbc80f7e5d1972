"""The statistics under the keep rules, from scipy.stats: pure computation, no I/O.

scipy is imported inside each function: importing scipy.stats costs most of a second,
and commands that judge nothing (`cli.py --help`, `show`) should not pay for it. Every
function returns plain floats, so the numbers go into events as JSON.
"""

from __future__ import annotations

import itertools
import math
import statistics
import warnings
from collections.abc import Sequence
from typing import Any

from domain.base import Immutable


class TTest(Immutable):
    """A one-sided t-test of H0: mean <= reference, with the (1 - 2 alpha) interval of the
    mean (its low end is the one-sided 1 - alpha lower bound)."""

    statistic: float | None  # None: no variance (decided by the sign alone)
    df: float
    p: float
    low: float
    high: float


def t_test_greater(values: Sequence[float], reference: float, alpha: float) -> TTest:
    """Student's one-sample t-test that the mean of `values` exceeds `reference`
    (scipy.stats.ttest_1samp, alternative="greater"). Needs two values or more."""
    from scipy import stats

    if len(values) < 2:
        raise ValueError("a t-test needs two values or more")
    mean = statistics.fmean(values)
    df = float(len(values) - 1)
    if max(values) == min(values):  # zero variance: the sign decides, with certainty
        return TTest(statistic=None, df=df, p=0.0 if mean > reference else 1.0, low=mean, high=mean)
    with warnings.catch_warnings():  # nearly equal values: scipy warns, the result stands
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_1samp(list(values), reference, alternative="greater")
    margin = float(stats.t.ppf(1 - alpha, df)) * statistics.stdev(values) / math.sqrt(len(values))
    return TTest(
        statistic=float(result.statistic),
        df=df,
        p=float(result.pvalue),
        low=mean - margin,
        high=mean + margin,
    )


def t_test_known_scale(
    mean: float, scale: float, df: float, reference: float, alpha: float
) -> TTest:
    """One-sided test that a mean exceeds `reference` when its standard error `scale` was
    estimated elsewhere with `df` degrees of freedom (scipy.stats.t)."""
    from scipy import stats

    if scale <= 0.0 or df < 1:
        certain = 0.0 if mean > reference else 1.0
        return TTest(statistic=None, df=df, p=certain, low=mean, high=mean)
    statistic = (mean - reference) / scale
    margin = float(stats.t.ppf(1 - alpha, df)) * scale
    return TTest(
        statistic=statistic,
        df=df,
        p=float(stats.t.sf(statistic, df)),
        low=mean - margin,
        high=mean + margin,
    )


def t_quantile(level: float, df: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(level, df))


def sd_interval(sd: float, df: int, confidence: float) -> tuple[float, float]:
    """The chi-square confidence interval of a normal population's standard deviation
    from a sample standard deviation with `df` degrees of freedom (scipy.stats.chi2)."""
    from scipy import stats

    tail = (1 - confidence) / 2
    low = sd * math.sqrt(df / float(stats.chi2.ppf(1 - tail, df)))
    high = sd * math.sqrt(df / float(stats.chi2.ppf(tail, df)))
    return low, high


def welch_one_sided_p(
    candidate: Sequence[float], best: Sequence[float], lower_is_better: bool
) -> float:
    """p-value that the candidate is no better than the best: Welch's unequal-variance
    t-test (scipy.stats.ttest_ind, equal_var=False), one-sided. The retired `welch` rule.

    With fewer than two values on a side there is no variance estimate: p = 1.
    """
    from scipy import stats

    if len(candidate) < 2 or len(best) < 2:
        return 1.0
    gain = statistics.fmean(best) - statistics.fmean(candidate)
    gain = gain if lower_is_better else -gain
    if statistics.variance(candidate) == 0.0 and statistics.variance(best) == 0.0:
        return 0.0 if gain > 0 else 1.0
    alternative = "less" if lower_is_better else "greater"
    result = stats.ttest_ind(list(candidate), list(best), equal_var=False, alternative=alternative)
    return float(result.pvalue)


def blocks_of(values: Sequence[float], count: int) -> tuple[float, ...]:
    """Means of `count` contiguous, near-equal blocks, in order (all values if fewer);
    () if any value is not finite (JSON holds none, and no interval could use it).

    Neighbouring held-out examples (windows of one text, rows of one file) are often
    correlated; resampling whole blocks keeps that correlation inside a block.
    """
    if not all(math.isfinite(v) for v in values):
        return ()
    n = len(values)
    if n <= count:
        return tuple(float(v) for v in values)
    edges = [n * i // count for i in range(count + 1)]
    return tuple(statistics.fmean(values[a:b]) for a, b in itertools.pairwise(edges))


def bootstrap_mean_interval(
    values: Sequence[float], alpha: float, seed: int, resamples: int
) -> tuple[float, float]:
    """The (1 - 2 alpha) percentile-bootstrap interval of the mean of `values` (its low end
    is the one-sided 1 - alpha lower bound), from scipy.stats.bootstrap with a seeded
    generator, so the same values and seed give the same interval."""
    from scipy import stats

    if max(values) == min(values):
        return float(values[0]), float(values[0])
    result = stats.bootstrap(
        (list(values),),
        _mean,
        n_resamples=resamples,
        confidence_level=1 - 2 * alpha,
        method="percentile",
        rng=seed,
    )
    interval = result.confidence_interval
    return float(interval.low), float(interval.high)


def _mean(sample: Any, axis: int = -1) -> Any:
    return sample.mean(axis=axis)
