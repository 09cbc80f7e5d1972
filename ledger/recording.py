"""A search's log, indexed for decision replay and rejudging: its events in ledger order,
the proposals, edits, launches and LLM sessions looked up by trial, each trial's recipe
rebuilt from its diffs, and the outcomes the evaluator gave read back as `Outcome`s.

A log that contradicts itself (a diff that does not apply, a trial never proposed) is a
`Divergence`; one that stops early is an `EndOfRecording`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain import agent as a
from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.ports import Outcome
from domain.recipe import apply_diff
from domain.task import TaskSpec, recorded_task


class EndOfRecording(Exception):
    """The log stops here: the search was still running, or its process died."""


class ResumePoint(Exception):
    """The log shows a resume here: the replay must recover as a live resume did."""


class Divergence(Exception):
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
    extensions: dict[UUID, list[t.TrialExtended]] = field(default_factory=dict)  # racing
    final_launches: list[tuple[int, s.FinalTestLaunched]] = field(default_factory=list)
    recipes: dict[UUID, dict[str, str]] = field(default_factory=dict)
    # by trial number: (position of AgentSessionStarted, the session)
    sessions: dict[int, list[tuple[int, a.SessionRecord]]] = field(default_factory=dict)
    # by trial number: (position, the turn a specialist gave up), in ledger order
    yields: dict[int, list[tuple[int, s.SpecialistYielded]]] = field(default_factory=dict)

    @classmethod
    def of(cls, events: list[tuple[int, DomainEvent]]) -> Recording:
        rec = cls(events)
        rec.sessions = recorded_sessions(events)
        for position, event in events:
            if isinstance(event, t.TrialProposed):
                rec.proposals[event.sequence] = event
            elif isinstance(event, t.RecipeEdited):
                rec.edits[event.originator_id] = event
                parent = rec.proposal_of(event.originator_id, position).parent_id
                base = rec.recipes.get(parent, {}) if parent else {}
                rec.recipes[event.originator_id] = _applied(base, event, position)
            elif isinstance(event, t.TrialLaunched):
                rec.launches[event.originator_id] = event
            elif isinstance(event, t.TrialExtended):
                rec.extensions.setdefault(event.originator_id, []).append(event)
            elif isinstance(event, s.FinalTestLaunched):
                rec.final_launches.append((position, event))
            elif isinstance(event, s.SpecialistYielded):
                rec.yields.setdefault(event.sequence, []).append((position, event))
        return rec

    def proposal_of(self, trial_id: UUID, position: int | None = None) -> t.TrialProposed:
        """The proposal of a trial; a log that names a trial it never proposed diverges."""
        for proposal in self.proposals.values():
            if proposal.originator_id == trial_id:
                return proposal
        raise Divergence(position, f"the log names trial {trial_id}, never proposed", None, None)

    @property
    def started(self) -> s.SearchStarted:
        first = self.events[0][1]
        if not isinstance(first, s.SearchStarted):
            raise Divergence(
                self.events[0][0], "the search does not begin with SearchStarted", None, None
            )
        return first

    def task(self) -> TaskSpec:
        if "task_spec" not in self.started.config:
            raise ValueError(
                "this search's log does not record its task rules (an older"
                " autorecipe wrote it), so its decisions cannot be replayed"
            )
        return recorded_task(self.started.config["task_spec"])


def _applied(base: dict[str, str], edit: t.RecipeEdited, position: int) -> dict[str, str]:
    try:
        return apply_diff(base, edit.diff)
    except ValueError as error:  # PatchError: a diff that never came from this parent
        what = f"the recorded diff does not apply: {error}"
        raise Divergence(position, what, None, None) from error


def recorded_sessions(
    events: list[tuple[int, DomainEvent]],
) -> dict[int, list[tuple[int, a.SessionRecord]]]:
    """Each LLM session rebuilt from its events, grouped by the trial number it served."""
    contexts = {e.sha256: e.text for _, e in events if isinstance(e, a.ContextStored)}
    by_id: dict[UUID, list[tuple[int, DomainEvent]]] = {}
    for position, event in events:
        if isinstance(event, a.AGENT_EVENTS):
            by_id.setdefault(event.originator_id, []).append((position, event))
    out: dict[int, list[tuple[int, a.SessionRecord]]] = {}
    for pairs in by_id.values():
        group = [e for _, e in pairs]
        started, ended = group[0], group[-1]
        if not isinstance(started, a.AgentSessionStarted) or not isinstance(
            ended, a.AgentSessionEnded
        ):
            continue  # a session cut off by a crash: nothing was proposed from it
        exchanges = [
            _exchange(e, contexts)
            for e in group
            if isinstance(e, a.AgentExchanged | a.AgentCallFailed)
        ]
        session = a.SessionRecord(
            specialist=started.specialist,
            model=started.model,
            backend=started.backend,
            outcome=ended.outcome,
            exchanges=tuple(exchanges),
            detail=ended.detail,
        )
        out.setdefault(started.sequence, []).append((pairs[0][0], session))
    return out


def _exchange(
    event: a.AgentExchanged | a.AgentCallFailed, contexts: dict[str, str]
) -> a.ExchangeRecord:
    common = {
        "turn": event.turn,
        "model": event.model,
        "request_sha256": event.request_sha256,
        "context_sha256": event.context_sha256,
        "context": contexts.get(event.context_sha256, ""),
        "usd": event.usd,
        "attempts": event.attempts,
    }
    if isinstance(event, a.AgentCallFailed):
        return a.ExchangeRecord(**common, error=event.error)
    return a.ExchangeRecord(
        **common, response=event.response, usage=event.usage, price_table=event.price_table
    )


def recorded_outcome(event: DomainEvent | s.FinalSide) -> Outcome:
    """The outcome the evaluator gave, as a trial's TrialScored or TrialFailed recorded it,
    or as one side of a final test did."""
    if not isinstance(event, t.TrialScored | t.TrialFailed | s.FinalSide):
        raise TypeError(f"not an outcome event: {type(event).__name__}")
    common = {
        "measurements": event.measurements,
        "rules_version": event.rules_version,
        "confinement": event.confinement,
        "accounting": event.accounting,
    }
    if isinstance(event, t.TrialScored) or event.label is None:
        return Outcome(label=None, score=event.score, per_seed=event.per_seed, **common)
    return Outcome(
        label=event.label,
        reason=event.reason,
        evidence=event.evidence,
        log_excerpt=event.log_excerpt,
        score=event.score,
        **common,
    )
