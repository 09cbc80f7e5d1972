"""A search's recorded world, served back to the loop: what agents proposed, what runners
reported and in which order, what the static checks said. Used by decision replay.

Everything here comes from the log; nothing is re-run. The loop then re-decides on these
inputs, and `replay.py` compares each event it would write with the one that was written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.ports import Outcome, Proposal, ProposalRequest, RunReport, TrialJob
from domain.recipe import apply_diff
from domain.task import RosterEntry, TaskSpec
from ledger.loop import Finished, Message, Progressed


class EndOfRecording(Exception):  # noqa: N818 - a signal, not an error
    """The log stops here: the search was still running, or its process died."""


class ResumePoint(Exception):  # noqa: N818 - a signal, not an error
    """The log shows a resume here: the replay must recover as a live resume did."""


class Divergence(Exception):  # noqa: N818 - the name users see in reports
    def __init__(self, position: int | None, what: str, recorded: Any, produced: Any) -> None:
        self.position, self.what, self.recorded, self.produced = position, what, recorded, produced
        super().__init__(f"position {position}: {what}")


@dataclass
class Recording:
    """One search's events, in ledger order, with the facts replay needs indexed."""

    events: list[tuple[int, DomainEvent]]
    proposals: dict[int, t.TrialProposed] = field(default_factory=dict)
    edits: dict[UUID, t.RecipeEdited] = field(default_factory=dict)
    launches: dict[UUID, t.TrialLaunched] = field(default_factory=dict)
    recipes: dict[UUID, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, events: list[tuple[int, DomainEvent]]) -> Recording:
        rec = cls(events)
        for _position, event in events:
            if isinstance(event, t.TrialProposed):
                rec.proposals[event.sequence] = event
            elif isinstance(event, t.RecipeEdited):
                rec.edits[event.originator_id] = event
                parent = rec.proposals_by_id(event.originator_id).parent_id
                base = rec.recipes.get(parent, {}) if parent else {}
                rec.recipes[event.originator_id] = apply_diff(base, event.diff)
            elif isinstance(event, t.TrialLaunched):
                rec.launches[event.originator_id] = event
        return rec

    def proposals_by_id(self, trial_id: UUID) -> t.TrialProposed:
        return next(p for p in self.proposals.values() if p.originator_id == trial_id)

    @property
    def started(self) -> s.SearchStarted:
        first = self.events[0][1]
        if not isinstance(first, s.SearchStarted):
            raise Divergence(self.events[0][0], "the search does not begin with SearchStarted", None, None)
        return first

    def task(self) -> TaskSpec:
        if "task_spec" not in self.started.config:
            raise ValueError("this search's log does not record its task rules (an older"
                             " autorecipe wrote it), so its decisions cannot be replayed")
        return TaskSpec.model_validate(self.started.config["task_spec"])


def recorded_outcome(event: DomainEvent) -> Outcome:
    if isinstance(event, t.TrialScored):
        return Outcome(label=None, score=event.score, per_seed=event.per_seed,
                       measurements=event.measurements, rules_version=event.rules_version)
    assert isinstance(event, t.TrialFailed)
    return Outcome(label=event.label, reason=event.reason, evidence=event.evidence,
                   log_excerpt=event.log_excerpt, measurements=event.measurements,
                   rules_version=event.rules_version)


