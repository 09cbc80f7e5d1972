"""The use cases of a workspace (a ledger and its runs folder): start a search, resume one.

They are written against the ports (domain/ports.py): the entry point wires the real
task evaluator, proposer, runner, read model and live display into a `Tools` value and
prints what these functions return. Nothing here prints, and nothing here imports the
outer packages (pyproject.toml's import contracts keep it so).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from domain import resume as resume_options
from domain import search as s
from domain.base import DomainEvent
from domain.config import SearchConfig
from domain.labels import FinishReason
from domain.location import LedgerLocation
from domain.ports import Evaluator, LineageQuery, Proposer, Runner
from domain.progress import SearchState, fold
from ledger import session
from ledger.cache import TrialCache
from ledger.claim import new_search
from ledger.executor import LiveExecutor
from ledger.lease import lease
from ledger.loop import Observer, SearchLoop
from ledger.recovery import recovery_events, rerun_note
from ledger.replay import search_events
from ledger.reproduce import Reproduction, reproduce
from ledger.store import Ledger, LedgerError, locate, open_ledger


class TaskChangedError(ValueError):
    pass


@dataclass(frozen=True)
class Resumed:
    """What a resume did before its loop ran: the trials it ended and the options it changed."""

    aborted: int  # trials in flight when the process died, ended harness_abort
    reopened: str | None  # the reason the search had ended, if the resume reopened it
    changes: str  # domain.resume.describe: the options this resume changed
    reruns: str  # ledger.recovery.rerun_note: the trials it runs again as proposed, or ""


@dataclass(frozen=True)
class Begun:
    """A search about to run: what a live display needs before the first event."""

    state: SearchState
    config: SearchConfig
    task: str
    metric: str
    resumed: Resumed | None = None


@dataclass(frozen=True)
class Ran:
    search_id: UUID
    reason: FinishReason
    reused: int  # trial runs the trial cache answered from the ledger
    final_reused: int = 0  # final-test sides it answered


@dataclass(frozen=True)
class Tools:
    """The outer parts a search runs with, wired by the entry point."""

    evaluator: Callable[[SearchConfig], Evaluator]  # the config's task, opened and checked
    proposer: Callable[[Evaluator, SearchConfig], Proposer]
    runner: Callable[[str], AbstractContextManager[Runner]]  # by name, shut down after
    lineage: Callable[[Ledger], LineageQuery]  # the read model the proposers query
    watch: Callable[[Begun], AbstractContextManager[Observer]]  # the live display


def open_workspace(location: str | LedgerLocation, must_exist: bool = False) -> Ledger:
    """The ledger at `location`; one that must exist and does not is a LedgerError, and so
    is a location domain/location.py refuses."""
    where = locate(location)
    if must_exist and where.file is not None and not where.file.exists():
        raise LedgerError(
            f"no ledger at {where.text}: run `python cli.py search` first, or pass --ledger"
        )
    return open_ledger(where)


def runs_root(location: str | LedgerLocation) -> Path:
    # Absolute: trial pipelines run in the project folder, not in the caller's.
    return locate(location).runs.resolve()


def start(
    store: Ledger,
    config: SearchConfig,
    tools: Tools,
    check: Callable[[Evaluator], None] = lambda evaluator: None,
) -> Ran:
    """A new search on `config`, run to its end (`check` may refuse the opened task)."""
    evaluator = tools.evaluator(config)
    check(evaluator)
    proposer = tools.proposer(evaluator, config)
    with (
        tools.runner(config.runner) as runner,
        new_search(store, config, evaluator, proposer) as state,
    ):
        return _run(store, state, config, evaluator, proposer, runner, tools)


def resume(store: Ledger, prefix: str | None, given: dict[str, Any], tools: Tools) -> Ran:
    """Continue the search `prefix` names (default: the latest unfinished one): end its
    trials in flight, apply the options `given` may change, and run it to its end."""
    sid = session.pick_search(store, prefix, unfinished=True)
    recorded = session.config_of(fold(store.stream(sid)))
    changed = resume_options.changes(recorded, given)
    runner_name = str(changed.get("runner", recorded.runner))
    with lease(store.location, sid), tools.runner(runner_name) as runner:
        events = store.stream(sid)  # again, under the lease
        state, started = fold(events), events[0]
        evaluator = tools.evaluator(recorded)
        if isinstance(started, s.SearchStarted) and evaluator.task_sha256 != started.task_sha256:
            raise TaskChangedError(
                f"the task {recorded.task} changed since search {sid} started;"
                " resuming would mix rules"
            )
        recovery = recovery_events(state, runner.host, changed)
        store.append(sid, recovery)
        config = session.config_of(state)  # with the options this resume changed
        described = resume_options.describe(config, changed)
        done = Resumed(
            len(recovery) - 1, _reopened(recovery[0]), described, rerun_note(state, recovery[0])
        )
        proposer = tools.proposer(evaluator, config)
        return _run(store, state, config, evaluator, proposer, runner, tools, done)


def _reopened(resumed: DomainEvent) -> str | None:
    if not isinstance(resumed, s.SearchResumed) or resumed.reopened is None:
        return None
    return str(resumed.reopened)


def _run(
    store: Ledger,
    state: SearchState,
    config: SearchConfig,
    evaluator: Evaluator,
    proposer: Proposer,
    runner: Runner,
    tools: Tools,
    resumed: Resumed | None = None,
) -> Ran:
    sid = state.started.id
    cache = TrialCache.from_ledger(store, sid, evaluator.task) if config.cache else None
    task = evaluator.task
    begun = Begun(state, config, task.name, task.metric.name, resumed)
    with tools.watch(begun) as observer:
        loop = session.build_loop(
            state,
            store,
            evaluator,
            LiveExecutor(runner, evaluator, config.workers),
            proposer,
            tools.lineage(store),
            config,
            runner.name,
            runner.host,
            observers=[observer],
            cache=cache,
        )
        with _stopped_by_interrupt(loop):
            reason = loop.run()
    if cache is None:
        return Ran(sid, reason, 0)
    return Ran(sid, reason, cache.hits - cache.final_hits, cache.final_hits)


@contextlib.contextmanager
def _stopped_by_interrupt(loop: SearchLoop) -> Iterator[None]:
    """Ctrl-C asks the loop to stop at its next safe point, not mid-write."""
    previous = signal.signal(signal.SIGINT, lambda *_: loop.stop_requested.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def recorded_search(
    location: str, prefix: str | None
) -> tuple[UUID, list[DomainEvent], SearchConfig]:
    """A finished search to re-run: its id, its events and the options it ran on."""
    source = open_workspace(location, must_exist=True)
    sid = session.pick_search(source, prefix, unfinished=False)
    events = [event for _, event in search_events(source, sid)]
    return sid, events, session.config_of(fold(events))


def reproduce_trial(
    store: Ledger,
    prefix: str | None,
    sequence: int,
    open_evaluator: Callable[[SearchConfig], Evaluator],
    runner: Runner,
) -> Reproduction:
    """Run trial `sequence` of a finished search again and record the comparison (in the
    search's folder `reproduce-<sequence>`)."""
    with lease(store.location):
        sid = session.pick_search(store, prefix, unfinished=False)
        evaluator = open_evaluator(session.config_of(fold(store.stream(sid))))
        return reproduce(store, sid, sequence, evaluator, runner)
