"""The Evaluator port for a task folder: static preflight, trial jobs, classification."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from domain.budgets import Budgets
from domain.ports import JobPlan, JobSite, Outcome, TrialJob
from domain.reports import RunReport
from domain.task import RosterEntry
from evaluators import classify, overrun, preflight
from evaluators.harness import cpuclock, evaluation, staging
from evaluators.harness.sandbox import bwrap_problem
from evaluators.tasks import Task, load


class SandboxUnavailableError(RuntimeError):
    pass


class TaskEvaluator:
    def __init__(self, task: Task, runs_root: Path, sandbox: bool = True) -> None:
        self.task_obj = task
        self.task = task.spec
        self.task_dir = str(task.folder)
        self.task_sha256 = task.sha256
        self.data_dir, self.heldout_dir = staging.data_dirs(task, runs_root / "data")
        self.test_dir = staging.final_test_dir(task, runs_root / "data")
        self.site = JobSite(
            task_dir=self.task_dir,
            runs_root=str(runs_root),
            data_dir=str(self.data_dir),
            heldout_dir=str(self.heldout_dir),
            test_dir=str(self.test_dir),
            sandbox=sandbox,
        )

    @classmethod
    def open(cls, name_or_path: str, runs_root: Path, sandbox: bool = True) -> TaskEvaluator:
        """Load a task, refuse to run agent code unsandboxed unless asked, prepare data."""
        task = load(name_or_path)
        if sandbox and task.spec.kind == "upstream":
            raise SandboxUnavailableError(
                "upstream tasks train on GPUs, which the sandbox cannot expose yet: pass"
                " --unsafe-no-sandbox (see evaluators/upstream/README.md for what that means)"
            )
        if sandbox:
            problem = bwrap_problem()
            if problem:
                raise SandboxUnavailableError(
                    f"cannot sandbox agent-written code: {problem}. Install bubblewrap"
                    " (apt-get install bubblewrap) or pass --unsafe-no-sandbox"
                )
        problem = cpuclock.problem() if task.spec.budgets.clock == "cpu" else None
        if problem:
            raise SandboxUnavailableError(
                f"cannot enforce CPU-second budgets: {problem}. Run where /proc is mounted"
                ' or give the task clock = "wall" in [budgets]'
            )
        evaluator = cls(task, runs_root, sandbox)
        staging.ensure_data(evaluator.task_obj, runs_root / "data")
        return evaluator

    def seed_recipe(self) -> dict[str, str]:
        return self.task_obj.seed_recipe()

    def check_edit(
        self,
        parent: Mapping[str, str],
        child: Mapping[str, str],
        specialist: RosterEntry,
        strict: bool,
    ) -> Outcome | None:
        outcome = preflight.static_check(parent, child, specialist, strict)
        if outcome is None:
            return None
        return outcome.model_copy(update={"rules_version": self.task.rules_version})

    def job(self, plan: JobPlan) -> TrialJob:
        """A trial's job, scored on the validation split; or (split "test") one side of
        the final test, scored on the test split, in a run dir of its own."""
        if plan.split == "test" and self.task.test is None:
            raise ValueError(f"{self.task.name} declares no test split")
        return TrialJob.of(plan, self.task, self.site, backstop_seconds)

    def classify(self, report: RunReport, scoring_seeds: tuple[int, ...]) -> Outcome:
        return classify.classify(report, self.task, scoring_seeds)


def backstop_seconds(budgets: Budgets, seeds: int) -> float:
    """The runner's outer cap on a whole job: the smoke run, then each seed's training (its
    re-measures and starved re-runs) and evaluation, with a margin; past it the trial is
    harness_abort."""
    train = budgets.wall_cap(budgets.train_limit()) * (1 + budgets.remeasures)
    evaluate = budgets.wall_cap(budgets.eval_seconds + evaluation.GRACE_S)
    per_seed = overrun.STARVED_RERUNS * train + evaluate + 10
    return budgets.wall_cap(budgets.smoke_seconds) + 60 + per_seed * seeds
