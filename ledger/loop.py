"""The search loop: the only place where values become events.

One thread (this one) decides and writes; trials run on worker threads and report back
through the executor's queue, so event order is the order this thread saw completions.
The same loop drives a decision replay, with a recorded executor and a comparing sink.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from domain import faults
from domain import final_test as ft
from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.cache import reuse_events
from domain.config import SearchConfig
from domain.labels import BASELINE, FinishReason, TrialStatus
from domain.ports import Outcome, Proposal, ProposalRequest, TrialJob
from domain.progress import SearchState, next_specialist, stop_reason
from domain.recipe import recipe_sha256
from domain.rerun import rerun_proposal
from domain.steps import abort_events, launch_facts, outcome_events, proposal_events
from ledger.executor import Finished, JobRequest, Message, Progressed, Reused
from ledger.world import World


class Sink(Protocol):
    def append(self, stream: UUID, events: Sequence[DomainEvent]) -> Any: ...


Observer = Callable[[DomainEvent, SearchState], None]


class SearchLoop:
    def __init__(
        self,
        state: SearchState,
        sink: Sink,
        world: World,
        config: SearchConfig,
        observers: Sequence[Observer] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.state, self.sink, self.config = state, sink, config
        self.evaluator, self.executor = world.evaluator, world.executor
        self.proposer, self.lineage = world.proposer, world.lineage
        self.make_job, self.where = world.job, world.where
        self.observers, self.clock = observers, clock
        self.in_flight: set[UUID] = set()
        self.recipes: dict[UUID, Mapping[str, str]] = {}  # launched here: racing re-runs them
        self.stop_requested = threading.Event()  # set by a signal handler; acted on safely

    def launch_fields(self, job: TrialJob) -> dict[str, Any]:
        """A launch's facts: what the job runs with, and where it ran."""
        where = self.where(job)
        return {
            **launch_facts(job),
            "runner": where.runner,
            "host": where.host,
            "rules_version": where.rules_version,
        }

    # Recording:

    def record(self, events: list[DomainEvent]) -> None:
        """Store one step's events in one transaction (they were folded as built)."""
        self.sink.append(self.state.started.id, events)
        for event in events:
            for observer in self.observers:
                observer(event, self.state)

    # The loop:

    def run(self) -> FinishReason:
        """Propose and run trials until a stop rule fires; returns why it stopped.

        An interrupt is only acted on between steps, so no step is ever half-stored.
        """
        while True:
            if self.stop_requested.is_set():
                return self.interrupt("interrupted by the user (Ctrl-C)")
            reason = self._fill()
            if not self.in_flight and not self.stop_requested.is_set():
                return self.conclude(reason or FinishReason.TRIAL_BUDGET)
            message = self.executor.next(timeout=0.25)
            if message is not None:
                self._handle(message)

    def _fill(self) -> FinishReason | None:
        """Launch proposals while workers are free; the baseline runs alone, first."""
        while not self.stop_requested.is_set():
            reason = stop_reason(self.state, self.config.limits(), self.clock())
            if reason is not None or len(self.in_flight) >= self.config.workers:
                return reason
            if self.state.best is None and self.in_flight:
                return None  # the baseline runs alone: every verdict needs it
            self._propose()
        return None

    def _propose(self) -> None:
        """The next trial: one a stop cut short, run again as proposed (once a baseline is
        judged: domain/rerun.py), or the next specialist's proposal."""
        rerun = self.state.reruns.next() if self.state.best is not None else None
        key = self.state.trials[rerun].specialist if rerun else next_specialist(self.state)
        seq = self.state.next_sequence
        with self.lineage.hold():
            if rerun is not None:
                proposal = rerun_proposal(self.state.reruns, rerun, self.lineage.recipe(rerun))
            else:
                proposal = self._proposal(key, seq)
            parent = self.lineage.recipe(proposal.parent_id) if proposal.parent_id else {}
        jobs: dict[UUID, TrialJob] = {}
        task, baseline = self.evaluator.task, key == BASELINE

        def launch(trial_id: UUID) -> dict[str, Any]:
            request = JobRequest(
                trial_id,
                seq,
                proposal.recipe or {},
                self.config.trial_seeds(task, baseline),
                self.config.scoring_seeds(task, baseline),
                self.config.smoke,
            )
            jobs[trial_id] = self.make_job(request)
            self.recipes[trial_id] = request.recipe
            return self.launch_fields(jobs[trial_id])

        faults.point("propose")
        check = self._check(key, parent)
        self.record(proposal_events(self.state, proposal, parent, check, launch, rerun))
        self._submit(jobs)

    def _check(
        self, key: str, parent: Mapping[str, str]
    ) -> Callable[[Mapping[str, str]], Outcome | None]:
        """The static preflight of a child recipe against `parent` (none for the baseline)."""
        if key == BASELINE:
            return lambda child: None
        specialist = self.evaluator.task.specialist(key)
        return lambda child: self.evaluator.check_edit(
            parent, child, specialist, self.config.strict_surfaces
        )

    def _submit(self, jobs: dict[UUID, TrialJob]) -> None:
        for trial_id, job in jobs.items():
            self.in_flight.add(trial_id)
            self.executor.submit(trial_id, job)
            faults.point("launched")

    def _proposal(self, key: str, seq: int) -> Proposal:
        if key == BASELINE:
            return Proposal(
                specialist="baseline",
                agent="harness",
                parent_id=None,
                hypothesis="the seed recipe, run with extra seeds to measure noise",
                recipe=self.evaluator.seed_recipe(),
                idea="baseline",
                view_text="(the baseline sees no lineage)",
            )
        cap = self.config.cost_cap_usd
        request = ProposalRequest(
            search_id=self.state.started.id,
            sequence=seq,
            specialist=self.evaluator.task.specialist(key),
            seed=self.config.seed,
            lineage=self.config.lineage,
            strict_surfaces=self.config.strict_surfaces,
            budget_usd=None if cap is None else cap - self.state.cost_usd,
        )
        return self.proposer.propose(request, self.lineage)

    def _handle(self, message: Message) -> None:
        if isinstance(message, Progressed):
            trial = self.state.trials[message.trial_id]
            if trial.status is TrialStatus.LAUNCHED and message.samples:
                event = t.record_progress(trial, seed=message.seed, samples=tuple(message.samples))
                self.state.apply(event)
                self.record([event])
            return
        faults.point("outcome")
        self.in_flight.discard(message.trial_id)
        jobs: dict[UUID, TrialJob] = {}

        def extend(trial_id: UUID, seeds: tuple[int, ...]) -> dict[str, Any]:
            trial = self.state.trials[trial_id]
            request = JobRequest(
                trial_id, trial.sequence, self.recipes[trial_id], seeds, seeds, False
            )
            jobs[trial_id] = self.make_job(request)
            return self.launch_fields(jobs[trial_id])

        task = self.evaluator.task
        reused = (
            reuse_events(self.state, message.trial_id, message.hit)
            if isinstance(message, Reused)
            else []
        )
        outcome = outcome_events(self.state, message.trial_id, message.outcome, task, extend)
        self.record([*reused, *outcome])
        self._submit(jobs)

    # Ending:

    def conclude(self, reason: FinishReason) -> FinishReason:
        """The final test of the best on the test split, when due (domain/final_test.py),
        then the finish, stored with the test's result in one transaction."""
        if not ft.due(self.state, reason):
            return self.finish(reason)
        jobs: dict[UUID, TrialJob] = {}
        opening = ft.opening_events(
            self.state, reason, self.evaluator.task, lambda plan: self._final_jobs(plan, jobs)
        )
        if not jobs:  # nothing to run: the result is already in `opening`
            return self.finish(reason, before=opening)
        self.record(opening)
        self._submit(jobs)
        faults.point("final test")  # a kill here: resumed, the final test runs again
        answers = self._collect(set(jobs))
        if answers is None:
            return self.interrupt("interrupted by the user (Ctrl-C) during the final test")
        outcomes = {tid: answer.outcome for tid, answer in answers.items()}
        hits = {tid: answer.hit for tid, answer in answers.items() if isinstance(answer, Reused)}
        return self.finish(reason, before=ft.closing_events(self.state, outcomes, hits))

    def _final_jobs(self, plan: s.FinalPlan, jobs: dict[UUID, TrialJob]) -> dict[str, Any]:
        """Both recipes' jobs on the plan's seeds and the test split; the run facts."""
        sides = (plan.best_trial_id, plan.seed_trial_id)
        with self.lineage.hold():
            recipes = {tid: self.lineage.recipe(tid) for tid in sides}
        for tid in sides:
            sequence = self.state.trials[tid].sequence
            request = JobRequest(tid, sequence, recipes[tid], plan.seeds, plan.seeds, False, "test")
            jobs[tid] = self.make_job(request)
        seed_recipe = recipe_sha256(recipes[plan.seed_trial_id])
        return {**self.launch_fields(jobs[plan.best_trial_id]), "seed_recipe_sha256": seed_recipe}

    def _collect(self, waiting: set[UUID]) -> dict[UUID, Finished] | None:
        """The final test's answers by trial id (run, or `Reused` from the trial cache),
        or None if the user interrupts."""
        answers: dict[UUID, Finished] = {}
        while waiting - answers.keys():
            if self.stop_requested.is_set():
                return None
            message = self.executor.next(timeout=0.25)
            if isinstance(message, Finished) and message.trial_id in waiting:
                self.in_flight.discard(message.trial_id)
                answers[message.trial_id] = message
        return answers

    def finish(
        self, reason: FinishReason, detail: str = "", before: Sequence[DomainEvent] = ()
    ) -> FinishReason:
        """SearchFinished, stored in one transaction with `before` (already folded)."""
        best = self.state.best
        event = s.finish(
            self.state.started,
            reason,
            trials=self.state.proposals,
            best_trial_id=best.id if best else None,
            best_score=best.score if best else None,
            detail=detail,
        )
        self.state.apply(event)
        self.record([*before, event])
        return reason

    def interrupt(self, why: str) -> FinishReason:
        """Cancel every trial in flight; each ends harness_abort, then the search ends."""
        self.executor.cancel_all()
        for trial in self.state.in_flight():
            self.record(abort_events(self.state, trial.id, why))
        self.in_flight.clear()
        return self.finish(FinishReason.INTERRUPTED, why)
