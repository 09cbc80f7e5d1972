"""Re-judging a recorded search (#18 item 1), recorded as a derived search.

The source search's proposals (their parents, recipes and static checks) and its
recorded runs are fed, in order, to the unchanged search loop under other rules: each
run's recorded outcome is judged again from its measurements (domain/rejudge.py), and
the loop re-derives every verdict, the noise floor and the best. Nothing is trained. The
derived search is a search of its own, with a SearchStarted whose config names the
source and the source's head hash (`derived_from`), stored in one transaction once the
whole re-judgement has gone through, so a refusal leaves nothing behind. The source's
events are never touched; `verify` and `replay` check the derived search like any.

Refused: a source that fails verify (history must be intact before it is reinterpreted),
an unfinished one, a rules version the task does not define, and any run whose
measurements cannot decide it under the new rules (re-running is not supported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.events import decode
from domain.ports import LineageQuery, Outcome, Proposal, ProposalRequest, TrialJob
from domain.progress import SearchState, fold
from domain.rejudge import NotJudgeableError, RuleChange, derived_rules, reclassify
from domain.steps import launch_facts
from domain.task import TaskSpec
from ledger.loop import Finished, JobRequest, Message, SearchLoop
from ledger.recorded import (
    Divergence,
    EndOfRecording,
    RecordedEvaluator,
    RecordedLineage,
    RecordedProposer,
    Recording,
    recorded_outcome,
)
from ledger.runs import RunAnswers, job_plan
from ledger.session import config_of, count_searches
from ledger.store import Ledger
from ledger.verify import verify


class DerivationError(Exception):
    """A derived search (re-judged or counterfactual) refused; one line for the user."""


@dataclass(frozen=True)
class Derived:
    search_id: UUID
    events: int
    rules_version: str
    changed: list[tuple[int, str, str]]  # trial number, source status, derived status


def rules_for(recorded: TaskSpec, current: TaskSpec | None, version: str | None) -> TaskSpec:
    """The rules of `version` among those the task defines: the ones the search ran
    under, and the task folder's current ones (None: the recorded rules)."""
    known = {spec.rules_version: spec for spec in (recorded, current) if spec is not None}
    if version is None:
        return recorded
    if version not in known:
        raise DerivationError(
            f"task {recorded.name} defines no rules version {version!r}"
            f" (known: {', '.join(sorted(known))})"
        )
    return known[version]


def source_events(ledger: Ledger, source: UUID) -> list[tuple[int, DomainEvent]]:
    """The source search's events, refused unless its chain verifies and it finished."""
    records = ledger.stream_records(source)
    chain = verify(records)
    if not chain.ok:
        raise DerivationError(
            f"search {source} fails verify at position {chain.bad_position}"
            f" ({chain.problem}): its history must be intact before it is reinterpreted"
        )
    events = [(record.position, decode(record)) for record in records]
    if not isinstance(events[-1][1], s.SearchFinished):
        raise DerivationError(f"search {source} has not finished: ask of it once it has")
    return events


def rejudge(ledger: Ledger, source: UUID, rules: TaskSpec, change: RuleChange) -> Derived:
    events = source_events(ledger, source)
    rec = Recording.of(events)
    try:
        task = derived_rules(rules, change)
        started = _derived_start(ledger, rec, task, change, ledger.head(source))
        state = fold([started])
        sink = _Collected()
        _loop(rec, state, sink, task).run()
    except NotJudgeableError as error:
        raise DerivationError(str(error)) from None
    except (EndOfRecording, Divergence) as error:
        raise DerivationError(f"search {source} cannot be re-judged: {error}") from None
    ledger.append(started.originator_id, [started, *sink.events])
    before = fold([e for _, e in events])
    return Derived(
        started.originator_id, 1 + len(sink.events), task.rules_version, _changes(before, state)
    )


