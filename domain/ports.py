"""Ports: the values that cross package boundaries and the protocols that produce them.

Values in, values out: agents return a Proposal, runners a RunReport, evaluators an
Outcome; only the ledger's search loop turns values into events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import PurePath
from typing import Literal, Protocol
from uuid import UUID

from pydantic import Field

from domain.agent import SessionRecord
from domain.base import Immutable, JSONValue
from domain.budgets import Budgets, DerivedBudgets
from domain.labels import FailureLabel
from domain.lineage import LineageView
from domain.reports import RunReport
from domain.task import Commands, RosterEntry, SandboxRules, TaskSpec
from domain.trial import ProgressSample, SeedResult

# Agents:


class ProposalRequest(Immutable):
    search_id: UUID
    sequence: int
    specialist: RosterEntry
    seed: int  # the search seed; proposers derive their randomness from it and sequence
    lineage: bool
    strict_surfaces: bool = False
    budget_usd: float | None = None  # what the search may still spend on model calls


class Proposal(Immutable):
    specialist: str
    agent: str
    parent_id: UUID | None
    hypothesis: str
    expected_delta: float | None = None
    idea: str = ""
    recipe: dict[str, str] | None = None  # the child recipe; None if the edit failed
    edit_error: str = ""  # why the edit could not be made (a preflight_crash)
    yielded: str = ""  # why the specialist has no edit to offer: no trial, its turn passes
    view_text: str = ""
    session: SessionRecord | None = None  # the LLM session behind it: stored as events


class LineageQuery(Protocol):
    def view(self, search_id: UUID, specialist: str, lineage: bool) -> LineageView: ...
    def recipe(self, trial_id: UUID) -> dict[str, str]: ...
    def trial(self, search_id: UUID, sequence: int) -> dict[str, JSONValue]:
        """One trial as an agent may read it: hypothesis, diff, outcome, evidence, log."""
        ...

    def sql(self, query: str, max_rows: int, max_bytes: int) -> str:
        """One read-only query's rows as JSON lines, cut at the caps; ValueError if refused."""
        ...

    def hold(self) -> AbstractContextManager[object]:
        """Keep the read model open across the reads of one proposal."""
        ...


class Proposer(Protocol):
    name: str

    def propose(self, request: ProposalRequest, lineage: LineageQuery) -> Proposal: ...


# Runners and evaluators:


class JobPlan(Immutable):
    """What a trial's job fixes, as the loop (or a reproduction) asks for it; the evaluator
    adds where the task, its data and the run's folder are (`Evaluator.job`)."""

    search_id: UUID
    trial_id: UUID
    sequence: int
    recipe: dict[str, str]
    seeds: tuple[int, ...]
    scoring_seeds: tuple[int, ...]  # the seeds whose mean is the trial's score
    threads: int
    smoke: bool = True  # extensions skip it: the recipe already passed
    split: Literal["validation", "test"] = "validation"  # test: the final test's runs only
    derived: DerivedBudgets | None = None  # the caps the search's baseline derived
    folder: str = ""  # a folder of its own in the search's (a reproduction's); "": none


class JobSite(Immutable):
    """Where an evaluator's jobs run: fixed for its lifetime. `runs_root` None: a recorded
    world, whose jobs are never run and have no folders."""

    task_dir: str
    runs_root: str | None
    data_dir: str = ""
    heldout_dir: str = ""  # the validation split
    test_dir: str = ""  # the final test's split
    sandbox: bool = True


