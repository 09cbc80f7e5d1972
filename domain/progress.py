"""The search loop's state as a fold over its events, and the loop's pure decisions.

Everything the loop decides (which specialist goes next, keep or discard, when to stop)
is a function of this state alone, so a live search, a resumed one and a decision replay
share one code path: fold the recorded events, then ask the same questions.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import agent as a
from domain import search as s
from domain import trial as t
from domain.base import DomainEvent, Immutable
from domain.keep import Judgement, decide
from domain.labels import (
    BASELINE,
    TERMINAL_STATUSES,
    FailureLabel,
    FinishReason,
    TrialStatus,
    Verdict,
)
from domain.paired import MoreSeeds, Sides, look
from domain.rerun import Reruns
from domain.task import Seeds, training_seed

MAX_EMPTY_SESSIONS = 10  # LLM sessions in a row that proposed nothing: the search stops
MAX_ABORTS_IN_A_ROW = 10  # aborted trials in a row: infrastructure is down, not ideas


class StopLimits(Immutable):
    trials: int  # proposals after the baseline
    deadline_seconds: float | None = None
    patience: int | None = None  # stop after this many ended trials without a keep
    cost_usd: float | None = None


class SearchState:
    """Mutable fold; apply() events in ledger order. Holds facts, derives the rest."""

    def __init__(self) -> None:
        self.search: s.Search | None = None
        self.trials: dict[UUID, t.Trial] = {}
        self.by_sequence: dict[int, UUID] = {}
        self.per_seed: dict[UUID, tuple[float, ...]] = {}  # scoring values (earlier rules)
        self.results: dict[UUID, dict[int, t.SeedResult]] = {}  # scored seeds, in run order
        self.launched_seeds: dict[UUID, tuple[int, ...]] = {}  # launch, then extensions
        self.looks: dict[UUID, int] = {}  # racing looks that asked for more seeds
        self.best_id: UUID | None = None
        self.ended_since_keep = 0
        self.cost_usd = 0.0  # model calls, from AgentExchanged / AgentCallFailed
        self.sessions = 0  # LLM sessions started (numbered on their own)
        self.empty_sessions = 0  # sessions that ended without a trial
        self.empty_in_a_row = 0
        self.yields = 0  # turns given up (SpecialistYielded): they move the rotation on
        self.yielded: set[str] = set()  # since the last trial began or ended
        self.aborts_in_a_row = 0  # trials ended harness_abort with nothing else between
        self.cost_cap_hit = False  # a session stopped itself at the cost cap
        self.contexts: set[str] = set()  # context texts already stored in this search
        self.active_before = 0.0  # seconds of earlier process segments (before a resume)
        self.segment_start: datetime | None = None
        self.last_time: datetime | None = None
        self.events = 0
        # Kept up to date by apply(), so every question below is O(1) or O(open trials):
        self.proposals = 0  # trials that count toward the budget (see _count)
        self.baseline_ids: list[UUID] = []  # seed-recipe runs, oldest first
        self.open: set[UUID] = set()  # trials without a terminal event
        self.reruns = Reruns()  # trials a stop cut short, to run again after a resume

    # Folding:

    def apply(self, event: DomainEvent) -> None:
        self.events += 1
        if isinstance(event, s.SearchResumed) and self.last_time and self.segment_start:
            self.active_before += (self.last_time - self.segment_start).total_seconds()
            self.segment_start = event.timestamp
        self.last_time = event.timestamp
        if isinstance(event, s.SEARCH_EVENTS):
            self._apply_search(event)
        elif isinstance(event, t.TRIAL_EVENTS):
            self._apply_trial(event)
        else:
            self._apply_other(event)

    def _apply_search(self, event: DomainEvent) -> None:
        self.search = s.mutate(event, self.search)
        if isinstance(event, s.SpecialistYielded):
            self.yields += 1
            self.yielded.add(event.specialist)
        if isinstance(event, s.SearchStarted):
            self.segment_start = event.timestamp
        if isinstance(event, s.SearchResumed):
            self.reruns.apply_resumed(event, self.open)
        if isinstance(event, s.SearchResumed) and event.reopened is not None:
            self.aborts_in_a_row = 0  # a person says the machine is back: count afresh

    def _apply_trial(self, event: DomainEvent) -> None:
        before = self.trials.get(event.originator_id)
        trial = t.mutate(event, before)
        self.trials[trial.id] = trial
        self._count(before, trial)
        self.reruns.apply_trial(event, trial)
        if isinstance(event, t.TrialProposed | t.TrialFailed | t.TrialJudged):
            self.yielded.clear()  # a new trial or outcome may give a specialist new ideas
        if isinstance(event, t.TrialProposed):
            self.by_sequence[event.sequence] = trial.id
        elif isinstance(event, t.TrialLaunched):
            self.launched_seeds[trial.id] = event.seeds
        elif isinstance(event, t.TrialExtended):
            self.launched_seeds[trial.id] += event.seeds
            self.looks[trial.id] = self.looks.get(trial.id, 0) + 1
        elif isinstance(event, t.TrialScored):
            self.per_seed[trial.id] = _scoring_values(event)
            scored = {r.seed: r for r in event.per_seed if r.score is not None}
            self.results[trial.id] = {**self.results.get(trial.id, {}), **scored}
        elif isinstance(event, t.TrialJudged):
            self._after_verdict(trial, event.verdict)
        elif isinstance(event, t.TrialFailed) and event.label is not FailureLabel.HARNESS_ABORT:
            self.ended_since_keep += 1
        if isinstance(event, t.TrialFailed | t.TrialJudged):
            aborted = isinstance(event, t.TrialFailed) and event.label is FailureLabel.HARNESS_ABORT
            self.aborts_in_a_row = self.aborts_in_a_row + 1 if aborted else 0

    def _count(self, before: t.Trial | None, trial: t.Trial) -> None:
        """A trial counts toward the budget unless it is the baseline or the harness
        aborted it (an infrastructure fault never spends an idea's turn)."""
        if before is None:
            self.open.add(trial.id)
            if trial.specialist == BASELINE:
                self.baseline_ids.append(trial.id)
            else:
                self.proposals += 1
        if trial.status in TERMINAL_STATUSES:
            self.open.discard(trial.id)
        aborted_now = trial.label is FailureLabel.HARNESS_ABORT and (
            before is None or before.label is None
        )
        if aborted_now and trial.specialist != BASELINE:
            self.proposals -= 1

    def _after_verdict(self, trial: t.Trial, verdict: Verdict) -> None:
        if verdict is Verdict.KEEP:
            self.best_id = trial.id
            self.ended_since_keep = 0
        else:
            self.ended_since_keep += 1

    def _apply_other(self, event: DomainEvent) -> None:
        if isinstance(event, a.AgentExchanged | a.AgentCallFailed):
            self.cost_usd += event.usd
        elif isinstance(event, a.AgentSessionStarted):
            self.sessions += 1
        elif isinstance(event, a.ContextStored):
            self.contexts.add(event.sha256)
        elif isinstance(event, a.AgentSessionEnded):
            empty = event.outcome in a.EMPTY_OUTCOMES
            self.cost_cap_hit = self.cost_cap_hit or event.outcome == "cost_cap"
            self.empty_sessions += empty
            self.empty_in_a_row = self.empty_in_a_row + 1 if empty else 0

    # Reading:

    @property
    def started(self) -> s.Search:
        if self.search is None:
            raise RuntimeError("no SearchStarted has been folded yet")
        return self.search

    @property
    def next_sequence(self) -> int:
        return len(self.by_sequence)  # trial numbers are 0, 1, 2, ... without gaps

    @property
    def baselines(self) -> list[t.Trial]:
        """Seed-recipe runs, oldest first; one is re-run if the harness aborted it."""
        return [self.trials[tid] for tid in self.baseline_ids]

    @property
    def best(self) -> t.Trial | None:
        return self.trials.get(self.best_id) if self.best_id else None

    def in_flight(self) -> list[t.Trial]:
        """Trials without a terminal event, oldest first; SCORED waits for a verdict."""
        return sorted((self.trials[tid] for tid in self.open), key=lambda tr: tr.sequence)

    def trial(self, sequence: int) -> t.Trial:
        return self.trials[self.by_sequence[sequence]]

    def active_seconds(self, now: datetime) -> float:
        start = self.segment_start or now
        return self.active_before + max((now - start).total_seconds(), 0.0)


def _scoring_values(event: t.TrialScored) -> tuple[float, ...]:
    values = tuple(r.score for r in event.per_seed if r.scoring and r.score is not None)
    return values or (event.score,)


def fold(events: list[DomainEvent]) -> SearchState:
    state = SearchState()
    for event in events:
        state.apply(event)
    return state


# Decisions:


def rotation(roster: tuple[str, ...], seed: int) -> list[str]:
    """The order specialists take turns in: a seeded, stable shuffle of the roster."""
    return sorted(roster, key=lambda key: hashlib.sha256(f"{seed}/{key}".encode()).digest())


def next_specialist(state: SearchState) -> str:
    """The baseline until one is judged (again after a harness abort), then the rotation."""
    search = state.started
    if state.best is None:
        return BASELINE
    order = rotation(search.roster, search.seed)
    return order[(state.proposals + state.empty_sessions + state.yields) % len(order)]


def stop_reason(state: SearchState, limits: StopLimits, now: datetime) -> FinishReason | None:
    """Why the loop must stop proposing now, or None to go on. Checked before each proposal."""
    failed = [tr for tr in state.baselines if tr.status is TrialStatus.FAILED]
    if state.best is None and any(tr.label is not FailureLabel.HARNESS_ABORT for tr in failed):
        return FinishReason.BASELINE_FAILED  # the seed recipe itself fails: nothing to compare
    if state.best is not None and state.proposals >= limits.trials:
        # The baseline runs first whatever the budget: `--trials 0` measures the seed
        # recipe's noise alone.
        return FinishReason.TRIAL_BUDGET
    if limits.deadline_seconds is not None and state.active_seconds(now) >= limits.deadline_seconds:
        return FinishReason.DEADLINE
    if limits.patience is not None and state.ended_since_keep >= limits.patience:
        return FinishReason.NO_IMPROVEMENT
    if state.cost_cap_hit or (limits.cost_usd is not None and state.cost_usd >= limits.cost_usd):
        return FinishReason.COST_CAP
    if state.empty_in_a_row >= MAX_EMPTY_SESSIONS:
        return FinishReason.NO_PROPOSALS
    if state.aborts_in_a_row >= MAX_ABORTS_IN_A_ROW:
        return FinishReason.HARNESS_FAULTS
    if state.best is not None and state.yielded >= set(state.started.roster):
        return FinishReason.EXHAUSTED
    return None


def judgement(
    state: SearchState, trial_id: UUID, seeds: Seeds | None = None
) -> dict[str, Any] | MoreSeeds:
    """The TrialJudged fields for a scored trial, against the best at this moment, or
    (paired rule) the seeds to run before a verdict can be given."""
    trial = state.trials[trial_id]
    search = state.started
    if trial.score is None:
        raise ValueError(f"trial {trial.sequence} has no score to judge")
    best = state.best
    fields: dict[str, Any] = {
        "verdict": Verdict.KEEP,
        "rule": BASELINE,
        "score": trial.score,
        "best_before_id": None,
        "best_before_score": None,
        "delta": None,
        "numbers": {},
        "test": None,
    }
    if trial.specialist == BASELINE or best is None:
        return fields
    fields.update(rule=search.keep_rule.name, best_before_id=best.id, best_before_score=best.score)
    if search.keep_rule.name == "paired":
        return _paired(state, trial_id, best.id, fields, seeds or Seeds())
    noise = search.noise_floor
    if noise is None:
        raise ValueError("trials are judged after the noise floor is measured")
    verdict: Judgement = decide(
        search.keep_rule,
        noise,
        search.lower_is_better,
        state.per_seed[trial_id],
        state.per_seed[best.id],
    )
    return {
        **fields,
        "verdict": verdict.verdict,
        "delta": verdict.delta,
        "numbers": verdict.numbers,
    }


def _paired(
    state: SearchState, trial_id: UUID, best_id: UUID, fields: dict[str, Any], seeds: Seeds
) -> dict[str, Any] | MoreSeeds:
    search = state.started
    sides = Sides(
        candidate=state.results.get(trial_id, {}),
        best=state.results.get(best_id, {}),
        lower_is_better=search.lower_is_better,
        cap=seeds.cap,
        looks=state.looks.get(trial_id, 0),
        rng_seed=trial_id.int % 2**63,  # the bootstrap's generator: the same on replay
    )
    test = look(search.keep_rule, search.noise_floor, sides)
    if test.decision == "more_seeds":
        index = len(state.launched_seeds[trial_id])
        return MoreSeeds(seeds=(training_seed(search.seed, index),), test=test)
    sign = -1.0 if search.lower_is_better else 1.0  # delta is candidate minus best
    delta = sign * test.mean_improvement + 0.0 if test.differences else None  # no -0.0
    return {**fields, "verdict": Verdict(test.decision), "delta": delta, "test": test}
