"""Re-running, in a re-judgement (#18), the runs whose recorded measurements do not
suffice under the new rules: a failure the new rules would score, seeds the source
never ran (another noise or seeds count). Each goes through the trial cache first (a
run that any search in the ledger measured under the new rules' key trains nothing),
then through the runner, in the sandbox, with the job, classification and cache that a
live search uses (ledger/session.py). Every other run is answered from the record,
judged again (domain/rejudge.py). Without a runner, the first such run refuses the
whole re-judgement.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from domain.ports import Evaluator, Outcome, Runner, TrialJob
from domain.progress import SearchState
from domain.rejudge import NotJudgeableError, reclassify
from domain.search import SearchStarted
from domain.task import TaskSpec
from ledger.cache import TrialCache, caching
from ledger.executor import Executor, Finished, JobRequest, LiveExecutor, Message
from ledger.loop import Observer
from ledger.recording import Recording, recorded_outcome
from ledger.runs import RunAnswers
from ledger.session import config_of, job_maker
from ledger.store import Ledger

# A run's recorded outcome judged under the new rules, or why the record cannot say.
Judge = Callable[[int, tuple[int, ...]], Outcome | str]


@dataclass(frozen=True)
class Rerun:
    """What re-running needs: the task folder's evaluator, which must hold the rules
    version re-judged under, and a runner."""

    evaluator: Evaluator
    runner: Runner


@dataclass(frozen=True)
class RunCounts:
    """How a re-judgement answered its runs (a trial's launch and each racing extension)."""

    recorded: int = 0  # judged from the source's measurements
    cached: int = 0  # taken from the trial cache
    trained: int = 0  # run again

    def line(self) -> str:
        return (
            f"runs: {self.recorded} judged from the record, {self.cached} from the trial"
            f" cache, {self.trained} trained"
        )


@dataclass(frozen=True)
class Live:
    """The live side of a re-judgement: its executor (the cache before the runner), the
    cache's observers, the live job for a request, and where the runs run."""

    executor: Executor
    observers: list[Observer]
    make_job: Callable[[JobRequest], TrialJob]
    runner: str
    host: str
    cache: TrialCache


def live(rerun: Rerun, ledger: Ledger, started: SearchStarted, state: SearchState) -> Live:
    """Jobs made, capped and classified under the derived search's rules; its cache (it
    is not stored yet), from every comparable search in the ledger."""
    task = TaskSpec.model_validate(started.config["task_spec"])
    evaluator = copy.copy(rerun.evaluator)  # the caller's, with the new rules in it
    evaluator.task = task
    cache = TrialCache.of(ledger, started, task)
    executor, observers = caching(LiveExecutor(rerun.runner, evaluator, 1), cache)
    make_job = job_maker(evaluator, state, config_of(state))
    return Live(executor, observers, make_job, rerun.runner.name, rerun.runner.host, cache)


class Measured:
    """The recorded outcome of the same trial on the same seeds, judged again under the
    new rules; or why the record cannot decide it (a run the source never made)."""

    def __init__(self, rec: Recording, task: TaskSpec) -> None:
        self.task = task
        self.runs: dict[int, list[tuple[tuple[int, ...], Outcome]]] = {}
        answers = RunAnswers()
        for _, event in rec.events:
            answered = answers.feed(event)
            if answered is not None:
                sequence = rec.proposal_of(event.originator_id).sequence
                entry = (answered[0].seeds, recorded_outcome(answered[1]))
                self.runs.setdefault(sequence, []).append(entry)

    def judge(self, sequence: int, seeds: tuple[int, ...]) -> Outcome | str:
        runs = self.runs.get(sequence, [])
        outcome = next((o for ran, o in runs if ran == seeds), None)
        if outcome is None:
            return f"trial {sequence} would run seeds {list(seeds)} that the source never ran"
        try:
            return reclassify(outcome, self.task, sequence)
        except NotJudgeableError as error:
            return str(error)


class Routed:
    """The re-judgement's executor: a run the record decides is answered at once; any
    other goes to the live side, or, without one, refuses."""

    def __init__(self, judge: Judge, side: Live | None) -> None:
        self.judge, self.side = judge, side
        self.ready: list[Message] = []
        self.recorded = self.rerun = 0

    def submit(self, trial_id: UUID, job: TrialJob) -> None:
        judged = self.judge(job.sequence, job.seeds)
        if isinstance(judged, Outcome):
            self.recorded += 1
            self.ready.append(Finished(trial_id, judged))
        elif self.side is None:
            raise NotJudgeableError(f"{judged}: re-running it needs the task folder")
        else:
            self.rerun += 1
            self.side.executor.submit(trial_id, job)

    def next(self, timeout: float) -> Message | None:
        if self.ready:
            return self.ready.pop(0)
        return self.side.executor.next(timeout) if self.side else None

    def cancel_all(self) -> None:
        self.ready.clear()
        if self.side is not None:
            self.side.executor.cancel_all()

    def counts(self) -> RunCounts:
        cached = self.side.cache.hits if self.side else 0
        return RunCounts(self.recorded, cached, self.rerun - cached)
