"""What the lineage has measured about each technique on this task, as a posterior belief.

A technique's effect is its child's score minus its parent's, signed so that an
improvement is positive. Before any evidence it is a Normal around the catalogue's
expected delta (0 where that is unknown) with the catalogue's spread of deltas as its
standard deviation. Each scored trial of the technique in this search is one
observation, with the noise floor as its spread (a Normal-Normal conjugate update).

The specialist draws one effect per candidate from its belief with the proposal's seeded
generator and takes the best draw (Thompson sampling): an idea that measured well comes
back more often, one that measured badly less, and one never tried keeps its prior's
width, so it still gets its turn. Without lineage there are no observations and the
draws come from the priors alone: the no-lineage arm cannot learn.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from agents.techniques import Technique
from domain.lineage import LineageView

VALID = ("keep", "discard")


@dataclass(frozen=True)
class Belief:
    mean: float  # expected improvement, in metric units (positive is better)
    sd: float
    observations: int


def effects(view: LineageView) -> dict[str, list[float]]:
    """Every measured improvement, by idea: child minus parent, positive is better."""
    if not view.lineage:
        return {}
    sign = -1.0 if view.lower_is_better else 1.0
    found: dict[str, list[float]] = {}
    for edit in view.tried:
        if edit.status in VALID and edit.score is not None and edit.parent_score is not None:
            found.setdefault(edit.idea, []).append(sign * (edit.score - edit.parent_score))
    return found


def scale(view: LineageView, techniques: Sequence[Technique]) -> float:
    """The size of an effect worth talking about: the catalogue's largest expected delta,
    else the noise floor, else the largest effect measured, else 1 (a pure ranking)."""
    known = [abs(t.expected_delta) for t in techniques if t.expected_delta]
    measured = [abs(e) for seen in effects(view).values() for e in seen if e]
    for candidates in (known, [view.noise_floor or 0.0], measured):
        if candidates and max(candidates) > 0:
            return max(candidates)
    return 1.0


def belief(
    view: LineageView, technique: Technique, width: float, seen: Sequence[float] = ()
) -> Belief:
    """The technique's belief, given the effects `seen` of it (effects(view)[its key])."""
    sign = -1.0 if view.lower_is_better else 1.0
    prior = sign * (technique.expected_delta or 0.0)
    if not seen:
        return Belief(prior, width, 0)
    noise = view.noise_floor or width
    precision = 1 / width**2 + len(seen) / noise**2
    mean = (prior / width**2 + sum(seen) / noise**2) / precision
    return Belief(mean, math.sqrt(1 / precision), len(seen))


GREED = 3.0  # a weight of 1/e^3 costs a technique one `scale` of expected improvement


def thompson(
    view: LineageView,
    techniques: Sequence[Technique],
    weights: Sequence[float],
    rng: random.Random,
) -> int:
    """The index of the technique whose drawn effect, less its weight's penalty, is best.

    `weights` are the policy's soft constraints (near a cap, a failure elsewhere); draws
    are made in the given order, so a seeded generator gives the same pick on replay."""
    width, found = scale(view, techniques), effects(view)
    utilities = []
    for technique, weight in zip(techniques, weights, strict=True):
        b = belief(view, technique, width, found.get(technique.key, ()))
        draw = rng.gauss(b.mean, b.sd)
        utilities.append(draw / width + math.log(max(weight, 1e-9)) / GREED)
    return max(range(len(utilities)), key=lambda i: (utilities[i], -i))
