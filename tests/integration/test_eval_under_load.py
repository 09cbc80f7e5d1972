"""An evaluation's verdict does not depend on how busy the machine is.

Budgets are CPU-seconds: the harness stops the evaluate command past its CPU cap or at
the wall backstop (a multiple of the cap), and tells a starved run from a model that
slept by what it measured (evaluators/overrun.py). So the evaluate command must not give
up earlier on a wall clock of its own. The tests evaluate a tiny golf-cpu trial's
artifact again, as the pipeline does (real sandbox, real processes), under budgets of
their own; no wall time is asserted: that is what the load changes.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from domain.labels import FailureLabel as L
from domain.ports import Outcome, TrialJob
from domain.reports import EvalReport, RunReport
from evaluators.evaluator import TaskEvaluator
from evaluators.harness import staging
from evaluators.harness.evaluation import BACKSTOP_ENV, GRACE_S, run_eval
from evaluators.harness.staging import TrialPaths
from evaluators.pipeline import values
from tests.golf_support import TRIAL_RUN_DIR, Edit, one_job, run_trial, tiny_golf
from tests.load_support import busy_loops, pinned

LOOPS = 4  # busy loops on the evaluation's own CPU: it gets about a fifth of that CPU
LOAD_BACKSTOP = 30  # x the cap: far past what the loops cost, so no stop is a backstop's
LOAD_MARGIN = 2.0  # the eval cap, in multiples of the quiet evaluation's CPU-seconds
SLEEPS_IN_LOAD = "    import time; time.sleep(10**6)  # a server that never answers\n"
LOAD_MODEL = "def load_model(artifact_dir: str) -> nn.Module:\n"
PRINTS_BACKSTOP = (  # an evaluate command that reports the backstop it was told, or -1
    "import json, os\n"
    f"told = float(os.environ.get({BACKSTOP_ENV!r}, -1))\n"
    "print(json.dumps({'score': None, 'measurements': {'told': told}}))"
)


@dataclass(frozen=True)
class Trained:
    """A tiny trial, run quietly: its task, runs folder, report and artifact."""

    task: Path
    runs: Path
    report: RunReport
    artifact: Path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("eval-load")
    task, runs = tiny_golf(root, steps=1), root / "runs"
    outcome, report = run_trial(task, runs, lambda text: text)
    assert outcome.label is None, outcome.reason
    assert report is not None
    # Kept apart: each re-evaluation stages trial 1's run dir afresh (tests.golf_support).
    artifact = shutil.copytree(runs / TRIAL_RUN_DIR / "artifacts" / "0", root / "artifact")
    return Trained(task, runs, report, artifact)


def staged(trained: Trained, **budgets: Any) -> tuple[TaskEvaluator, TrialJob, TrialPaths]:
    """A job of the trial's task under its budgets changed by `budgets`, staged."""
    evaluator = TaskEvaluator.open(str(trained.task), trained.runs)
    job = one_job(evaluator, {}, (0,))
    job = job.model_copy(update={"budgets": job.budgets.model_copy(update=budgets)})
    return evaluator, job, staging.stage(job)


def evaluate_again(
    trained: Trained, edit: Edit | None = None, **budgets: Any
) -> tuple[Outcome, EvalReport]:
    """The trial's verdict with its artifact (model.py edited by `edit`) evaluated again
    by evaluation.run_eval, under the task's budgets changed by `budgets`."""
    evaluator, job, paths = staged(trained, **budgets)
    artifact = paths.artifact(0)
    shutil.copytree(trained.artifact, artifact)
    if edit is not None:
        model = artifact / "model.py"
        edited = edit(model.read_text())
        assert edited != model.read_text(), "the edit did not apply"
        model.write_text(edited)
    command = evaluator.task.commands.evaluate
    argv = staging.fill(command, values(job, paths.scratch(0), 0, artifact))
    ev = run_eval(job, paths, 0, argv)
    seed = trained.report.seeds[0].model_copy(update={"eval": ev})
    report = trained.report.model_copy(update={"seeds": (seed,), "budgets": job.budgets})
    return evaluator.classify(report, (0,)), ev


def test_an_evaluation_on_a_busy_cpu_gets_the_quiet_verdict(trained: Trained) -> None:
    """The eval cap is twice the quiet evaluation's CPU-seconds; beside busy loops on the
    same CPU its wall time goes far past that cap, its CPU time does not. It scored
    "evaluation ran out of time" when the evaluate command kept a wall clock of its own."""
    quiet = trained.report.seeds[0].eval
    assert quiet is not None
    assert quiet.score is not None
    cap = math.ceil(LOAD_MARGIN * quiet.process.cpu_s)
    cpu = {max(os.sched_getaffinity(0))}
    with pinned(cpu), busy_loops(LOOPS, cpu) as loops:
        outcome, loaded = evaluate_again(trained, eval_seconds=cap, wall_backstop=LOAD_BACKSTOP)
        assert all(loop.poll() is None for loop in loops)  # they ran the whole time
    assert loaded.error == "", loaded.error
    assert loaded.process.stopped == ""
    assert outcome.label is None, outcome.reason
    assert loaded.score == quiet.score  # the evaluation is deterministic


@pytest.mark.parametrize(("clock", "told"), [("cpu", True), ("wall", False)])
def test_only_under_the_cpu_clock_is_the_command_told_the_backstop(
    trained: Trained, clock: str, told: bool
) -> None:
    """Under the wall clock the eval cap is the command's own deadline, as before."""
    _, job, paths = staged(trained, clock=clock, eval_seconds=10)
    ev = run_eval(job, paths, 0, [sys.executable, "-c", PRINTS_BACKSTOP])
    assert ev.error == "", ev.error
    backstop = job.budgets.wall_backstop * (10 + GRACE_S)
    assert ev.measurements["told"] == (backstop if told else -1)


def test_a_server_that_sleeps_forever_is_stopped_as_an_eval_overrun(trained: Trained) -> None:
    """Attack: a model whose load never returns and uses no CPU. The harness stops the
    evaluation at its wall backstop; nothing kept it waiting, so it is the recipe's own
    overrun (not harness_abort), and no model server outlives the stop."""
    sleeps = lambda text: text.replace(LOAD_MODEL, LOAD_MODEL + SLEEPS_IN_LOAD, 1)  # noqa: E731
    outcome, ev = evaluate_again(trained, sleeps, eval_seconds=5, wall_backstop=9)
    assert outcome.label is L.EVAL_BUDGET_OVERRUN, outcome.reason
    assert "slept or blocked" in outcome.reason
    assert outcome.score is None
    assert ev.process.stopped == "wall"
    assert not running(str(trained.runs / "searches" / "again"))


def running(fragment: str) -> list[str]:
    """Command lines of live processes that name `fragment`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # it exited meanwhile
            continue
        if fragment in line:
            found.append(line)
    return found
