"""Time cuts sized from what the harness measured: given a lineage whose trial overran
its training cap by a measured share, the repair scales the horizon to fit under it;
a fixed cut known to be too small is no repair; a best near its cap (on the task's
clock, against the cap it ran under) shies away from edits that add time."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agents.edits import ScaleKnob, SetKnob, apply_all
from agents.fit import HORIZON, MARGIN, fitted_cuts, out_of_reach, time_share, too_small
from agents.policy import decide
from agents.techniques import ADDS_TIME, CUTS_TIME, Technique, generic_catalogue
from domain.lineage import TrialLine
from domain.reports import ProcessReport, SeedReport
from domain.task import Budgets
from evaluators.overrun import budget_use
from tests.unit.test_policy import BASELINE, line, recipes_by_sequence, tried_edit, view

EXAMPLE_RECIPE = Path(__file__).parents[2] / "docs" / "example-task" / "recipe" / "train.py"
EXAMPLE = {"train.py": EXAMPLE_RECIPE.read_text()}  # STEPS = 400 in the opt surface


def measured(trial: TrialLine, used: float, cap: float) -> TrialLine:
    return trial.model_copy(update={"measurements": {"train_used_s": used, "train_cap_s": cap}})


def overran_on_the_example(used: float, cap: float = 20.0):
    """The example task's best (the seed) got a wider model that trained `used` s of its
    `cap`: the lineage view, the failed trial, and the recipes by sequence."""
    wider = next(t for t in generic_catalogue(EXAMPLE) if t.key == "model.hidden_x2")
    slow = apply_all(EXAMPLE, wider.ops)
    failed = measured(line(1, "train_budget_overrun", None, idea=wider.key), used, cap)
    given = view(children=[failed], tried=[tried_edit(failed, slow)], recent=[failed])
    return given, failed, recipes_by_sequence({1: slow})


def test_on_the_example_task_an_overrun_is_repaired_by_a_horizon_cut_sized_to_fit():
    given, failed, recipes = overran_on_the_example(used=30.0)
    catalogue = [t for t in generic_catalogue(EXAMPLE) if t.surface == "opt"]
    choice = decide(given, catalogue, recipes, random.Random(0), lambda s: s == "opt")
    assert choice is not None
    assert choice.repairs == failed
    assert choice.technique.key == "opt.steps_fit"
    assert CUTS_TIME in choice.technique.effects
    assert choice.technique.expected_delta is None  # the score it costs is not known
    assert "STEPS = 240  #" in choice.child["train.py"]  # 400 × 0.9 × 20 / 30
    assert "HIDDEN = 16  #" in choice.child["train.py"]  # the failed edit is kept
    assert "trained 30.0 s of its 20 s cap" in choice.technique.hypothesis


def test_the_cut_lands_at_the_margin_under_the_cap_for_any_measured_overrun():
    for used in (20.5, 26.0, 41.0, 80.0):
        _, failed, recipes = overran_on_the_example(used=used)
        (cut,) = fitted_cuts(failed, recipes(failed))
        (op,) = cut.ops
        assert isinstance(op, ScaleKnob)
        assert used * op.factor == pytest.approx(MARGIN * 20.0, rel=1e-3)


def test_a_specialist_that_may_not_edit_the_horizon_gets_no_sized_cut():
    given, _, recipes = overran_on_the_example(used=30.0)
    model = [t for t in generic_catalogue(EXAMPLE) if t.surface == "model"]
    choice = decide(given, model, recipes, random.Random(0), lambda s: s == "model")
    assert choice is None or choice.technique.key != "opt.steps_fit"


def test_a_trial_the_harness_measured_no_share_for_gets_no_sized_cut():
    """An older record, or a trial that never trained: nothing to size a cut from."""
    failed = line(1, "train_budget_overrun", None)
    assert time_share(failed) is None
    assert fitted_cuts(failed, EXAMPLE) == []


def test_a_fixed_cut_that_leaves_the_run_over_its_cap_is_no_repair():
    given, failed, recipes = overran_on_the_example(used=30.0)  # 1.5 times the cap
    small = Technique("opt.steps_x0.8", "opt", "", (ScaleKnob("STEPS", 0.8, 1, 9999),), -0.01,
                      frozenset({CUTS_TIME}), prior=50.0)  # fmt: skip
    big = Technique("opt.steps_x0.5", "opt", "", (ScaleKnob("STEPS", 0.5, 1, 9999),), -0.05,
                    frozenset({CUTS_TIME}))  # fmt: skip
    code = Technique("opt.fused", "opt", "", (SetKnob("LR", 0.02),), 0.0, frozenset({CUTS_TIME}))
    assert too_small(small, failed)
    assert not too_small(big, failed)
    assert not too_small(code, failed)  # its size is not known: it may be the fix
    chosen = {
        decide(given, [small], recipes, random.Random(seed), lambda s: True).technique.key
        for seed in range(20)
    }
    assert "opt.steps_x0.8" not in chosen  # even at a prior of 50


@pytest.mark.parametrize(
    ("name", "horizon"),
    [("STEPS", True), ("EPOCHS", True), ("NUM_EPOCHS", True), ("MAX_ITERS", True),
     ("WARMUP_STEPS", False), ("DECAY_STEPS", False), ("LOG_STEPS", False)],
)  # fmt: skip
def test_only_the_training_horizon_is_cut_to_fit(name, horizon):
    """Seen in golf-cpu, seed 0: a cut of WARMUP_STEPS 'repaired' an overrun, and overran."""
    assert bool(HORIZON.search(name)) is horizon


def test_a_failure_that_fit_its_cap_gets_no_sized_cut():
    """An evaluation overrun, say, after a training run at 80% of its cap."""
    failed = measured(line(1, "eval_budget_overrun", None), 16.0, 20.0)
    assert fitted_cuts(failed, EXAMPLE) == []


SLOWER = Technique("opt.steps_x2", "opt", "", (ScaleKnob("STEPS", 2.0, 1, 9999),), 0.0,
                   frozenset({ADDS_TIME}))  # fmt: skip
OTHER = Technique("opt.lr_x2", "opt", "", (ScaleKnob("LR", 2.0, 0, 10),), 0.0)


def share_of_adds_time(used: float, seeds=range(200)) -> float:
    best = measured(BASELINE, used, 20.0)
    given = view().model_copy(update={"best": best, "leaderboard": (best,), "chain": (best,)})
    picks = [
        decide(given, [SLOWER, OTHER], recipes_by_sequence({}), random.Random(s)).technique.key
        for s in seeds
    ]
    return picks.count(SLOWER.key) / len(picks)


def test_a_best_near_its_measured_cap_shies_away_from_edits_that_add_time():
    near, far = share_of_adds_time(used=17.0), share_of_adds_time(used=5.0)  # of 20
    assert near < far - 0.1  # 0.36 against 0.545 over these 200 seeds


def test_a_horizon_edit_known_to_take_the_best_over_its_cap_is_not_proposed():
    """Seen in core-cpu's specialists, seed 0: steps x3 on a best at 99% of its cap."""
    assert share_of_adds_time(used=19.8) == 0.0  # x2 from 99% of the cap
    assert share_of_adds_time(used=9.0) > 0.2  # x2 from 45% fits
    assert share_of_adds_time(used=10.5) > 0.2  # x2 from 52.5%: 5% over, a fair gamble
    assert share_of_adds_time(used=11.5) == 0.0  # x2 from 57.5%: 15% over