class RecordedProposer:
    """Returns each sequence's recorded proposal; the loop decides who is asked."""

    name = "recorded"

    def __init__(self, rec: Recording) -> None:
        self.rec = rec

    def propose(self, request: ProposalRequest, lineage: Any) -> Proposal:
        recorded = self.rec.proposals.get(request.sequence)
        if recorded is None:
            raise EndOfRecording(f"no proposal {request.sequence} in the log")
        recipe = self.rec.recipes.get(recorded.originator_id)
        return Proposal(
            specialist=recorded.specialist, agent=recorded.agent, parent_id=recorded.parent_id,
            hypothesis=recorded.hypothesis, expected_delta=recorded.expected_delta,
            idea=recorded.idea, recipe=recipe, view_text=recorded.lineage_view,
            session_id=recorded.session_id, edit_error=self._edit_error(recorded, recipe),
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


class RecordedEvaluator:
    """The task's rules from the log, and each static check's recorded verdict in order."""

    task_dir = "(recorded)"

    def __init__(self, rec: Recording) -> None:
        self.rec = rec
        self.task = rec.task()
        self.task_sha256 = rec.started.task_sha256
        self.checks = iter(self._static_failures())

    def _static_failures(self) -> Iterator[Outcome | None]:
        """For every edited non-baseline trial: its pre-launch failure, or None."""
        for seq in sorted(self.rec.proposals):
            tid = self.rec.proposals[seq].originator_id
            if seq == 0 or tid not in self.rec.edits:
                continue
            failure = None if tid in self.rec.launches else self._failure_of(tid)
            yield failure

    def _failure_of(self, trial_id: UUID) -> Outcome | None:
        for _pos, event in self.rec.events:
            if isinstance(event, t.TrialFailed) and event.originator_id == trial_id:
                return recorded_outcome(event)
        return None

    def seed_recipe(self) -> dict[str, str]:
        return dict(self.rec.recipes[self.rec.proposals[0].originator_id])

    def check_edit(self, parent: Any, child: Any, specialist: RosterEntry, strict: bool) -> Outcome | None:
        return next(self.checks, None)

    def classify(self, report: RunReport, scoring_seeds: tuple[int, ...]) -> Outcome:
        raise RuntimeError("recorded outcomes are never re-classified")


class RecordedExecutor:
    """Delivers runner messages exactly in the recorded order: progress and completions."""

    def __init__(self, rec: Recording, on_interrupt: Any) -> None:
        self.queue: list[tuple[int, DomainEvent]] = [
            (p, e) for p, e in rec.events
            if isinstance(e, t.TrainingProgressed | t.TrialScored | t.TrialFailed | s.SearchResumed | s.SearchFinished)
        ]
        self.rec, self.on_interrupt = rec, on_interrupt
        self.submitted: set[UUID] = set()

    def submit(self, trial_id: UUID, job: TrialJob) -> None:
        self.submitted.add(trial_id)
        self._drop_pre_launch()

    def _drop_pre_launch(self) -> None:
        """Failures before launch are written by the loop itself, not delivered."""
        while self.queue and isinstance(self.queue[0][1], t.TrialFailed) and \
                self.queue[0][1].originator_id not in self.rec.launches:
            self.queue.pop(0)

    def next(self, timeout: float) -> Message | None:
        self._drop_pre_launch()
        if not self.queue:
            raise EndOfRecording("the log ends with trials in flight")
        position, event = self.queue[0]
        if isinstance(event, s.SearchResumed):
            raise ResumePoint(position)
        if _is_interrupt(event):
            self.on_interrupt()
            return None
        if isinstance(event, s.SearchFinished):
            raise Divergence(position, "the log finished the search while replay still had trials running", event, None)
        self.queue.pop(0)
        if event.originator_id not in self.submitted:
            raise Divergence(position, "the log completes a trial that replay never launched", event, None)
        if isinstance(event, t.TrainingProgressed):
            return Progressed(event.originator_id, event.seed, list(event.samples))
        return Finished(event.originator_id, recorded_outcome(event))

    def skip_recovery(self, abandoned: int) -> None:
        """Drop the resume and its aborts: recovery writes those events itself."""
        self.queue = self.queue[1 + abandoned :]

    def cancel_all(self) -> None:
        """Nothing runs in a replay: the loop's own abort events are compared instead."""


def _is_interrupt(event: DomainEvent) -> bool:
    if isinstance(event, s.SearchFinished):
        return event.reason == "interrupted"
    return isinstance(event, t.TrialFailed) and event.label == "harness_abort" and event.reason.startswith("interrupted")
