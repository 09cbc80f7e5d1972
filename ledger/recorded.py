"""A search's recorded world, served back to the loop: what agents proposed, what runners
reported and in which order, what the static checks said. Used by decision replay.

Everything here comes from the log (indexed in `recording.py`); nothing is re-run. The
loop then re-decides on these inputs, and `replay.py` compares each event it would write
with the one that was written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from uuid import UUID

from domain import agent as a
from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.cache import CacheHit, CacheKey, final_side_key, final_sides, side_hit
from domain.config import SearchConfig
from domain.labels import BASELINE
from domain.ports import (
    JobPlan,
    JobSite,
    LineageQuery,
    Outcome,
    Proposal,
    ProposalRequest,
    TrialJob,
)
from domain.recipe import recipe_sha256
from domain.reports import RunReport
from domain.task import RosterEntry
from ledger.executor import Finished, Message, Progressed, Reused
from ledger.recording import Divergence, EndOfRecording, Recording, ResumePoint, recorded_outcome


class RecordedProposer:
    """Returns each sequence's recorded proposal; the loop decides who is asked."""

    name = "recorded"

    def __init__(self, rec: Recording, after: int = 0) -> None:
        self.rec = rec
        self.sessions = {
            seq: [s for position, s in pairs if position > after]
            for seq, pairs in rec.sessions.items()
        }
        self.yields = {
            seq: [y for position, y in pairs if position > after]
            for seq, pairs in rec.yields.items()
        }

    def propose(self, request: ProposalRequest, lineage: LineageQuery) -> Proposal:
        turns = self.yields.get(request.sequence, [])
        if turns:  # offline specialists yield before the trial that takes the number
            turn = turns.pop(0)
            return Proposal(
                specialist=turn.specialist,
                agent=turn.agent,
                parent_id=None,
                hypothesis="",
                yielded=turn.reason,
                view_text=turn.lineage_view,
            )
        sessions = self.sessions.get(request.sequence, [])
        session = sessions.pop(0) if sessions else None
        if session is not None and session.outcome in a.EMPTY_OUTCOMES:
            return Proposal(
                specialist=session.specialist,
                agent=session.backend,
                parent_id=None,
                hypothesis="",
                session=session,
            )
        recorded = self.rec.proposals.get(request.sequence)
        if recorded is None:
            raise EndOfRecording(f"no proposal {request.sequence} in the log")
        recipe = self.rec.recipes.get(recorded.originator_id)
        return Proposal(
            specialist=recorded.specialist,
            agent=recorded.agent,
            parent_id=recorded.parent_id,
            hypothesis=recorded.hypothesis,
            expected_delta=recorded.expected_delta,
            idea=recorded.idea,
            recipe=recipe,
            view_text=recorded.lineage_view,
            session=session,
            edit_error=self._edit_error(recorded, recipe),
        )

    def _edit_error(self, recorded: t.TrialProposed, recipe: Mapping[str, str] | None) -> str:
        if recipe is not None:
            return ""
        for _pos, event in self.rec.events:
            if isinstance(event, t.TrialFailed) and event.originator_id == recorded.originator_id:
                return event.reason
        return ""


class RecordedLineage:
    """Recipes of recorded trials; the recorded proposer needs no view."""

    def __init__(self, rec: Recording) -> None:
        self.rec = rec

    def hold(self) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()

    def view(self, search_id: UUID, specialist: str, lineage: bool) -> Any:
        raise RuntimeError("a recorded proposer reads no lineage view")

    def recipe(self, trial_id: UUID) -> dict[str, str]:
        return dict(self.rec.recipes[trial_id])

    def trial(self, search_id: UUID, sequence: int) -> Any:
        raise RuntimeError("a recorded proposer reads no trial")

    def sql(self, query: str, max_rows: int, max_bytes: int) -> str:
        raise RuntimeError("a recorded proposer runs no query")


class RecordedEvaluator:
    """The task's rules from the log, and each static check's recorded verdict in order."""

    task_dir = "(recorded)"

    def __init__(self, rec: Recording) -> None:
        self.rec = rec
        self.task = rec.task()
        self.task_sha256 = rec.started.task_sha256
        self.checks = dict(self._static_verdicts())
        sandbox = rec.started.config.get("sandbox", SearchConfig.model_fields["sandbox"].default)
        self.site = JobSite(task_dir=self.task_dir, runs_root=None, sandbox=bool(sandbox))

    def job(self, plan: JobPlan) -> TrialJob:
        """The job a recorded run stands for: what it fixes (seeds, threads, budgets under
        the caps its baseline derived, size cap, sandbox) as the loop records it; nothing
        here is ever run."""
        return TrialJob.of(plan, self.task, self.site)

    def _static_verdicts(self) -> Iterator[tuple[tuple[str, str], Outcome | None]]:
        """(child recipe, specialist) -> its pre-launch failure or None: the static check
        is a pure function of those two, so a repeated edit gets the same verdict."""
        for proposed in self.rec.proposals.values():
            tid = proposed.originator_id
            if proposed.specialist == BASELINE or tid not in self.rec.edits:
                continue
            verdict = None if tid in self.rec.launches else self._failure_of(tid)
            yield (self.rec.edits[tid].child_sha256, proposed.specialist), verdict

    def _failure_of(self, trial_id: UUID) -> Outcome | None:
        for _pos, event in self.rec.events:
            if isinstance(event, t.TrialFailed) and event.originator_id == trial_id:
                return recorded_outcome(event)
        return None

    def seed_recipe(self) -> dict[str, str]:
        return dict(self.rec.recipes[self.rec.proposals[0].originator_id])

    def check_edit(
        self,
        parent: Mapping[str, str],
        child: Mapping[str, str],
        specialist: RosterEntry,
        strict: bool,
    ) -> Outcome | None:
        return self.checks.get((recipe_sha256(child), specialist.key))

    def classify(self, report: RunReport, scoring_seeds: tuple[int, ...]) -> Outcome:
        raise RuntimeError("recorded outcomes are never re-classified")


