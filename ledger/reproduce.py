"""Reproducing a trial: run its recorded recipe again with its recorded seeds, threads and
budgets, compare the outcome with the log, and record the comparison as an event.

Training is deterministic at a fixed seed and thread count, so a valid trial should give
a bit-identical score; otherwise it must fall within the search's recorded noise floor.
A failed trial reproduces by its label and deciding numbers (domain/reproduction.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from uuid import UUID

from domain import reproduction
from domain import trial as t
from domain.base import DomainEvent
from domain.ports import Evaluator, JobPlan, Outcome, Runner
from domain.progress import fold
from ledger.recording import Recording
from ledger.replay import search_events
from ledger.store import Ledger

Scored = tuple[float, tuple[t.SeedResult, ...]]  # a trial's last score, every seed's result


class NotReproducibleError(ValueError):
    pass


@dataclass(frozen=True)
class Reproduction:
    event: t.TrialReproduced
    outcome: Outcome
    match: reproduction.Match
    recorded_label: str | None  # None: the trial was scored


def reproduce(
    ledger: Ledger, search_id: UUID, sequence: int, evaluator: Evaluator, runner: Runner
) -> Reproduction:
    """Re-execute trial `sequence` and append a TrialReproduced event (needs the lease);
    it runs in the search's folder `reproduce-<sequence>`."""
    events = search_events(ledger, search_id)
    rec = Recording.of(events)
    state = fold([e for _, e in events])
    proposed = rec.proposals.get(sequence)
    if proposed is None:
        raise NotReproducibleError(f"search {search_id} has no trial {sequence}")
    launched = rec.launches.get(proposed.originator_id)
    if launched is None:
        raise NotReproducibleError(f"trial {sequence} never ran: nothing to reproduce")
    if evaluator.task_sha256 != rec.started.task_sha256:
        raise NotReproducibleError(f"the task {rec.started.task_id} changed since the search ran")
    recorded = _recorded_score(events, proposed.originator_id)
    scoring = tuple(r.seed for r in recorded[1] if r.scoring) if recorded else launched.seeds
    extra = rec.extensions.get(proposed.originator_id, [])
    seeds = tuple(s for run in (launched, *extra) for s in run.seeds)  # raced seeds too
    plan = JobPlan(
        search_id=search_id,
        trial_id=proposed.originator_id,
        sequence=sequence,
        recipe=rec.recipes[proposed.originator_id],
        seeds=seeds,
        scoring_seeds=scoring,
        threads=launched.threads,
        derived=state.started.derived_budgets,
        folder=f"reproduce-{sequence:04d}",
    )
    job = evaluator.job(plan)
    report = runner.run(job, lambda seed, samples: None, threading.Event())
    outcome = evaluator.classify(report, scoring)
    noise = state.started.noise_floor
    tolerance = noise.floor if noise else 0.0
    failure = _recorded_failure(events, proposed.originator_id)
    trial = state.trials[proposed.originator_id]
    event, match = _comparison(trial, outcome, recorded, failure, tolerance)
    ledger.append(search_id, [event])
    return Reproduction(event, outcome, match, None if failure is None else str(failure.label))


def _recorded_score(events: list[tuple[int, DomainEvent]], trial_id: UUID) -> Scored | None:
    """The trial's last score (over every seed it ran) and every seed's result."""
    scored = [e for _, e in events if isinstance(e, t.TrialScored) and e.originator_id == trial_id]
    if not scored:
        return None
    return scored[-1].score, tuple(r for e in scored for r in e.per_seed)


def _recorded_failure(
    events: list[tuple[int, DomainEvent]], trial_id: UUID
) -> t.TrialFailed | None:
    failed = [e for _, e in events if isinstance(e, t.TrialFailed) and e.originator_id == trial_id]
    return failed[-1] if failed else None


def _comparison(
    trial: t.Trial,
    outcome: Outcome,
    recorded: Scored | None,
    failure: t.TrialFailed | None,
    noise: float,
) -> tuple[t.TrialReproduced, reproduction.Match]:
    """A failed trial by its label and deciding numbers, a scored one by its score
    (domain/reproduction.py)."""
    recorded_score = recorded[0] if recorded else None
    score = outcome.score if outcome.label is None else None
    if failure is not None:
        label = None if outcome.label is None else str(outcome.label)
        match = reproduction.of_failures(
            str(failure.label), failure.evidence, label, outcome.evidence
        )
    else:
        match = reproduction.of_scores(recorded_score, score, noise)
    event = t.record_reproduction(
        trial,
        outcome=str(outcome.label or "scored"),
        score=score,
        recorded_score=recorded_score,
        identical=match.identical,
        within_noise=match.within,
        tolerance=match.tolerance,
        measurements=outcome.measurements,
    )
    return event, match
