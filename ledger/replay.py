"""Decision replay: run the search loop again on its recorded inputs and compare.

The recorded world (proposals, runner messages in their completion order, static checks)
is fed to the unchanged loop; every event it would write is compared with the event the
log holds at that point, times aside. So the loop's own decisions (which specialist goes
next, seeds, keep or discard, the noise floor, recovery after a crash, when to stop) are
re-derived, and the first difference is reported with both versions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain import search as s
from domain import trial as t
from domain.base import DomainError, DomainEvent
from domain.config import SearchConfig
from domain.events import decode
from domain.ports import Proposal, ProposalRequest, Proposer, ReadModel, TrialJob
from domain.progress import SearchState, fold
from domain.recipe import recipe_sha256, text_sha256
from ledger.loop import SearchLoop
from ledger.recorded import (
    RecordedEvaluator,
    RecordedExecutor,
    RecordedLineage,
    RecordedProposer,
)
from ledger.recording import Divergence, EndOfRecording, Recording, ResumePoint
from ledger.recovery import recovery_events
from ledger.session import config_of, job_maker
from ledger.store import Ledger
from ledger.world import Where, World

IGNORED = frozenset({"timestamp"})


@dataclass(frozen=True)
class ReplayReport:
    events: int
    compared: int
    divergence: Divergence | None
    ending: str  # "finished", or why the log stops early

    @property
    def ok(self) -> bool:
        return self.divergence is None


def plain(event: DomainEvent) -> dict[str, Any]:
    data = event.model_dump(mode="json")
    data["type"] = type(event).__name__
    return {k: v for k, v in data.items() if k not in IGNORED}


def same(want: Any, got: Any) -> bool:
    """Equal, but floats within 1e-9 relative: a statistic re-derived by a library (a
    p-value, an interval) may differ in its last bits between versions; a verdict,
    a seed or a label may not."""
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(same(want[k], got[k]) for k in want)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(same(a, b) for a, b in zip(want, got, strict=True))
    return bool(want == got)


class ComparingSink:
    """Instead of storing, checks each event against the log, in order."""

    def __init__(self, expected: Sequence[tuple[int, DomainEvent]]) -> None:
        self.expected, self.index = list(expected), 0

    def append(self, stream: UUID, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if self.index >= len(self.expected):
                raise EndOfRecording("replay went past the end of the log")
            position, recorded = self.expected[self.index]
            if isinstance(recorded, s.SearchResumed) and not isinstance(event, s.SearchResumed):
                raise ResumePoint(position)  # the process died before it stored this step
            want, got = plain(recorded), plain(event)
            if not same(want, got):
                keys = sorted(k for k in set(want) | set(got) if not same(want.get(k), got.get(k)))
                raise Divergence(
                    position,
                    f"{want['type']} differs in {', '.join(keys)}",
                    {k: want.get(k) for k in keys},
                    {k: got.get(k) for k in keys},
                )
            self.index += 1


def _loop(
    rec: Recording, state: SearchState, sink: ComparingSink, config: SearchConfig, after: int
) -> SearchLoop:
    """A loop over the recorded world from ledger position `after` on."""
    evaluator = RecordedEvaluator(rec)
    holder: list[SearchLoop] = []
    executor = RecordedExecutor(rec, lambda: holder[0].stop_requested.set(), after)

    extensions = {tid: list(events) for tid, events in rec.extensions.items()}
    finals = [event for position, event in rec.final_launches if position > after]
    launched: set[UUID] = set()

    def recorded(job: TrialJob) -> tuple[str, t.RunFacts | None]:
        """A trial's first job is its launch; each later one, a racing extension; a job
        on the test split, the final test's launch."""
        if job.split == "test":
            return "final-tested", finals.pop(0) if finals else None
        if job.trial_id in launched:
            pending = extensions.get(job.trial_id, [])
            return "ran more seeds of", pending.pop(0) if pending else None
        return "launched", rec.launches.get(job.trial_id)

    def where(job: TrialJob) -> Where:
        what, facts = recorded(job)
        if facts is None:
            raise Divergence(
                None, f"replay {what} trial {job.sequence}, the log never did", None, job.sequence
            )
        launched.add(job.trial_id)
        # Where it ran is a fact of the log; what it ran with is re-derived and compared.
        return Where(facts.runner, facts.host, facts.rules_version)

    proposer, lineage = RecordedProposer(rec, after), RecordedLineage(rec)
    loop = SearchLoop(
        state,
        sink,
        World(evaluator, executor, proposer, lineage, job_maker(evaluator, state, config), where),
        config,
    )
    holder.append(loop)
    return loop


