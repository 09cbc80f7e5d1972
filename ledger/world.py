"""What a search loop runs against, as one value: the live ports of a search, or the
recorded ones that a decision replay or a re-judgement feeds it.

SearchLoop (ledger/loop.py) takes a World, so live runs (ledger/session.build_loop),
replay (ledger/replay.py) and re-judgement (ledger/rejudge.py) build their loops the
same way and differ only in the world they give it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.ports import Evaluator, LineageQuery, Proposer, TrialJob

if TYPE_CHECKING:  # ledger/loop.py imports this module
    from ledger.executor import Executor, JobRequest


@dataclass(frozen=True)
class Where:
    """Where a job ran, recorded with its launch; what it ran with is the job's own."""

    runner: str
    host: str
    rules_version: str


@dataclass(frozen=True)
class World:
    evaluator: Evaluator
    executor: Executor
    proposer: Proposer
    lineage: LineageQuery
    job: Callable[[JobRequest], TrialJob]  # the job a request of the loop runs as
    where: Callable[[TrialJob], Where]
