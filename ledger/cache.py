"""The trial cache, read from the ledger: every search in it whose task content and
environment match supplies its trials' first launches as entries (domain/cache.py gives
the rules and the key). No side store: the entries are rebuilt from the record each time
a search starts or resumes, then kept current from the search's own events as the loop
records them, so a byte-identical recipe within the same search is reused too.

`CachingExecutor` answers a cached launch itself with a `Reused` message, which the loop
records as TrialReused followed by the source's outcome; every other job runs. The final
test's sides are entries too, under keys of the test split: a reused side is recorded in
FinalTested itself, naming its source, and `check_reuses` checks it against the source.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.cache import (
    CacheHit,
    CacheKey,
    cacheable,
    final_key,
    final_side_key,
    final_sides,
    fingerprint,
    key_of,
    reusable,
    same_boot,
)
from domain.config import SearchConfig
from domain.events import decode
from domain.labels import BASELINE
from domain.ports import Outcome, TrialJob
from domain.progress import SearchState
from domain.rejudge import JUDGED_RUNNER
from domain.steps import launch_facts
from domain.task import TaskSpec
from ledger.executor import Executor, Message, Reused
from ledger.final_reuses import check_final_reuses
from ledger.loop import Observer
from ledger.recording import recorded_outcome
from ledger.runs import RunAnswers
from ledger.store import Ledger


class _Reader:
    """Follows one search's events; each run of a trial (its launch, then each racing
    extension) and the outcome that answers it become an entry, and so does each side
    of its final test (the earliest run of a key wins, so a reuse names the run that
    trained)."""

    def __init__(self, started: s.SearchStarted, entries: dict[str, CacheHit]) -> None:
        self.started, self.entries = started, entries
        fields = {k: v for k, v in started.config.items() if k in SearchConfig.model_fields}
        self.config = SearchConfig.model_validate(fields)
        self.task = TaskSpec.model_validate(started.config["task_spec"])
        self.baselines: set[UUID] = set()
        self.sequences: dict[UUID, int] = {}
        self.answers = RunAnswers()
        self.final: s.FinalTestLaunched | None = None  # the latest: a resume launches again

    def read(self, event: DomainEvent) -> None:
        tid = event.originator_id
        if isinstance(event, s.FinalTestLaunched):
            self.final = event
        elif isinstance(event, s.FinalTested):
            self.read_final(event)
        if isinstance(event, t.TrialProposed):
            self.sequences[tid] = event.sequence
            if event.specialist == BASELINE:
                self.baselines.add(tid)
        answered = self.answers.feed(event)
        # A re-judged run whose outcome came from the record measured nothing itself.
        if answered is None or not answered[0].deterministic or answered[0].runner == JUDGED_RUNNER:
            return
        run, result = answered
        outcome = recorded_outcome(result)
        if reusable(outcome):
            key = self.key(run, isinstance(run, t.TrialLaunched))
            self.enter(tid, self.sequences[tid], key, outcome)

    def read_final(self, tested: s.FinalTested) -> None:
        """Each side of a final test that ran (or was itself reused), as the trials'
        runs are: deterministic, measured (not judged from the record), reusable."""
        launched = self.final
        if launched is None or not launched.deterministic or launched.runner == JUDGED_RUNNER:
            return
        for side in final_sides(tested):
            outcome = recorded_outcome(side)
            if reusable(outcome):
                key = final_side_key(self.started, launched, side.trial_id)
                self.enter(side.trial_id, side.sequence, key, outcome)

    def enter(self, trial_id: UUID, sequence: int, key: CacheKey, outcome: Outcome) -> None:
        hit = CacheHit(
            source_search_id=self.started.originator_id,
            source_trial_id=trial_id,
            source_sequence=sequence,
            key=key,
            outcome=outcome,
        )
        self.entries.setdefault(key.digest, hit)

    def key(self, run: t.RunFacts, first: bool) -> CacheKey:
        """A launch scores the search's scoring seeds and ran the smoke test (if the
        search did); an extension scores its own seeds and skips it (ledger/loop.py)."""
        baseline = run.originator_id in self.baselines
        scoring = self.config.scoring_seeds(self.task, baseline) if first else run.seeds
        smoke = self.config.smoke and first
        return key_of(
            self.started.task_sha256,
            self.started.environment,
            run.model_dump(),
            scoring,
            smoke,
            first,
        )


class TrialCache:
    """Entries by key digest, from the ledger; `observe` keeps them current."""

    def __init__(self, started: s.SearchStarted, task: TaskSpec) -> None:
        self.started, self.task = started, task
        self.entries: dict[str, CacheHit] = {}
        self.readers: dict[UUID, _Reader] = {}
        self.hits = 0  # every run answered, the final test's included
        self.final_hits = 0  # of which the final test's sides

    @classmethod
    def from_ledger(cls, ledger: Ledger, search_id: UUID, task: TaskSpec) -> TrialCache:
        started = decode(ledger.stream_records(search_id)[0])
        if not isinstance(started, s.SearchStarted):
            raise ValueError(f"search {search_id} does not begin with SearchStarted")
        return cls.of(ledger, started, task)

    @classmethod
    def of(cls, ledger: Ledger, started: s.SearchStarted, task: TaskSpec) -> TrialCache:
        """The cache of a search that `started` begins, stored yet or not (a re-judgement
        stores its events only once it has gone through)."""
        cache = cls(started, task)
        if not cacheable(task, deterministic_run=True):
            return cache  # nothing is ever looked up: spare the pass over the ledger
        for sid, _finished in ledger.searches():
            records = ledger.stream_records(sid)
            first = decode(records[0])
            if isinstance(first, s.SearchStarted) and cache.comparable(first):
                cache.read(first, (decode(record) for record in records[1:]))
        if "task_spec" in started.config:  # its own runs become entries as they are recorded
            cache.read(started, ())
        return cache

    def comparable(self, other: s.SearchStarted) -> bool:
        """Same task content and environment, and recorded task rules to derive its
        scoring seeds from. (A re-judged search's runs judged from the record are left
        out run by run: `_Reader`.) Under caps relative to the machine, also the same
        boot of the same machine: the baseline's measured cost sets every cap after it,
        so a baseline measured elsewhere would judge this machine's trials by another's
        speed (our VMs, all host "vm", measured the seed recipe 3-7% apart on one kernel
        build and 35% apart across two)."""
        return (
            other.task_sha256 == self.started.task_sha256
            and fingerprint(other.environment) == fingerprint(self.started.environment)
            and "task_spec" in other.config
            and (
                self.task.budgets.seed_multiple is None
                or same_boot(other.environment, self.started.environment)
            )
        )

    def read(self, started: s.SearchStarted, events: Iterable[DomainEvent]) -> None:
        reader = self.readers.setdefault(started.originator_id, _Reader(started, self.entries))
        for event in events:
            reader.read(event)

    def observe(self, event: DomainEvent, state: SearchState) -> None:
        """An observer of the loop: the search's new events become entries at once."""
        reader = self.readers.get(state.started.id)
        if reader is not None:
            reader.read(event)

    def lookup(self, job: TrialJob, first: bool) -> CacheHit | None:
        facts = {**launch_facts(job), "rules_version": self.task.rules_version}
        if not cacheable(self.task, facts["deterministic"]):
            return None
        if job.split == "test":  # a final test's side: one look on all its seeds, no smoke
            key = final_key(self.started.task_sha256, self.started.environment, facts)
            return self.entries.get(key.digest)
        if job.split != "validation":
            return None
        key = key_of(
            self.started.task_sha256,
            self.started.environment,
            facts,
            job.scoring_seeds,
            job.smoke,
            first,
        )
        return self.entries.get(key.digest)


