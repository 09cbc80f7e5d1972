"""Reproducing a trial: run its recorded recipe again with its recorded seeds, threads and
budgets, compare the outcome with the log, and record the comparison as an event.

Training is deterministic at a fixed seed and thread count, so a valid trial should give
a bit-identical score; otherwise it must fall within the search's recorded noise floor.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from domain import trial as t
from domain.ports import Outcome, Runner
from domain.progress import fold
from ledger.recorded import Recording
from ledger.replay import search_events
from ledger.store import Ledger


class NotReproducibleError(ValueError):
    pass


@dataclass(frozen=True)
class Reproduction:
    event: t.TrialReproduced
    outcome: Outcome


def reproduce(
    ledger: Ledger, search_id: UUID, sequence: int, evaluator: Any, runner: Runner, out_dir: Path
) -> Reproduction:
    """Re-execute trial `sequence` and append a TrialReproduced event (needs the lease)."""
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
    job = evaluator.make_job(
        out_dir,
        launched.threads,
        True,
        proposed.originator_id,
        sequence,
        rec.recipes[proposed.originator_id],
        seeds,
        scoring,
        derived=state.started.derived_budgets,
    )
    report = runner.run(job, lambda seed, samples: None, threading.Event())
    outcome = evaluator.classify(report, scoring)
    noise = state.started.noise_floor
    tolerance = noise.floor if noise else 0.0
    event = _comparison(state.trials[proposed.originator_id], outcome, recorded, tolerance)
    ledger.append(search_id, [event])
    return Reproduction(event, outcome)


def _recorded_score(
    events: list[tuple[int, Any]], trial_id: UUID
) -> tuple[float, tuple[t.SeedResult, ...]] | None:
    """The trial's last score (over every seed it ran) and every seed's result."""
    scored = [e for _, e in events if isinstance(e, t.TrialScored) and e.originator_id == trial_id]
    if not scored:
        return None
    return scored[-1].score, tuple(r for e in scored for r in e.per_seed)


def _comparison(
    trial: t.Trial, outcome: Outcome, recorded: Any, tolerance: float
) -> t.TrialReproduced:
    recorded_score = recorded[0] if recorded else None
    score = outcome.score if outcome.label is None else None
    identical = score is not None and score == recorded_score
    within = identical or (
        score is not None
        and recorded_score is not None
        and abs(score - recorded_score) <= tolerance
    )
    return t.record_reproduction(
        trial,
        outcome=str(outcome.label or "scored"),
        score=score,
        recorded_score=recorded_score,
        identical=identical,
        within_noise=within,
        tolerance=tolerance,
        measurements=outcome.measurements,
    )