def _derived_start(
    ledger: Ledger, rec: Recording, task: TaskSpec, change: RuleChange, head: str
) -> s.SearchStarted:
    """The source's own options, one trial at a time to its number of trials, no other
    stop rule and no final test (nothing is run), under the new rules."""
    source = fold([e for _, e in rec.events])
    config = config_of(source).model_copy(
        update={
            "trials": source.proposals,
            "workers": 1,
            "patience": None,
            "deadline_minutes": None,
            "cost_cap_usd": None,
        }
    )
    recorded: dict[str, Any] = {**rec.started.config, **config.model_dump(mode="json")}
    recorded.pop("final_test", None)
    recorded.update(
        task_spec=task.model_dump(mode="json"),
        budgets=task.budgets.model_dump(mode="json"),
        size_cap_bytes=task.size_cap_bytes,
        gate=task.gate.model_dump(mode="json") if task.gate else None,
        derived_from={
            "kind": "rejudge",
            "search": str(rec.started.originator_id),
            "head": head,
            "change": change.model_dump(mode="json", exclude_none=True),
        },
    )
    first = rec.started
    same = ("task_sha256", "metric", "lower_is_better", "roster", "policy", "agent", "lineage")
    return s.start(
        count_searches(ledger),
        first.task_id,
        first.seed,
        **{name: getattr(first, name) for name in same},
        rules_version=task.rules_version,
        keep_rule=task.keep,
        config=recorded,
        environment=first.environment,
    )


class _Collected:
    """The loop's sink: the derived events, stored together at the end."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def append(self, stream: UUID, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)


class _Measured:
    """Answers each job with the recorded outcome of the same trial on the same seeds,
    judged again under the new rules; a job the source never ran is refused."""

    def __init__(self, rec: Recording, task: TaskSpec) -> None:
        self.task, self.queue = task, list[Message]()
        self.runs: dict[int, list[tuple[tuple[int, ...], Outcome]]] = {}
        answers = RunAnswers()
        for _, event in rec.events:
            answered = answers.feed(event)
            if answered is not None:
                sequence = rec.proposal_of(event.originator_id).sequence
                entry = (answered[0].seeds, recorded_outcome(answered[1]))
                self.runs.setdefault(sequence, []).append(entry)

    def submit(self, trial_id: UUID, job: TrialJob) -> None:
        runs = self.runs.get(job.sequence, [])
        outcome = next((o for seeds, o in runs if seeds == job.seeds), None)
        if outcome is None:
            raise NotJudgeableError(
                f"trial {job.sequence} would run seeds {list(job.seeds)} that the source"
                " never ran (re-running is not supported)"
            )
        self.queue.append(Finished(trial_id, reclassify(outcome, self.task, job.sequence)))

    def next(self, timeout: float) -> Message | None:
        return self.queue.pop(0) if self.queue else None

    def cancel_all(self) -> None:
        """Nothing runs."""


class _Reparented:
    """The source's proposals, their parents renamed to the derived search's trials."""

    name = "recorded"

    def __init__(self, rec: Recording, to_derived: dict[UUID, UUID]) -> None:
        self.inner, self.to_derived = RecordedProposer(rec), to_derived

    def propose(self, request: ProposalRequest, lineage: LineageQuery) -> Proposal:
        proposal = self.inner.propose(request, lineage)
        if proposal.parent_id is None:
            return proposal
        return proposal.model_copy(update={"parent_id": self.to_derived[proposal.parent_id]})


class _Lineage(RecordedLineage):
    def __init__(self, rec: Recording, to_source: dict[UUID, UUID]) -> None:
        super().__init__(rec)
        self.to_source = to_source

    def recipe(self, trial_id: UUID) -> dict[str, str]:
        return super().recipe(self.to_source.get(trial_id, trial_id))


def _loop(rec: Recording, state: SearchState, sink: _Collected, task: TaskSpec) -> SearchLoop:
    derived = state.started.id
    to_derived = {p.originator_id: t.trial_id(derived, seq) for seq, p in rec.proposals.items()}
    evaluator = RecordedEvaluator(rec)
    evaluator.task = task
    config = config_of(state)

    def launch_fields(job: TrialJob) -> dict[str, Any]:
        return {
            **launch_facts(job),
            "runner": "rejudge",
            "host": "(recorded)",
            "rules_version": task.rules_version,
        }

    def make_job(request: JobRequest) -> TrialJob:
        return evaluator.job(job_plan(request, state, config))

    return SearchLoop(
        state,
        sink,
        evaluator,
        _Measured(rec, task),
        _Reparented(rec, to_derived),
        _Lineage(rec, {v: k for k, v in to_derived.items()}),
        config,
        make_job,
        launch_fields,
    )


def _changes(before: SearchState, after: SearchState) -> list[tuple[int, str, str]]:
    """Trials whose ending differs: (number, source status, derived status)."""

    def status(trial: t.Trial) -> str:
        return str(trial.verdict or trial.label or trial.status)

    out = []
    for seq, tid in sorted(before.by_sequence.items()):
        mine = after.by_sequence.get(seq)
        was = status(before.trials[tid])
        now = status(after.trials[mine]) if mine else "not run"
        if was != now:
            out.append((seq, was, now))
    return out