class CachingExecutor:
    """Answers a trial's launch or racing extension, or a final test's side, from the
    cache when it can; runs every miss on the executor it wraps."""

    def __init__(self, inner: Executor, cache: TrialCache) -> None:
        self.inner, self.cache = inner, cache
        self.ready: list[Message] = []
        self.submitted: set[UUID] = set()

    def submit(self, trial_id: UUID, job: TrialJob) -> None:
        first = trial_id not in self.submitted
        self.submitted.add(trial_id)
        hit = self.cache.lookup(job, first)
        if hit is None:
            self.inner.submit(trial_id, job)
            return
        self.cache.hits += 1
        if job.split == "test":
            self.cache.final_hits += 1
        self.ready.append(Reused(trial_id, hit.outcome, hit))

    def next(self, timeout: float) -> Message | None:
        if self.ready:
            return self.ready.pop(0)
        return self.inner.next(timeout)

    def cancel_all(self) -> None:
        self.ready.clear()
        self.inner.cancel_all()


def caching(executor: Executor, cache: TrialCache | None) -> tuple[Executor, list[Observer]]:
    """The executor and the observers a search runs with, with or without the cache."""
    if cache is None:
        return executor, []
    return CachingExecutor(executor, cache), [cache.observe]


def check_reuses(ledger: Ledger, events: list[DomainEvent]) -> tuple[int, str]:
    """(reuses, "") when each TrialReused of a search, and each final-test side it says
    it copied, carries its own run's key and the outcome its source recorded for that
    key; else the first that does not. Replay trusts the log's outcomes, so this is
    what shows a copied result was not forged."""
    started = events[0]
    if not isinstance(started, s.SearchStarted) or "task_spec" not in started.config:
        return 0, ""
    trials, problem = _check_trial_reuses(ledger, started, events)
    if problem:
        return trials, problem
    finals, problem = check_final_reuses(started, events, lambda sid: _entries(ledger, sid))
    return trials + finals, problem


def _check_trial_reuses(
    ledger: Ledger, started: s.SearchStarted, events: list[DomainEvent]
) -> tuple[int, str]:
    own, runs = _Reader(started, {}), dict[UUID, tuple[t.RunFacts, bool]]()
    sources: dict[UUID, dict[str, CacheHit]] = {}
    claimed: dict[UUID, CacheHit] = {}
    count = 0
    for event in events:
        own.read(event)
        tid = event.originator_id
        if isinstance(event, t.TrialLaunched | t.TrialExtended):
            runs[tid] = (event, tid not in runs)
        elif isinstance(event, t.TrialReused):
            count += 1
            run, first = runs[tid]
            if own.key(run, first).digest != event.cache_key:
                return count, f"trial {own.sequences[tid]}'s reuse carries another run's key"
            if event.source_search_id not in sources:
                sources[event.source_search_id] = _entries(ledger, event.source_search_id)
            hit = sources[event.source_search_id].get(event.cache_key)
            if hit is None or hit.source_trial_id != event.source_trial_id:
                return count, f"a reuse names a run search {event.source_search_id} never made"
            claimed[tid] = hit
        elif isinstance(event, t.TrialScored | t.TrialFailed) and tid in claimed:
            wanted = claimed.pop(tid).outcome
            if recorded_outcome(event) != wanted:
                return count, "a reused trial's outcome is not the one its source recorded"
    return count, ""


def _entries(ledger: Ledger, search_id: UUID) -> dict[str, CacheHit]:
    records = ledger.stream_records(search_id)
    entries: dict[str, CacheHit] = {}
    first = decode(records[0]) if records else None
    if isinstance(first, s.SearchStarted) and "task_spec" in first.config:
        reader = _Reader(first, entries)
        for record in records[1:]:
            reader.read(decode(record))
    return entries
