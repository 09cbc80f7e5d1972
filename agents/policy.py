"""How an offline specialist picks its next edit from the lineage view. Deterministic.

With lineage: first repair a recent size or budget failure on the best's branch (parent =
the failed trial, edit = one that cuts bytes or time); otherwise edit the best (sometimes
another keep), skipping edits already tried on that parent and ideas that crashed, and
shying away from edits that add bytes or time when the best is near a cap. Once every
edit has been tried on the best, stack on its near misses: children that scored better
than the best but not beyond the noise floor, best first, as a researcher combines two
small gains. Without lineage only the best is known, so ideas repeat and failures go
unrepaired.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agents.edits import EditError, apply_all
from agents.techniques import ADDS_BYTES, ADDS_TIME, CUTS_BYTES, CUTS_TIME, Technique
from domain.lineage import LineageView, TrialLine
from domain.recipe import recipe_sha256

REPAIRS = {
    "size_blocked": CUTS_BYTES,
    "train_budget_overrun": CUTS_TIME,
    "eval_budget_overrun": CUTS_TIME,
}
CRASHES = ("crash", "preflight_crash")
REBASE_PROBABILITY = 0.2
NEAR_CAP = 0.985  # within 1.5% of a cap, edits that add to it are unlikely to fit

RecipeOf = Callable[[TrialLine], Mapping[str, str]]


@dataclass(frozen=True)
class Choice:
    parent: TrialLine
    technique: Technique
    child: dict[str, str]
    repairs: TrialLine | None = None


def decide(
    view: LineageView,
    techniques: Sequence[Technique],
    recipe_of: RecipeOf,
    rng: random.Random,
) -> Choice | None:
    if view.best is None:
        return None
    if view.lineage:
        repair = _repair(view, techniques, recipe_of, rng)
        if repair is not None:
            return repair
    parent = _parent(view, view.best, rng)
    choice = _pick(view, parent, techniques, recipe_of(parent), rng)
    if choice is not None or not view.lineage:
        return choice
    for near_miss in near_misses(view):
        choice = _pick(view, near_miss, techniques, recipe_of(near_miss), rng)
        if choice is not None:
            return choice
    return None


def near_misses(view: LineageView) -> list[TrialLine]:
    """The best's discarded children that still beat it, most promising first."""
    if view.best is None or view.best.score is None:
        return []
    sign = 1.0 if view.lower_is_better else -1.0
    best = sign * view.best.score
    closer = [
        line
        for line in view.best_children
        if line.status == "discard" and line.score is not None and sign * line.score < best
    ]
    return sorted(closer, key=lambda line: (sign * (line.score or 0.0), line.sequence))


def _parent(view: LineageView, best: TrialLine, rng: random.Random) -> TrialLine:
    """Usually the best; sometimes a keep off its chain (an ancestor of the best would
    only throw away the improvements made since)."""
    chain = {line.sequence for line in view.chain}
    others = [line for line in view.leaderboard if line.sequence not in chain]
    if view.lineage and others and rng.random() < REBASE_PROBABILITY:
        return rng.choice(others)
    return best


MAX_REPAIR_DEPTH = 3  # a repair of a repair of a repair, at most


def repair_target(view: LineageView) -> TrialLine | None:
    """The newest size or budget failure nobody has built on, that grows from the best's
    chain through at most MAX_REPAIR_DEPTH failed trials (a repair may fail and be repaired)."""
    built_on = {edit.parent_sequence for edit in view.tried}
    chain = {line.sequence for line in view.chain}
    parents = {edit.sequence: edit.parent_sequence for edit in view.tried}
    for line in view.recent:
        if (
            line.status in REPAIRS
            and line.sequence not in built_on
            and _reaches(line.parent_sequence, chain, parents)
        ):
            return line
    return None


def _reaches(sequence: int | None, chain: set[int], parents: dict[int, int | None]) -> bool:
    for _ in range(MAX_REPAIR_DEPTH):
        if sequence is None:
            return False
        if sequence in chain:
            return True
        sequence = parents.get(sequence)
    return False


def _repair(
    view: LineageView,
    techniques: Sequence[Technique],
    recipe_of: RecipeOf,
    rng: random.Random,
) -> Choice | None:
    target = repair_target(view)
    if target is None:
        return None
    fixes = [t for t in techniques if REPAIRS[target.status] in t.effects]
    choice = _pick(view, target, fixes, recipe_of(target), rng)
    if choice is None:
        return None
    return Choice(choice.parent, choice.technique, choice.child, repairs=target)


def _pick(
    view: LineageView,
    parent: TrialLine,
    techniques: Sequence[Technique],
    recipe: Mapping[str, str],
    rng: random.Random,
) -> Choice | None:
    candidates: list[tuple[Technique, dict[str, str]]] = []
    tried = _tried_children(view, parent)
    crashed = {edit.idea for edit in view.tried if edit.status in CRASHES}
    for technique in sorted(techniques, key=lambda t: t.key):
        if technique.key in crashed:
            continue  # a crashed idea is not retried unchanged
        try:
            child = apply_all(recipe, technique.ops)
        except EditError:
            continue  # does not apply to this parent: the private copy shows it at once
        if recipe_sha256(child) not in tried:
            candidates.append((technique, child))
    if not candidates:
        return None
    gains = _gains(view, [t for t, _ in candidates])
    weights = [g * _weight(view, parent, t) for g, (t, _) in zip(gains, candidates, strict=True)]
    technique, child = rng.choices(candidates, weights=weights, k=1)[0]
    return Choice(parent, technique, child)


GREED = 3.0  # the most promising technique is e^3 = 20x as likely as the least


def _gains(view: LineageView, techniques: Sequence[Technique]) -> list[float]:
    """A softmax over expected improvement (in the metric's direction): like a researcher,
    try what the literature and past measurements promise most, but not only that."""
    sign = -1.0 if view.lower_is_better else 1.0
    gains = [sign * t.expected_delta for t in techniques]
    spread = max((abs(g) for g in gains), default=0.0) or 1.0
    return [math.exp(GREED * g / spread) for g in gains]


def _tried_children(view: LineageView, parent: TrialLine) -> set[str]:
    if not view.lineage:
        return set()  # nothing is known, so nothing is avoided
    return {
        e.child_sha256
        for e in view.tried
        if e.parent_sequence == parent.sequence and e.child_sha256
    }


def _weight(view: LineageView, parent: TrialLine, technique: Technique) -> float:
    weight = technique.prior
    if not view.lineage:
        return weight
    if view.is_saturated() and technique.structural:
        weight *= 3.0
    bytes_used = parent.measurements.get("artifact_bytes")
    cap_bytes = view.size_cap_bytes
    if (
        ADDS_BYTES in technique.effects
        and cap_bytes
        and bytes_used
        and bytes_used > NEAR_CAP * cap_bytes
    ):
        weight *= 0.5
    train_s, cap = parent.measurements.get("train_s"), view.budgets.get("train_seconds")
    if ADDS_TIME in technique.effects and train_s and cap and train_s > 0.6 * cap:
        weight *= 0.15
    # What happened to this idea on other parents: a failure weighs more than a discard.
    history = [e.status for e in view.tried if e.idea == technique.key and e.status != "keep"]
    for status in history:
        weight *= 0.5 if status == "discard" else 0.3
    return weight
