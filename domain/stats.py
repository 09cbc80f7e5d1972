"""Small exact statistics in pure Python: Student's t tail and Welch's one-sided test."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

_EPS = 3e-16
_TINY = 1e-300


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + num / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


def welch_one_sided_p(
    candidate: Sequence[float], best: Sequence[float], lower_is_better: bool
) -> float:
    """p-value that the candidate is no better than the best (one-sided Welch t-test).

    With fewer than two values on a side there is no variance estimate: p = 1.
    """
    if len(candidate) < 2 or len(best) < 2:
        return 1.0
    vc, vb = statistics.variance(candidate), statistics.variance(best)
    nc, nb = len(candidate), len(best)
    se2 = vc / nc + vb / nb
    gain = statistics.fmean(best) - statistics.fmean(candidate)
    if not lower_is_better:
        gain = -gain
    if se2 == 0.0:
        return 0.0 if gain > 0 else 1.0
    t = gain / math.sqrt(se2)
    df = se2**2 / ((vc / nc) ** 2 / (nc - 1) + (vb / nb) ** 2 / (nb - 1))
    return student_t_sf(t, df)
