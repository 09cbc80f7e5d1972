"""Re-judging a recorded search (#18 item 1), recorded as a derived search.

The source search's proposals (their parents, recipes and static checks) and its
recorded runs are fed, in order, to the unchanged search loop under other rules: each
run's recorded outcome is judged again from its measurements (domain/rejudge.py), and
the loop re-derives every verdict, the noise floor and the best. A run whose recorded
measurements do not suffice is re-run, through the trial cache, then the runner and the
sandbox (ledger/rerun.py): a first pass tries the record alone, and only where it
cannot decide is the task folder opened and the whole re-judgement derived again with
the live side. Its launch names the runner that ran it; a run judged from the record
names JUDGED_RUNNER, so the cache never takes a judgement for a measurement. The
derived search is a search of its own, with a SearchStarted whose config names the
source and the source's head hash (`derived_from`), stored in one transaction once the
whole re-judgement has gone through, so a refusal leaves nothing behind. The source's
events are never touched; `verify` and `replay` check the derived search like any.

Refused: a source that fails verify (history must be intact before it is reinterpreted),
an unfinished one, a rules version the task does not define, and a run that must be
re-run where no task folder at the rules version re-judged under is at hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.events import decode
from domain.ports import LineageQuery, Outcome, Proposal, ProposalRequest, TrialJob
from domain.progress import SearchState, fold
from domain.rejudge import (
    JUDGED_RUNNER,
    NotJudgeableError,
    RuleChange,
    derived_rules,
)
from domain.task import TaskSpec
from ledger.executor import JobRequest
from ledger.lease import lease
from ledger.loop import SearchLoop
from ledger.recorded import RecordedEvaluator, RecordedLineage, RecordedProposer
from ledger.recording import Divergence, EndOfRecording, Recording
from ledger.replay import search_events
from ledger.rerun import Live, Measured, Rerun, Routed, RunCounts, live
from ledger.session import config_of, count_searches, environment, job_maker, pick_search
from ledger.store import Ledger
from ledger.verify import verify
from ledger.world import Where, World


class DerivationError(Exception):
    """A derived search (re-judged or counterfactual) refused; one line for the user."""


@dataclass(frozen=True)
class Derived:
    search_id: UUID
    events: int
    rules_version: str
    changed: list[tuple[int, str, str]]  # trial number, source status, derived status
    runs: RunCounts


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


def rejudge_search(
    ledger: Ledger,
    prefix: str | None,
    change: RuleChange,
    current: Callable[[str], TaskSpec | None],
    rerun: Callable[[str, bool], Rerun],
) -> tuple[UUID, Derived]:
    """The use case: re-judge the finished search `prefix` names (default: the latest)
    under `change`; `current` gives a task's rules as its folder holds them now, and
    `rerun(task, sandbox)` opens the live side for runs the record cannot decide."""
    source = pick_search(ledger, prefix, unfinished=False)
    recording = Recording.of(search_events(ledger, source))
    recorded = recording.task()
    task = str(recording.started.config.get("task", recorded.name))
    rules = rules_for(recorded, current(task), change.rules_version)
    sandbox = bool(recording.started.config.get("sandbox", True))
    with lease(ledger.location, source):
        return source, rejudge(ledger, source, rules, change, lambda: rerun(task, sandbox))


def rejudge(
    ledger: Ledger,
    source: UUID,
    rules: TaskSpec,
    change: RuleChange,
    rerun: Callable[[], Rerun] | None = None,  # opens the task folder and a runner
) -> Derived:
    events = source_events(ledger, source)
    try:
        task = derived_rules(rules, change)
        try:
            return _derive(ledger, events, task, change, None)
        except NotJudgeableError:
            if rerun is None:
                raise
        return _derive(ledger, events, task, change, _at_version(rerun(), rules))
    except NotJudgeableError as error:
        raise DerivationError(str(error)) from None
    except (EndOfRecording, Divergence) as error:
        raise DerivationError(f"search {source} cannot be re-judged: {error}") from None


def _at_version(rerun: Rerun, rules: TaskSpec) -> Rerun:
    """Refuse to run one version's rules with another version's task folder."""
    held = rerun.evaluator.task.rules_version
    if held != rules.rules_version:
        raise DerivationError(
            f"some runs must be re-run under {rules.rules_version},"
            f" but the task folder holds {held}"
        )
    return rerun


def _derive(
    ledger: Ledger,
    events: list[tuple[int, DomainEvent]],
    task: TaskSpec,
    change: RuleChange,
    rerun: Rerun | None,
) -> Derived:
    """The derived search, stored in one transaction once it has all gone through."""
    rec = Recording.of(events)
    source = rec.started.originator_id
    started = _derived_start(ledger, rec, task, change, ledger.head(source), rerun)
    state = fold([started])
    sink = _Collected()
    side = live(rerun, ledger, started, state) if rerun else None
    routed = Routed(Measured(rec, task).judge, side)
    _loop(rec, state, sink, task, routed).run()
    ledger.append(started.originator_id, [started, *sink.events])
    before = fold([e for _, e in events])
    return Derived(
        started.originator_id,
        1 + len(sink.events),
        task.rules_version,
        _changes(before, state),
        routed.counts(),
    )


def _derived_start(
    ledger: Ledger,
    rec: Recording,
    task: TaskSpec,
    change: RuleChange,
    head: str,
    rerun: Rerun | None,
) -> s.SearchStarted:
    """The source's own options, one trial at a time to its number of trials, no other
    stop rule and no final test, under the new rules. Where runs are re-run, the task
    content and environment are the ones they run in: the trial cache keys on them."""
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
    same = ("metric", "lower_is_better", "roster", "policy", "agent", "lineage")
    return s.start(
        count_searches(ledger),
        first.task_id,
        first.seed,
        **{name: getattr(first, name) for name in same},
        task_sha256=rerun.evaluator.task_sha256 if rerun else first.task_sha256,
        rules_version=task.rules_version,
        keep_rule=task.keep,
        config=recorded,
        environment=environment(config.threads) if rerun else first.environment,
    )


class _Collected:
    """The loop's sink: the derived events, stored together at the end."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def append(self, stream: UUID, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)


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


def _loop(
    rec: Recording, state: SearchState, sink: _Collected, task: TaskSpec, routed: Routed
) -> SearchLoop:
    derived = state.started.id
    to_derived = {p.originator_id: t.trial_id(derived, seq) for seq, p in rec.proposals.items()}
    evaluator = RecordedEvaluator(rec)
    evaluator.task = task
    config = config_of(state)
    recorded_job = job_maker(evaluator, state, config)

    def rerun_by(sequence: int, seeds: tuple[int, ...]) -> Live | None:
        """The live side, where this run is re-run; None where the record decides it."""
        measured = isinstance(routed.judge(sequence, seeds), Outcome)
        return None if measured else routed.side

    def where(job: TrialJob) -> Where:
        side = rerun_by(job.sequence, job.seeds)
        if side is None:
            return Where(JUDGED_RUNNER, "(recorded)", task.rules_version)
        return Where(side.runner, side.host, task.rules_version)

    def make_job(request: JobRequest) -> TrialJob:
        side = rerun_by(request.sequence, request.seeds)
        return (side.make_job if side is not None else recorded_job)(request)

    world = World(
        evaluator,
        routed,
        _Reparented(rec, to_derived),
        _Lineage(rec, {v: k for k, v in to_derived.items()}),
        make_job,
        where,
    )
    return SearchLoop(state, sink, world, config, routed.side.observers if routed.side else ())


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
