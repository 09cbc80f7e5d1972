"""Re-running the trials a stop cut short: a resume runs each again, exactly as proposed.

A trial that a Ctrl-C ended (or that was in flight when the process died) ends
harness_abort, never the idea's fault. The resume that follows names those trials in its
SearchResumed (`reruns`), and the loop runs each again before asking any agent: a new
trial, numbered next, whose TrialProposed names the one it re-runs and copies its
specialist, parent, hypothesis and lineage view, with the same child recipe (so the same
diff and sha256). The queue is a fold of the log, so a replay re-derives it.

Other harness aborts (a runner that failed) are not re-run: the search went on past them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID

from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.labels import BASELINE, TERMINAL_STATUSES, FailureLabel
from domain.ports import Proposal

# How the loop's Ctrl-C abort begins its reason (ledger/loop.py: SearchLoop.interrupt).
INTERRUPTED = "interrupted"


class Reruns:
    """The re-run bookkeeping of SearchState: apply() every trial event and resume."""

    def __init__(self) -> None:
        # The proposals of open trials and of those waiting to run again: a re-run copies
        # them. Closed trials drop out, so this stays as small as the work in flight.
        self.proposals: dict[UUID, t.TrialProposed] = {}
        self.stopped: list[UUID] = []  # launched trials a Ctrl-C ended, since the last resume
        self.queue: list[UUID] = []  # what the last resume re-runs, not yet proposed again

    def apply_trial(self, event: DomainEvent, trial: t.Trial) -> None:
        if isinstance(event, t.TrialProposed):
            self.proposals[trial.id] = event
            if event.reruns in self.queue:  # run again now: its own proposal is done with
                self.queue.remove(event.reruns)
                self.proposals.pop(event.reruns, None)
        elif isinstance(event, t.TrialFailed) and _interrupted(event, trial):
            self.stopped.append(trial.id)
        if trial.status in TERMINAL_STATUSES and not self._waiting(trial.id):
            self.proposals.pop(trial.id, None)

    def apply_resumed(self, event: s.SearchResumed, open_trials: set[UUID]) -> None:
        """A resume before re-runs existed (`reruns` None) re-ran nothing."""
        self.queue = list(event.reruns or ())
        self.stopped = []
        keep = open_trials | set(self.queue)
        self.proposals = {tid: p for tid, p in self.proposals.items() if tid in keep}

    def due(self, open_trials: Iterable[t.Trial]) -> tuple[UUID, ...]:
        """What a resume now re-runs: those still queued, those a Ctrl-C ended, then the
        launched trials it abandons (the baseline is never queued: it runs until judged)."""
        abandoned = [tr.id for tr in open_trials if _rerunnable(tr)]
        return tuple(dict.fromkeys([*self.queue, *self.stopped, *abandoned]))

    def next(self) -> UUID | None:
        return self.queue[0] if self.queue else None

    def proposal(self, trial_id: UUID) -> t.TrialProposed:
        return self.proposals[trial_id]

    def _waiting(self, trial_id: UUID) -> bool:
        return trial_id in self.queue or trial_id in self.stopped


def _rerunnable(trial: t.Trial) -> bool:
    return trial.specialist != BASELINE and trial.child_sha256 is not None


def _interrupted(event: t.TrialFailed, trial: t.Trial) -> bool:
    return (
        event.label is FailureLabel.HARNESS_ABORT
        and event.reason.startswith(INTERRUPTED)
        and _rerunnable(trial)
    )


def rerun_proposal(reruns: Reruns, trial_id: UUID, recipe: Mapping[str, str]) -> Proposal:
    """The proposal of a trial a stop cut short, made again by the harness (no agent is
    asked): its specialist, parent, hypothesis and view, with the recipe it ran."""
    original = reruns.proposal(trial_id)
    return Proposal(
        specialist=original.specialist,
        agent="harness",
        parent_id=original.parent_id,
        hypothesis=original.hypothesis,
        expected_delta=original.expected_delta,
        idea=original.idea,
        recipe=dict(recipe),
        view_text=original.lineage_view,
    )