class RecordedExecutor:
    """Delivers runner messages exactly in the recorded order: progress and completions,
    and the final test's two outcomes (a FinalTested that ran both sides)."""

    def __init__(self, rec: Recording, on_interrupt: Callable[[], None], after: int = 0) -> None:
        kinds = (
            t.TrainingProgressed,
            t.TrialScored,
            t.TrialFailed,
            t.TrialReused,
            s.SearchResumed,
            s.SearchFinished,
            s.FinalTested,
        )
        self.queue: list[tuple[int, DomainEvent]] = [
            (p, e)
            for p, e in rec.events
            if p > after and isinstance(e, kinds) and not _ran_nothing(e)
        ]
        self.rec, self.on_interrupt = rec, on_interrupt
        self.submitted: set[UUID] = set()
        self.pending: list[Message] = []  # the second side of a final test

    def submit(self, trial_id: UUID, job: TrialJob) -> None:
        self.submitted.add(trial_id)
        self._drop_pre_launch()

    def _drop_pre_launch(self) -> None:
        """Failures before launch are written by the loop itself, not delivered."""
        while (
            self.queue
            and isinstance(self.queue[0][1], t.TrialFailed)
            and self.queue[0][1].originator_id not in self.rec.launches
        ):
            self.queue.pop(0)

    def next(self, timeout: float) -> Message | None:
        if self.pending:
            return self.pending.pop(0)
        self._drop_pre_launch()
        if not self.queue:
            raise EndOfRecording("the log ends with trials in flight")
        position, event = self.queue[0]
        if isinstance(event, s.FinalTested):
            return self._final(position, event)
        if isinstance(event, s.SearchResumed):
            raise ResumePoint(position)
        if _is_interrupt(event):
            self.on_interrupt()
            return None
        if isinstance(event, s.SearchFinished):
            raise Divergence(
                position,
                "the log finished the search while replay still had trials running",
                event,
                None,
            )
        self.queue.pop(0)
        if event.originator_id not in self.submitted:
            raise Divergence(
                position, "the log completes a trial that replay never launched", event, None
            )
        if isinstance(event, t.TrainingProgressed):
            return Progressed(event.originator_id, event.seed, list(event.samples))
        if isinstance(event, t.TrialReused):
            return self._reused(position, event)
        return Finished(event.originator_id, recorded_outcome(event))

    def _reused(self, position: int, event: t.TrialReused) -> Message:
        """A cache hit: the outcome stored with it is what the cache answered."""
        following = self.queue.pop(0)[1] if self.queue else None
        if not isinstance(following, t.TrialScored | t.TrialFailed) or (
            following.originator_id != event.originator_id
        ):
            raise Divergence(position, "a reused trial has no outcome after it", event, None)
        outcome = recorded_outcome(following)
        hit = CacheHit(
            source_search_id=event.source_search_id,
            source_trial_id=event.source_trial_id,
            source_sequence=event.source_sequence,
            key=CacheKey.model_validate(event.key),
            outcome=outcome,
        )
        return Reused(event.originator_id, outcome, hit)

    def _final(self, position: int, event: s.FinalTested) -> Message:
        sides = final_sides(event)
        if not {side.trial_id for side in sides} <= self.submitted:
            raise Divergence(position, "the log tests recipes replay never ran", event, None)
        self.queue.pop(0)
        launched = next(e for p, e in reversed(self.rec.final_launches) if p < position)
        self.pending = [self._side(launched, side) for side in sides]
        return self.pending.pop(0)

    def _side(self, launched: s.FinalTestLaunched, side: s.FinalSide) -> Message:
        """A side as it came back: run, or answered by the cache under the key its launch
        gives (so a side recorded with another key diverges)."""
        outcome = recorded_outcome(side)
        key = final_side_key(self.rec.started, launched, side.trial_id)
        hit = side_hit(side, key, outcome)
        return (
            Finished(side.trial_id, outcome) if hit is None else Reused(side.trial_id, outcome, hit)
        )

    def cancel_all(self) -> None:
        """Nothing runs in a replay: the loop's own abort events are compared instead."""


def _ran_nothing(event: DomainEvent) -> bool:
    """A FinalTested with no run (no test split, no keep): the loop writes it itself."""
    return isinstance(event, s.FinalTested) and event.best is None


def _is_interrupt(event: DomainEvent) -> bool:
    if isinstance(event, s.SearchFinished):
        return event.reason == "interrupted"
    return (
        isinstance(event, t.TrialFailed)
        and event.label == "harness_abort"
        and event.reason.startswith("interrupted")
    )
