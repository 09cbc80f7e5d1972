"""Budgets: the clock a task chooses, its wall backstop, and caps relative to the machine
(derived from the seed recipe's measured CPU cost by the baseline, recorded in its events)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain import search as s
from domain import trial as t
from domain.budgets import Budgets
from domain.events import upcast
from domain.ports import Outcome
from domain.steps import outcome_events
from evaluators.evaluator import SandboxUnavailableError, TaskEvaluator
from evaluators.harness import cpuclock
from evaluators.tasks import BUILTIN_ROOT, TaskError, load
from tests.unit.test_domain_steps import TASK, with_baseline

RELATIVE = Budgets(train_seconds=45, eval_seconds=20, seed_multiple=3)


def costed(number: int, score: float, train_cpu: float, eval_cpu: float) -> t.SeedResult:
    measured = {"cpu_s": train_cpu, "eval_cpu_s": eval_cpu}
    return t.SeedResult(seed=number, score=score, scoring=True, measurements=measured)


def test_caps_default_to_cpu_seconds_with_a_3x_wall_backstop() -> None:
    budgets = Budgets(train_seconds=10, eval_seconds=5)
    assert (budgets.clock, budgets.cpu_cap(10), budgets.wall_cap(10)) == ("cpu", 10, 30)


def test_under_the_wall_clock_the_cap_is_wall_seconds() -> None:
    budgets = Budgets(train_seconds=10, eval_seconds=5, clock="wall")
    assert (budgets.cpu_cap(10), budgets.wall_cap(10)) == (None, 10)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('clock = "gpu"', "budgets.clock: Input should be 'cpu' or 'wall'"),
        (
            "wall_backstop = 0.5",
            "budgets.wall_backstop: Input should be greater than or equal to 1",
        ),
        (
            'clock = "wall"\nseed_multiple = 3',
            'seed_multiple measures the seed in CPU-seconds: needs clock "cpu"',
        ),
    ],
)
def test_a_bad_clock_setting_is_refused_in_one_line(tmp_path: Path, line: str, says: str) -> None:
    folder = tmp_path / "task"
    (folder / "recipe").mkdir(parents=True)
    (folder / "recipe" / "train.py").write_text("")
    toml = (BUILTIN_ROOT.parent / "docs" / "example-task" / "task.toml").read_text()
    toml = re.sub(r"^wall_backstop = .*\n", "", toml, flags=re.M)  # set by `line` instead
    (folder / "task.toml").write_text(toml.replace("[budgets]\n", f"[budgets]\n{line}\n", 1))
    with pytest.raises(TaskError) as caught:
        load(str(folder))
    message = str(caught.value)
    assert says in message
    assert "\n" not in message


def test_relative_caps_are_the_multiple_of_the_seeds_mean_cpu_cost() -> None:
    derived = RELATIVE.derive([19.0, 20.0, 21.0], [5.0, 6.0, 7.0])
    assert derived is not None
    assert (derived.seed_train_cpu_s, derived.seed_eval_cpu_s) == (20.0, 6.0)
    assert (derived.train_seconds, derived.eval_seconds) == (60.0, 18.0)
    applied = RELATIVE.apply(derived)
    assert (applied.train_seconds, applied.eval_seconds) == (60.0, 18.0)
    assert applied.smoke_seconds == RELATIVE.smoke_seconds


def test_absolute_caps_stay_absolute() -> None:
    absolute = Budgets(train_seconds=45, eval_seconds=20)
    assert absolute.derive([20.0], [6.0]) is None
    assert absolute.apply(None) is absolute


def test_the_baseline_records_the_seed_cost_and_the_caps_it_derives() -> None:
    task = TASK.model_copy(update={"budgets": RELATIVE})
    state = with_baseline()
    base = Outcome(
        label=None,
        score=1.0,
        per_seed=(costed(0, 0.9, 19.0, 5.0), costed(1, 1.1, 21.0, 7.0), costed(2, 1.0, 20.0, 6.0)),
    )

    events = outcome_events(state, state.trial(0).id, base, task)

    noise = next(e for e in events if isinstance(e, s.NoiseFloorMeasured))
    assert noise.budgets is not None
    assert (noise.budgets.seed_train_cpu_s, noise.budgets.train_seconds) == (20.0, 60.0)
    assert state.started.derived_budgets == noise.budgets  # later jobs run under them


def test_a_noise_model_recorded_before_derived_caps_reads_as_absolute() -> None:
    stored = {"baseline_trial_id": "x", "noise": {}}
    assert upcast(s.NoiseFloorMeasured, stored, 1)["budgets"] is None


def test_a_machine_without_cpu_accounting_is_refused_before_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpuclock, "PROC", tmp_path / "no-proc")
    with pytest.raises(SandboxUnavailableError) as caught:
        TaskEvaluator.open(str(BUILTIN_ROOT.parent / "docs" / "example-task"), tmp_path, False)
    message = str(caught.value)
    assert message.startswith("cannot enforce CPU-second budgets: no CPU-time accounting here")
    assert "\n" not in message
    assert not (tmp_path / "data").exists()  # refused before anything was prepared
