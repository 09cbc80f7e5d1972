"""Recovering a search whose process died, or reopening one that ended in a way a resume
may undo (domain.search.REOPENABLE): abandon what was in flight, then go on.

A step is one transaction, so after SIGKILL or power loss the log holds whole steps
only. Trials launched but never finished end harness_abort (never the idea's fault); the
loop state is the fold of the log, so budgets, best and noise floor carry on unchanged.
The trials a Ctrl-C or the crash cut short run again, as proposed (domain/rerun.py).
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
    state: SearchState, host: str, config: dict[str, Any] | None = None, rerun: bool = True
) -> list[DomainEvent]:
    """SearchResumed, then a harness_abort for every trial without a terminal event.

    The resume re-runs the trials a stop cut short (domain/rerun.py); `rerun` False
    re-derives a resume recorded before re-runs existed, for a replay of it.
    """
    search = state.started
    if not s.resumable(search):
        raise NothingToResumeError(
            f"search {search.id} finished ({search.finished}): a resume reopens only"
            f" {', '.join(sorted(s.REOPENABLE))}"
        )
    open_trials = state.in_flight()
    resumed = s.resume(
        search,
        abandoned=tuple(tr.id for tr in open_trials),
        reruns=state.reruns.due(open_trials) if rerun else None,
        host=host,
        config=config or {},
    )
    state.apply(resumed)
    events: list[DomainEvent] = [resumed]
    for trial in open_trials:
        events.extend(abort_events(state, trial.id, ABANDONED))
    return events


def rerun_note(state: SearchState, resumed: DomainEvent) -> str:
    """What a resume's message adds about the trials it runs again, or ""."""
    reruns = resumed.reruns if isinstance(resumed, s.SearchResumed) else None
    if not reruns:
        return ""
    numbers = ", ".join(f"#{state.trials[tid].sequence}" for tid in reruns)
    return f"; trials {numbers} run again as proposed"
