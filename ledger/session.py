"""Starting a search: the SearchStarted event, its environment fingerprint, the loop."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from domain import final_test
from domain import search as s
from domain.base import DomainEvent
from domain.config import SearchConfig
from domain.events import decode
from domain.ports import Evaluator, LineageQuery, Proposer, TrialJob
from domain.progress import SearchState
from ledger.cache import TrialCache, caching
from ledger.executor import Executor, JobRequest
from ledger.loop import Observer, SearchLoop, Sink
from ledger.runs import job_plan
from ledger.store import Ledger
from ledger.world import Where, World

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def environment(threads: int) -> dict[str, str]:
    """What the numbers depend on: interpreter, libraries, threads, machine."""

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "absent"

    return {
        "python": platform.python_version(),
        "torch": version("torch"),
        "numpy": version("numpy"),
        "autorecipe": version("autorecipe"),
        "torch_threads": str(threads),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": str(os.cpu_count()),
        "host": socket.gethostname(),
        "executable": sys.executable,
        "boot": boot_id(),
    }


def boot_id() -> str:
    """This boot of this machine ("" where the kernel does not say: not Linux). Host names
    repeat across VMs (every one of ours is "vm"), so only this tells a search that a run
    was measured on the machine it runs on now (ledger/cache.py)."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def count_searches(ledger: Ledger) -> int:
    return len(ledger.searches())


def recorded_config(config: SearchConfig, evaluator: Evaluator) -> dict[str, Any]:
    task = evaluator.task
    roster = config.roster(task)
    return {
        **config.model_dump(mode="json"),
        "task_spec": task.model_dump(mode="json"),  # the rules as run: replay needs no folder
        "budgets": task.budgets.model_dump(mode="json"),
        "size_cap_bytes": task.size_cap_bytes,
        "gate": task.gate.model_dump(mode="json") if task.gate else None,
        "seeds_per_trial": task.seeds.per_trial,
        "surfaces": {key: list(task.specialist(key).surfaces) for key in roster},
        "final_test": final_test.RULES,  # searches recorded before it replay without one
    }


def start(
    ledger: Ledger,
    config: SearchConfig,
    evaluator: Evaluator,
    proposer: Proposer,
    ordinal: int | None = None,  # given by ledger/claim.py, which leases its id first
) -> SearchState:
    task = evaluator.task
    roster = config.roster(task)
    unknown = [k for k in roster if k != "generalist" and k not in {e.key for e in task.roster}]
    if unknown:
        raise ValueError(f"unknown specialists for {task.name}: {', '.join(unknown)}")
    event = s.start(
        count_searches(ledger) if ordinal is None else ordinal,
        task.name,
        config.seed,
        task_sha256=evaluator.task_sha256,
        rules_version=task.rules_version,
        metric=task.metric.name,
        lower_is_better=task.metric.lower_is_better,
        roster=roster,
        policy=config.policy,
        agent=proposer.name,
        lineage=config.lineage,
        keep_rule=task.keep,
        config=recorded_config(config, evaluator),
        environment=environment(config.threads),
    )
    state = SearchState()
    state.apply(event)
    ledger.append(event.originator_id, [event])
    return state


def build_loop(
    state: SearchState,
    sink: Sink,
    evaluator: Evaluator,
    executor: Executor,
    proposer: Proposer,
    lineage: LineageQuery,
    config: SearchConfig,
    runner_name: str,
    host: str,
    observers: Sequence[Observer] = (),
    cache: TrialCache | None = None,  # None: every launch trains (--no-cache)
) -> SearchLoop:
    executor, watching = caching(executor, cache)
    make_job = job_maker(evaluator, state, config)

    where = Where(runner_name, host, evaluator.task.rules_version)
    world = World(evaluator, executor, proposer, lineage, make_job, lambda job: where)
    return SearchLoop(state, sink, world, config, [*watching, *observers, _closing(lineage)])


def job_maker(
    evaluator: Evaluator, state: SearchState, config: SearchConfig
) -> Callable[[JobRequest], TrialJob]:
    """The job the evaluator builds for each request's plan, under the caps the baseline
    derived (read when asked: the baseline sets them)."""

    def make_job(request: JobRequest) -> TrialJob:
        return evaluator.job(job_plan(request, state, config))

    return make_job


def _closing(lineage: LineageQuery) -> Observer:
    """Release the lineage's read model (projections held open for the whole search)
    once the search has finished."""

    def observe(event: DomainEvent, state: SearchState) -> None:
        close = getattr(lineage, "close", None)
        if isinstance(event, s.SearchFinished) and close is not None:
            close()

    return observe


def _ended_for_good(ledger: Ledger, search: UUID) -> bool:
    """A finished search that no resume may reopen (domain.search.REOPENABLE says which)."""
    last = decode(ledger.index.records(search, last_only=True)[0])
    return not (isinstance(last, s.SearchFinished) and last.reason in s.REOPENABLE)


def pick_search(ledger: Ledger, prefix: str | None, unfinished: bool) -> UUID:
    """The search a prefix names, or the latest one (the latest one a resume continues)."""
    pool = [
        sid
        for sid, finished in ledger.searches()
        if not (unfinished and finished and _ended_for_good(ledger, sid))
    ]
    if prefix:
        pool = [sid for sid in pool if str(sid).startswith(prefix.lower())]
        if len(pool) != 1:
            raise ValueError(f"{len(pool)} searches match {prefix!r}")
    if not pool:
        raise ValueError(
            "no unfinished search to resume" if unfinished else "the ledger holds no search"
        )
    return pool[-1]


def config_of(state: SearchState) -> SearchConfig:
    recorded = state.started.config
    return SearchConfig.model_validate(
        {k: v for k, v in recorded.items() if k in SearchConfig.model_fields}
    )
