"""What the lineage tells an offline specialist: measured effects move its beliefs,
recipes already run are never run again, and crashes are repaired with stabilising edits.
Given a synthetic lineage view, then the edit the policy picks."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agents.edits import Replace, ScaleKnob, SetKnob, apply_all
from agents.evidence import belief, effects, scale
from agents.offline import _proposal
from agents.policy import decide
from agents.techniques import STABILISES, Technique, generic_catalogue
from domain.lineage import LineageView, TriedEdit
from domain.recipe import recipe_sha256
from tests.unit.test_policy import (
    BASELINE,
    LR_UP,
    SEED,
    STEPS_UP,
    child_of,
    line,
    recipes_by_sequence,
    tried_edit,
    view,
)

EXAMPLE_RECIPE = Path(__file__).parents[2] / "docs" / "example-task" / "recipe" / "train.py"
LR_DOWN = Technique("opt.lr_down", "opt", "halve LR", (ScaleKnob("LR", 0.5, 1e-6, 10.0),), 0.01)
LR_TWICE = Technique("opt.lr_x2", "opt", "scale LR by 2", (ScaleKnob("LR", 2.0, 1e-6, 10.0),))


def measured(idea: str, effect: float, n: int = 2) -> list[TriedEdit]:
    """`n` trials of `idea` on branches away from the best, each `effect` worse than its
    parent (lower is better: a positive effect is a loss)."""
    return [
        TriedEdit(
            parent_sequence=10 + i,
            child_sha256=f"{idea}-{i}".ljust(64, "0"),
            idea=idea,
            specialist="opt",
            status="discard",
            sequence=20 + i,
            score=1.0 + effect,
            parent_score=1.0,
        )
        for i in range(n)
    ]


def evidence_view(lineage: bool = True) -> LineageView:
    tried = [*measured(LR_UP.key, +0.3), *measured(STEPS_UP.key, -0.05)]
    return view(tried=tried, lineage=lineage).model_copy(update={"noise_floor": 0.02})


def picks(given: LineageView, techniques, seeds=range(100)) -> list[str]:
    out = []
    for seed in seeds:
        choice = decide(given, techniques, recipes_by_sequence({}), random.Random(seed))
        out.append(choice.technique.key if choice else "none")
    return out


# Measured effects update the prior:


def test_a_measured_effect_moves_the_belief_from_the_prior_toward_the_measurements():
    given = evidence_view()
    width = scale(given, [LR_UP, STEPS_UP])
    found = effects(given)
    assert found[LR_UP.key] == pytest.approx([-0.3, -0.3])
    assert found[STEPS_UP.key] == pytest.approx([0.05, 0.05])
    worse = belief(given, LR_UP, width, found[LR_UP.key])
    better = belief(given, STEPS_UP, width, found[STEPS_UP.key])
    assert worse.observations == better.observations == 2
    assert worse.mean < -0.25 < 0.04 < better.mean  # the prior said +0.1 for both
    assert worse.sd < width  # evidence narrows it


def test_the_lineage_arm_learns_which_technique_measured_better():
    chosen = picks(evidence_view(), [LR_UP, STEPS_UP])
    assert chosen.count(STEPS_UP.key) == len(chosen)


def test_the_no_lineage_arm_cannot_learn_what_it_is_not_shown():
    """The same measurements, hidden: the choices are those of a search with none."""
    hidden = picks(evidence_view(lineage=False), [LR_UP, STEPS_UP])
    nothing = picks(view(lineage=False), [LR_UP, STEPS_UP])
    assert hidden == nothing
    assert 20 < hidden.count(LR_UP.key) < 80  # equal priors: both explored


def test_a_choice_is_the_same_for_the_same_seed_so_it_replays():
    assert picks(evidence_view(), [LR_UP, STEPS_UP, LR_DOWN], range(30)) == picks(
        evidence_view(), [LR_UP, STEPS_UP, LR_DOWN], range(30)
    )


def test_failures_and_unscored_trials_are_no_measurement_of_an_effect():
    """Attack: a crash or an aborted run has no score to learn an effect from."""
    crashed = TriedEdit(
        parent_sequence=3, child_sha256="c" * 64, idea=LR_UP.key, specialist="opt",
        status="crash", sequence=4, score=None, parent_score=1.0,
    )  # fmt: skip
    gate_miss = crashed.model_copy(update={"status": "disqualified", "score": 0.1})
    assert effects(view(tried=[crashed, gate_miss])) == {}


# Byte-identical recipes are never re-run:


def test_another_idea_that_makes_the_same_bytes_as_a_run_recipe_is_not_proposed():
    """Attack: a second technique key reaching an already-run recipe byte for byte."""
    assert child_of(LR_TWICE) == child_of(LR_UP)  # LR 1.0 x 2 == LR set to 2.0
    known = view().model_copy(update={"known_recipes": (recipe_sha256(child_of(LR_UP)),)})
    assert set(picks(known, [LR_TWICE, STEPS_UP], range(20))) == {STEPS_UP.key}
    assert picks(known, [LR_TWICE], range(5)) == ["none"] * 5


def test_a_recipe_run_on_another_branch_is_not_run_again_from_this_one():
    other = line(5, "discard", 1.1, parent=3, idea="opt.elsewhere")
    given = view(tried=[tried_edit(other, child_of(LR_UP))])
    assert set(picks(given, [LR_UP, STEPS_UP], range(20))) == {STEPS_UP.key}


def test_the_no_lineage_arm_does_not_know_what_ran():
    known = view(lineage=False).model_copy(
        update={"known_recipes": (recipe_sha256(child_of(LR_UP)),)}
    )
    assert LR_UP.key in picks(known, [LR_UP, STEPS_UP], range(20))


# Crashes are repaired with stabilising edits:


def crashed_view(lineage: bool = True) -> tuple[LineageView, dict[int, dict[str, str]]]:
    crash = line(1, "crash", None, idea=LR_UP.key).model_copy(update={"note": "loss went to NaN"})
    recipe = child_of(LR_UP)
    given = view(children=[crash], tried=[tried_edit(crash, recipe)], recent=[crash])
    return given.model_copy(update={"lineage": lineage}), {1: recipe}


def test_a_crash_on_the_best_s_branch_is_repaired_with_a_stabilising_edit():
    given, recipes = crashed_view()
    choice = decide(given, [STEPS_UP, LR_DOWN], recipes_by_sequence(recipes), random.Random(0))
    assert choice is not None
    assert choice.repairs == given.recent[0]
    assert choice.parent == given.recent[0]
    assert choice.technique is LR_DOWN
    assert choice.child == child_of(LR_DOWN, recipes[1])
    proposal = _proposal("opt", choice, "view", "offline")
    assert proposal.hypothesis.startswith("Repair #1 (crash: loss went to NaN): halve LR")
    assert proposal.parent_id == given.recent[0].trial_id


def test_an_edit_that_does_not_stabilise_is_no_repair_of_a_crash():
    given, recipes = crashed_view()
    choice = decide(given, [STEPS_UP], recipes_by_sequence(recipes), random.Random(0))
    assert choice is not None
    assert choice.repairs is None
    assert choice.parent == BASELINE


def test_without_lineage_a_crash_is_not_seen_and_not_repaired():
    given, recipes = crashed_view(lineage=False)
    choice = decide(given, [LR_DOWN], recipes_by_sequence(recipes), random.Random(0))
    assert choice is not None
    assert choice.repairs is None


def test_on_the_example_task_a_blow_up_is_repaired_by_halving_the_step_size():
    seed = {"train.py": EXAMPLE_RECIPE.read_text()}
    catalogue = generic_catalogue(seed)
    wider = next(t for t in catalogue if t.key == "model.hidden_x2")
    blown = apply_all(seed, wider.ops)
    crash = line(1, "crash", None, idea=wider.key)
    given = view(children=[crash], tried=[tried_edit(crash, blown)], recent=[crash])
    opt = [t for t in catalogue if t.surface == "opt"]
    choice = decide(given, opt, recipes_by_sequence({1: blown}), random.Random(0))
    assert choice is not None
    assert choice.repairs == crash
    assert choice.technique.key == "opt.lr_x0.5"
    assert "LR = 0.01  #" in choice.child["train.py"]
    assert "HIDDEN = 16  #" in choice.child["train.py"]


@pytest.mark.parametrize(
    ("ops", "stabilising"),
    [
        ((ScaleKnob("LR", 0.5, 0, 1),), True),
        ((ScaleKnob("LEARNING_RATE", 0.3, 0, 1),), True),
        ((ScaleKnob("LR", 2.0, 0, 1),), False),
        ((SetKnob("GRAD_CLIP", 1.0),), True),
        ((ScaleKnob("CLIP_NORM", 2.0, 0, 9),), False),  # loosening a clip
        ((ScaleKnob("WARMUP_STEPS", 2.0, 0, 99),), True),
        ((ScaleKnob("WIDTH", 0.5, 0, 99),), False),
        ((ScaleKnob("LR", 0.5, 0, 1), ScaleKnob("STEPS", 2.0, 0, 99)), False),  # not only
        ((Replace("a", "b"),), False),  # code: only a tag can say
        ((), False),
    ],
)
def test_which_edits_count_as_stabilising(ops, stabilising):
    assert Technique("k", "opt", "h", ops).stabilising is stabilising


def test_a_tag_marks_a_code_edit_as_stabilising():
    warmup = Technique("k", "opt", "h", (Replace("a", "b"),), effects=frozenset({STABILISES}))
    assert warmup.stabilising


# Unknown expectations:


def test_the_generic_catalogue_does_not_claim_an_expected_delta():
    techniques = generic_catalogue(SEED)
    assert techniques
    assert {t.expected_delta for t in techniques} == {None}


def test_a_proposal_from_a_technique_without_an_expectation_says_unknown():
    given = view()
    choice = decide(given, [LR_TWICE], recipes_by_sequence({}), random.Random(0))
    assert choice is not None
    assert _proposal("opt", choice, "view", "offline").expected_delta is None
