"""The loop's job requests as plans (every evaluator turns them into jobs), and recorded
runs as (run, outcome) pairs: what replay, the trial cache and rejudge read from a log
without running anything."""

from __future__ import annotations

from uuid import UUID

from domain import trial as t
from domain.base import DomainEvent
from domain.config import SearchConfig
from domain.ports import JobPlan
from domain.progress import SearchState
from ledger.executor import JobRequest


def job_plan(request: JobRequest, state: SearchState, config: SearchConfig) -> JobPlan:
    """The plan of a job the loop asks for: the request under the search's threads and
    the caps its baseline derived. Live runs, replay and rejudge all plan jobs so."""
    return JobPlan(
        search_id=state.started.id,
        trial_id=request.trial_id,
        sequence=request.sequence,
        recipe=dict(request.recipe),
        seeds=request.seeds,
        scoring_seeds=request.scoring_seeds,
        threads=config.threads,
        smoke=request.smoke,
        split="test" if request.split == "test" else "validation",
        derived=state.started.derived_budgets,
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
