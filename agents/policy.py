"""How an offline specialist picks its next edit from the lineage view. Deterministic.

With lineage: first repair a recent failure on the best's branch (parent = the failed
trial; after a size or budget failure an edit that cuts bytes or time, with a training
overrun's cut sized from what it measured (agents/fit.py), after a crash such as a NaN
loss a stabilising one: lower LR, clipping, warmup); otherwise edit the best
(sometimes another keep), never producing a recipe this search has already run
byte for byte, skipping ideas that crashed, and shying away from edits that add bytes or
time when the best is near a cap (time: its measured share of the cap it ran under).
Among the candidates, Thompson sampling over what each technique measured so far picks
one (agents/evidence.py). Once every edit has been tried
on the best, stack on its near misses: children that scored better than the best but not
beyond the noise floor, best first, as a researcher combines two small gains. Without
lineage only the best is known, so ideas repeat, priors never move, and failures go
unrepaired.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agents.edits import EditError, apply_all
from agents.evidence import VALID, thompson
from agents.fit import fitted_cuts, out_of_reach, time_share, too_small
from agents.techniques import (
    ADDS_BYTES,
    ADDS_TIME,
    CUTS_BYTES,
    CUTS_TIME,
    STABILISES,
    Technique,
)
from domain.lineage import LineageView, TrialLine
from domain.recipe import recipe_sha256

REPAIRS = {
    "size_blocked": CUTS_BYTES,
    "train_budget_overrun": CUTS_TIME,
    "eval_budget_overrun": CUTS_TIME,
    "crash": STABILISES,  # a NaN loss or a blow-up in training
}
CRASHES = ("crash", "preflight_crash")
REBASE_PROBABILITY = 0.2
NEAR_CAP = 0.985  # within 1.5% of a cap, edits that add to it are unlikely to fit

RecipeOf = Callable[[TrialLine], Mapping[str, str]]
MayEdit = Callable[[str], bool]  # whether the deciding specialist may edit a surface


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
    may_edit: MayEdit = lambda surface: True,
) -> Choice | None:
    if view.best is None:
        return None
    if view.lineage:
        repair = _repair(view, techniques, recipe_of, rng, may_edit)
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
    """The newest repairable failure nobody has built on, that grows from the best's
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
    may_edit: MayEdit,
) -> Choice | None:
    target = repair_target(view)
    if target is None:
        return None
    fixes = [t for t in techniques if _fixes(t, REPAIRS[target.status])]
    if target.status == "train_budget_overrun":  # the measured overrun sizes the cut
        fixes = [t for t in fixes if not too_small(t, target)]
        fixes += [t for t in fitted_cuts(target, recipe_of(target)) if may_edit(t.surface)]
    choice = _pick(view, target, fixes, recipe_of(target), rng)
    if choice is None:
        return None
    return Choice(choice.parent, choice.technique, choice.child, repairs=target)


def _fixes(technique: Technique, effect: str) -> bool:
    return technique.stabilising if effect == STABILISES else effect in technique.effects


def _pick(
    view: LineageView,
    parent: TrialLine,
    techniques: Sequence[Technique],
    recipe: Mapping[str, str],
    rng: random.Random,
) -> Choice | None:
    candidates: list[tuple[Technique, dict[str, str]]] = []
    known = _known_recipes(view)
    crashed = {edit.idea for edit in view.tried if edit.status in CRASHES}
    for technique in sorted(techniques, key=lambda t: t.key):
        if technique.key in crashed:
            continue  # a crashed idea is not retried unchanged
        if view.lineage and out_of_reach(technique, parent):
            continue  # its known cost takes the parent well over the cap it ran under
        try:
            child = apply_all(recipe, technique.ops)
        except EditError:
            continue  # does not apply to this parent: the private copy shows it at once
        if recipe_sha256(child) not in known:
            candidates.append((technique, child))
    if not candidates:
        return None
    weights = [_weight(view, parent, t) for t, _ in candidates]
    technique, child = candidates[thompson(view, [t for t, _ in candidates], weights, rng)]
    return Choice(parent, technique, child)


def _known_recipes(view: LineageView) -> set[str]:
    """Recipes this search has run or is running, byte for byte: never run again."""
    if not view.lineage:
        return set()  # nothing is known, so nothing is avoided
    return set(view.known_recipes) | {e.child_sha256 for e in view.tried if e.child_sha256}


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
    share = time_share(parent)  # on the task's clock, against the cap the parent ran under
    if ADDS_TIME in technique.effects and share and share > 0.6:
        weight *= 0.15  # past MARGIN it is not a candidate at all (agents/fit.py)
    # A scored outcome moves the technique's belief (agents/evidence.py); a failure
    # elsewhere (size, budget, gate) has no effect to measure, so it lowers the weight.
    failures = [e for e in view.tried if e.idea == technique.key and e.status not in VALID]
    return weight * 0.3 ** len(failures)