def test_past_the_margin_an_edit_that_adds_time_is_not_proposed():
    wider = Technique("arch.wide", "opt", "", (ScaleKnob("LR", 0.5, 0, 10),), 0.0,
                      frozenset({ADDS_TIME}))  # fmt: skip
    best = measured(BASELINE, 19.0, 20.0)  # 95% of the cap
    given = view().model_copy(update={"best": best, "leaderboard": (best,), "chain": (best,)})
    picks = [
        decide(given, [wider, OTHER], recipes_by_sequence({}), random.Random(s)).technique.key
        for s in range(200)
    ]
    assert picks.count(wider.key) == 0
    assert out_of_reach(wider, measured(BASELINE, 17.0, 20.0)) is False  # 85%: less likely


def test_the_harness_records_the_judged_training_use_on_the_task_s_clock():
    cpu = Budgets(train_seconds=10, eval_seconds=5, tolerance_seconds=0.5)
    seeds = [
        SeedReport(seed=0, train=ProcessReport(rc=0, wall_s=30.0, cpu_s=9.0)),
        SeedReport(seed=1, train=ProcessReport(rc=0, wall_s=12.0, cpu_s=9.8)),
    ]
    assert budget_use(seeds, cpu) == {"train_used_s": 9.8, "train_cap_s": 10.5}
    wall = cpu.model_copy(update={"clock": "wall"})
    assert budget_use(seeds, wall)["train_used_s"] == 30.0
    assert budget_use([], cpu) == {}