class TrialJob(Immutable):
    """Everything the trusted trial pipeline needs, as plain data (it crosses processes)."""

    trial_id: UUID
    sequence: int
    task_dir: str
    recipe: dict[str, str]
    seeds: tuple[int, ...]
    scoring_seeds: tuple[int, ...]  # the seeds whose mean is the trial's score
    threads: int
    budgets: Budgets
    size_cap_bytes: int | None
    sandbox: bool
    rules: SandboxRules  # the task's caps on agent code, as the job runs it
    commands: Commands  # the task's, so the pipeline never reloads the task for them
    upstream: bool  # an upstream task: its recipes import from the user's environment
    run_dir: str
    data_dir: str
    heldout_dir: str  # the split the evaluate command scores, passed to it as {heldout}
    smoke: bool = True
    backstop_seconds: float  # the runner's outer cap; past it the trial is harness_abort
    split: Literal["validation", "test"] = "validation"  # test: the final test's runs only

    @classmethod
    def of(
        cls,
        plan: JobPlan,
        task: TaskSpec,
        site: JobSite,
        backstop: Callable[[Budgets, int], float] = lambda budgets, seeds: 0.0,
    ) -> TrialJob:
        """The one way a job is built: the plan under the task's caps, at the site;
        `backstop(budgets, seeds)` gives the runner's outer cap."""
        budgets = task.budgets.apply(plan.derived)
        test = plan.split == "test"
        return cls(
            trial_id=plan.trial_id,
            sequence=plan.sequence,
            task_dir=site.task_dir,
            recipe=dict(plan.recipe),
            seeds=plan.seeds,
            scoring_seeds=plan.scoring_seeds,
            threads=plan.threads,
            budgets=budgets,
            size_cap_bytes=task.size_cap_bytes,
            sandbox=site.sandbox,
            rules=task.sandbox,
            commands=task.commands,
            upstream=task.kind == "upstream",
            run_dir=_run_dir(plan, site),
            data_dir=site.data_dir,
            heldout_dir=site.test_dir if test else site.heldout_dir,
            smoke=plan.smoke,
            backstop_seconds=backstop(budgets, len(plan.seeds)),
            split=plan.split,
        )


def _run_dir(plan: JobPlan, site: JobSite) -> str:
    if site.runs_root is None:
        return "(recorded)"
    search = PurePath(site.runs_root) / "searches" / str(plan.search_id)
    kind = "test" if plan.split == "test" else "trial"
    return str(search / plan.folder / f"{kind}-{plan.sequence:04d}")


class Outcome(Immutable):
    """A classified trial: a score when `label` is None, else a failure with evidence."""

    label: FailureLabel | None
    reason: str = ""
    score: float | None = None
    per_seed: tuple[SeedResult, ...] = ()
    measurements: dict[str, float] = Field(default_factory=dict)
    evidence: dict[str, JSONValue] = Field(default_factory=dict)
    log_excerpt: str = ""
    rules_version: str = ""
    confinement: str = ""  # RunReport.confinement, recorded with the outcome
    accounting: str = ""  # how the runs' CPU-seconds were counted (evaluators.harness.cpuclock)


ProgressCallback = Callable[[int, list[ProgressSample]], None]


class Runner(Protocol):
    name: str
    host: str

    def run(
        self, job: TrialJob, on_progress: ProgressCallback, cancel: threading.Event
    ) -> RunReport: ...


class Evaluator(Protocol):
    task: TaskSpec
    task_dir: str
    task_sha256: str

    def seed_recipe(self) -> dict[str, str]: ...

    def job(self, plan: JobPlan) -> TrialJob:
        """The job that runs `plan` here: its task's caps, folders and sandbox."""
        ...

    def check_edit(
        self,
        parent: Mapping[str, str],
        child: Mapping[str, str],
        specialist: RosterEntry,
        strict: bool,
    ) -> Outcome | None: ...

    def classify(self, report: RunReport, scoring_seeds: tuple[int, ...]) -> Outcome: ...


# The read model:


class ReadModel(Protocol):
    """The projections as the ledger's use cases read them (projections/ implements it):
    kept current with the ledger, or rebuilt from it, at any time."""

    def lineage(self) -> LineageQuery:
        """The agents' window, current with the ledger at each read."""
        ...

    def at(self, position: int) -> LineageQuery:
        """The agents' window as of a ledger position (asked in rising order)."""
        ...

    def refresh(self) -> int:
        """Project every new event; returns how many."""
        ...

    def rebuild(self) -> int:
        """Project the whole ledger again, from nothing; returns how many events."""
        ...

    def close(self) -> None: ...
