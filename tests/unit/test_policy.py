"""The offline policy: given a lineage view, which edit a specialist proposes next."""

from __future__ import annotations

import random
from uuid import UUID

from agents.edits import SetKnob
from agents.policy import decide, near_misses
from agents.techniques import CUTS_BYTES, Technique
from domain.lineage import LineageView, TrialLine, TriedEdit
from domain.recipe import recipe_sha256

SEED = {"train.py": "LR = 1.0\nSTEPS = 10\nWIDTH = 8\n"}
LR_UP = Technique("opt.lr_up", "opt", "raise LR", (SetKnob("LR", 2.0),), -0.1)
STEPS_UP = Technique("opt.steps_up", "opt", "more steps", (SetKnob("STEPS", 20),), -0.1)
NARROW = Technique(
    "arch.narrow", "arch", "fewer bytes", (SetKnob("WIDTH", 4),), 0.0, frozenset({CUTS_BYTES})
)


def line(seq: int, status: str, score: float | None, parent: int | None = 0, idea: str = "x"):
    return TrialLine(
        trial_id=UUID(int=seq + 1),
        sequence=seq,
        specialist="opt",
        parent_sequence=parent,
        depth=0 if parent is None else 1,
        status=status,
        score=score,
        delta=None,
        hypothesis="",
        idea=idea,
        note="",
        child_sha256=None,
        measurements={},
    )


BASELINE = line(0, "keep", 1.0, parent=None, idea="baseline")


def tried_edit(of: TrialLine, child: dict[str, str]) -> TriedEdit:
    return TriedEdit(
        parent_sequence=of.parent_sequence,
        child_sha256=recipe_sha256(child),
        idea=of.idea,
        specialist=of.specialist,
        status=of.status,
        sequence=of.sequence,
        score=of.score,
    )


def view(children=(), tried=(), recent=(), lineage=True) -> LineageView:
    return LineageView(
        search_id=UUID(int=99),
        specialist="opt",
        lineage=lineage,
        metric="loss",
        lower_is_better=True,
        size_cap_bytes=None,
        budgets={},
        best=BASELINE,
        leaderboard=(BASELINE,),
        chain=(BASELINE,),
        best_children=tuple(children),
        recent=tuple(recent),
        tried=tuple(tried),
    )


def child_of(technique: Technique, recipe: dict[str, str] = SEED) -> dict[str, str]:
    return technique.ops[0].apply(dict(recipe))


def recipes_by_sequence(extra: dict[int, dict[str, str]]):
    return lambda ln: extra.get(ln.sequence, SEED)


def test_an_edit_already_tried_on_the_best_is_not_proposed_again():
    lr = line(1, "discard", 1.2, idea=LR_UP.key)
    given = view(children=[lr], tried=[tried_edit(lr, child_of(LR_UP))])
    choice = decide(given, [LR_UP, STEPS_UP], recipes_by_sequence({}), random.Random(0))
    assert choice is not None
    assert choice.technique is STEPS_UP
    assert choice.parent == BASELINE


def test_a_crashed_idea_is_not_retried_unchanged_anywhere():
    crashed = line(1, "crash", None, idea=LR_UP.key)
    given = view(children=[crashed], tried=[tried_edit(crashed, {"train.py": "broken"})])
    choices = {
        decide(given, [LR_UP, STEPS_UP], recipes_by_sequence({}), random.Random(s)).technique.key
        for s in range(20)
    }
    assert choices == {STEPS_UP.key}


def test_a_size_failure_on_the_best_is_repaired_with_an_edit_that_cuts_bytes():
    blocked = line(1, "size_blocked", None, idea=STEPS_UP.key)
    blocked_recipe = child_of(STEPS_UP)
    given = view(children=[blocked], tried=[tried_edit(blocked, blocked_recipe)], recent=[blocked])
    choice = decide(
        given, [LR_UP, NARROW], recipes_by_sequence({1: blocked_recipe}), random.Random(0)
    )
    assert choice is not None
    assert choice.repairs == blocked
    assert choice.parent == blocked
    assert choice.technique is NARROW
    assert choice.child == child_of(NARROW, blocked_recipe)


def test_once_the_best_is_spent_the_specialist_stacks_on_its_nearest_miss():
    lr, steps = line(1, "discard", 0.9, idea=LR_UP.key), line(2, "discard", 0.8, idea=STEPS_UP.key)
    recipes = {1: child_of(LR_UP), 2: child_of(STEPS_UP)}
    given = view(
        children=[lr, steps], tried=[tried_edit(lr, recipes[1]), tried_edit(steps, recipes[2])]
    )
    choice = decide(given, [LR_UP, STEPS_UP], recipes_by_sequence(recipes), random.Random(0))
    assert choice is not None
    assert choice.parent == steps  # 0.8 beats 0.9: the nearer miss first
    assert choice.technique is LR_UP
    assert choice.child == child_of(LR_UP, recipes[2])


def test_children_that_did_worse_than_the_best_are_not_near_misses():
    worse, failed = line(1, "discard", 1.5), line(2, "crash", None)
    better = line(3, "discard", 0.95)
    assert near_misses(view(children=[worse, failed, better])) == [better]


def test_without_lineage_nothing_is_known_so_the_best_is_edited_again():
    lr = line(1, "discard", 0.9, idea=LR_UP.key)
    given = view(children=[lr], tried=[tried_edit(lr, child_of(LR_UP))], lineage=False)
    choice = decide(given, [LR_UP], recipes_by_sequence({}), random.Random(0))
    assert choice is not None
    assert choice.parent == BASELINE
    assert choice.technique is LR_UP