def replay(events: list[tuple[int, DomainEvent]]) -> ReplayReport:
    """Replay one search (its events in ledger order) and report the first divergence.

    At each resume in the log, replay does what the resumed process did: it folds the log
    so far into a fresh state, re-derives the recovery, and starts a fresh loop there.
    A log the domain cannot even fold (a forged event whose chain was rewritten to
    match) is a divergence too, reported with the error, never raised.
    """
    sink = ComparingSink(events[1:])
    ending = "finished"
    try:
        rec = Recording.of(events)
        state, after = fold([rec.started]), 0
        while True:
            try:
                _loop(rec, state, sink, config_of(state), after).run()
                if not _resumed_after_finish(sink):
                    break
                state, after = _recover(rec, sink)
            except ResumePoint:
                state, after = _recover(rec, sink)
    except EndOfRecording as stop:
        ending = f"the log ends before the search did ({stop})"
    except Divergence as divergence:
        return ReplayReport(len(events), sink.index, divergence, "diverged")
    except UNFOLDABLE as error:
        position = sink.expected[sink.index][0] if sink.index < len(sink.expected) else None
        what = f"the log cannot be replayed: {type(error).__name__}: {error}"
        return ReplayReport(
            len(events), sink.index, Divergence(position, what, None, None), "diverged"
        )
    return ReplayReport(len(events), sink.index, None, ending)


# What folding a log that breaks the domain's rules raises: commands refused, states
# that cannot follow, events of the wrong kind where one kind must be.
UNFOLDABLE = (DomainError, ValueError, LookupError, TypeError)


def _resumed_after_finish(sink: ComparingSink) -> bool:
    """The loop finished the search; a resume that reopened it comes next in the log."""
    return sink.index < len(sink.expected) and isinstance(
        sink.expected[sink.index][1], s.SearchResumed
    )


def _recover(rec: Recording, sink: ComparingSink) -> tuple[SearchState, int]:
    """The recovery a resumed process made, from the log up to the resume point."""
    position, recorded = sink.expected[sink.index]
    if not isinstance(recorded, s.SearchResumed):
        raise Divergence(position, "replay expected a resume here", None, type(recorded).__name__)
    state = fold([rec.started, *(e for _, e in sink.expected[: sink.index])])
    recovery = recovery_events(
        state, recorded.host, recorded.config, rerun=recorded.reruns is not None
    )
    sink.append(state.started.id, recovery)
    return state, sink.expected[sink.index - 1][0]


def search_events(ledger: Ledger, search_id: UUID) -> list[tuple[int, DomainEvent]]:
    """(position, event) for one search, found through the ledger's stream index."""
    return [(r.position, decode(r)) for r in ledger.stream_records(search_id)]


def regenerate(
    events: list[tuple[int, DomainEvent]],
    read_model: ReadModel,
    proposer: Proposer,
) -> Divergence | None:
    """Ask the offline specialists again, with the lineage as it stood before each of
    their recorded proposals, and compare what they propose now with the log."""
    rec = Recording.of(events)
    config = config_of(_started_state(rec))
    task = rec.task()
    for position, event in events:
        if not isinstance(event, t.TrialProposed | s.SpecialistYielded):
            continue
        if event.agent != proposer.name:
            continue
        request = ProposalRequest(
            search_id=rec.started.originator_id,
            sequence=event.sequence,
            specialist=task.specialist(event.specialist),
            seed=config.seed,
            lineage=config.lineage,
            strict_surfaces=config.strict_surfaces,
        )
        lineage = read_model.at(position - 1)
        with lineage.hold():
            again = proposer.propose(request, lineage)
        found = (
            _proposal_difference(rec, event, again)
            if isinstance(event, t.TrialProposed)
            else _yield_difference(event, again)
        )
        if found:
            return Divergence(
                position,
                f"trial {event.sequence}'s proposal differs in {found[0]}",
                found[1],
                found[2],
            )
    return None


def _yield_difference(
    recorded: s.SpecialistYielded, again: Proposal
) -> tuple[str, Any, Any] | None:
    """A recorded yield must be re-derived as a yield, from the same view."""
    return _first_difference(
        {
            "yield": (recorded.reason, again.yielded),
            "lineage view": (recorded.lineage_view_sha256, text_sha256(again.view_text)),
        }
    )


def _first_difference(pairs: dict[str, tuple[Any, Any]]) -> tuple[str, Any, Any] | None:
    for name, (want, got) in pairs.items():
        if want != got:
            return name, want, got
    return None


def _started_state(rec: Recording) -> SearchState:
    state = SearchState()
    state.apply(rec.started)
    return state


def _proposal_difference(
    rec: Recording, recorded: t.TrialProposed, again: Proposal
) -> tuple[str, Any, Any] | None:
    child = rec.recipes.get(recorded.originator_id)
    pairs = {
        "parent": (recorded.parent_id, again.parent_id),
        "hypothesis": (recorded.hypothesis, again.hypothesis),
        "idea": (recorded.idea, again.idea),
        "lineage view": (recorded.lineage_view_sha256, text_sha256(again.view_text)),
        "recipe": (child and recipe_sha256(child), again.recipe and recipe_sha256(again.recipe)),
    }
    return _first_difference(pairs)
