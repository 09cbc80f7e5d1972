"""Recovering a search whose process died, or reopening one that ended in a way a resume
may undo (domain.search.REOPENABLE): abandon what was in flight, then go on.

A step is one transaction, so after SIGKILL or power loss the log holds whole steps
only. Trials launched but never finished end harness_abort (never the idea's fault); the
loop state is the fold of the log, so budgets, best and noise floor carry on unchanged.
"""

from __future__ import annotations

from typing import Any

from domain import search as s
from domain.base import DomainEvent
from domain.progress import SearchState
from domain.steps import abort_events

ABANDONED = "abandoned: the search process stopped before this trial ended"


class NothingToResumeError(ValueError):
    pass


def recovery_events(
    state: SearchState, host: str, config: dict[str, Any] | None = None
) -> list[DomainEvent]:
    """SearchResumed, then a harness_abort for every trial without a terminal event."""
    search = state.started
    if not s.resumable(search):
        raise NothingToResumeError(
            f"search {search.id} finished ({search.finished}): a resume reopens only"
            f" {', '.join(sorted(s.REOPENABLE))}"
        )
    open_trials = state.in_flight()
    resumed = s.resume(
        search, abandoned=tuple(tr.id for tr in open_trials), host=host, config=config or {}
    )
    state.apply(resumed)
    events: list[DomainEvent] = [resumed]
    for trial in open_trials:
        events.extend(abort_events(state, trial.id, ABANDONED))
    return events
