"""Recorded runs, as the loop's jobs and as (run, outcome) pairs: what replay, the trial
cache and rejudge read from a log without running anything."""

from __future__ import annotations

from uuid import UUID

from domain import trial as t
from domain.base import DomainEvent
from domain.config import SearchConfig
from domain.ports import TrialJob
from domain.task import DerivedBudgets, TaskSpec
from ledger.loop import JobRequest


def recorded_job(
    request: JobRequest, config: SearchConfig, task: TaskSpec, derived: DerivedBudgets | None
) -> TrialJob:
    """The job a recorded run stands for: what it fixes (seeds, threads, budgets under the
    caps its baseline derived, size cap, sandbox) as the loop records it; nothing here is
    ever run."""
    return TrialJob(
        trial_id=request.trial_id,
        sequence=request.sequence,
        task_dir="(recorded)",
        recipe=dict(request.recipe),
        seeds=request.seeds,
        scoring_seeds=request.scoring_seeds,
        threads=config.threads,
        budgets=task.budgets.apply(derived),
        size_cap_bytes=task.size_cap_bytes,
        sandbox=config.sandbox,
        run_dir="(recorded)",
        data_dir="",
        heldout_dir="",
        smoke=request.smoke,
        backstop_seconds=0,
        split="test" if request.split == "test" else "validation",
    )


class RunAnswers:
    """Pairs each run of a trial (its launch, then each racing extension) with the
    outcome event that answered it, as events are fed in ledger order."""

    def __init__(self) -> None:
        self.pending: dict[UUID, list[t.RunFacts]] = {}

    def feed(self, event: DomainEvent) -> tuple[t.RunFacts, t.TrialScored | t.TrialFailed] | None:
        if isinstance(event, t.TrialLaunched | t.TrialExtended):
            self.pending.setdefault(event.originator_id, []).append(event)
        elif isinstance(event, t.TrialScored | t.TrialFailed) and self.pending.get(
            event.originator_id
        ):
            return self.pending[event.originator_id].pop(0), event
        return None
