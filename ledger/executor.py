"""How the search loop gets trials run: the messages a running trial sends back, the
job a loop asks for, and the executor that runs jobs on worker threads through a Runner
and classifies their reports (ledger/loop.py records what comes back)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from domain.cache import CacheHit
from domain.labels import FailureLabel
from domain.ports import Evaluator, Outcome, Runner, TrialJob
from domain.trial import ProgressSample


@dataclass(frozen=True)
class Progressed:
    trial_id: UUID
    seed: int
    samples: list[ProgressSample]


@dataclass(frozen=True)
class Finished:
    trial_id: UUID
    outcome: Outcome


@dataclass(frozen=True)
class Reused(Finished):
    """The trial cache answered a launch: `outcome` is the recorded one of `hit`'s source,
    and the loop records a TrialReused before it (domain/cache.py); for a final test's
    side, FinalTested names the source itself."""

    hit: CacheHit


@dataclass(frozen=True)
class JobRequest:
    """A job the loop wants run: a trial's launch, or (racing) more seeds of its recipe."""

    trial_id: UUID
    sequence: int
    recipe: Mapping[str, str]
    seeds: tuple[int, ...]
    scoring_seeds: tuple[int, ...]
    smoke: bool  # extensions skip it: the recipe already passed
    split: str = "validation"  # "test": the final test's runs, scored on the test split


Message = Progressed | Finished


class Executor(Protocol):
    def submit(self, trial_id: UUID, job: TrialJob) -> None: ...
    def next(self, timeout: float) -> Message | None: ...
    def cancel_all(self) -> None: ...


class LiveExecutor:
    """Runs jobs on threads through a Runner; classifies reports as they come back."""

    def __init__(self, runner: Runner, evaluator: Evaluator, workers: int) -> None:
        self.runner, self.evaluator = runner, evaluator
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trial")
        self.queue: queue.Queue[Message] = queue.Queue()
        self.cancel = threading.Event()
        self.futures: list[Any] = []

    def submit(self, trial_id: UUID, job: TrialJob) -> None:
        def work() -> None:
            try:
                report = self.runner.run(
                    job,
                    lambda seed, samples: self.queue.put(Progressed(trial_id, seed, samples)),
                    self.cancel,
                )
                outcome = self.evaluator.classify(report, job.scoring_seeds)
            except Exception as error:  # noqa: BLE001 - any runner fault is infrastructure
                outcome = _harness_fault(f"runner failed: {type(error).__name__}: {error}")
            self.queue.put(Finished(trial_id, outcome))

        self.futures.append(self.pool.submit(work))

    def next(self, timeout: float) -> Message | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def cancel_all(self) -> None:
        self.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


def _harness_fault(reason: str) -> Outcome:
    return Outcome(label=FailureLabel.HARNESS_ABORT, reason=reason, evidence={"fault": reason})
