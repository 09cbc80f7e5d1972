"""The Trial aggregate: one recipe edit from proposal to verdict. State, events,
commands and evolution, in that order. Commands return events; they never store them.

Longer than the 300-line guide on purpose: an event's stored topic is its module and
class name, hashed into the ledger's chain, so the event classes stay in this module
rather than move to one of their own, and the aggregate reads top to bottom in one file.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any, ClassVar
from uuid import UUID, uuid5

from pydantic import Field, field_validator

from domain import bounded
from domain.base import (
    DomainError,
    DomainEvent,
    Immutable,
    JSONValue,
    advance,
    finite_or_none,
    projector,
)
from domain.keep import PairedTest
from domain.labels import TERMINAL_STATUSES, FailureLabel, TrialStatus, Verdict

# State:


class Trial(Immutable):
    id: UUID
    version: int
    search_id: UUID
    sequence: int
    specialist: str
    parent_id: UUID | None
    status: TrialStatus
    label: FailureLabel | None = None
    verdict: Verdict | None = None
    score: float | None = None
    child_sha256: str | None = None


def trial_id(search_id: UUID, sequence: int) -> UUID:
    """Deterministic: the same search and sequence always name the same trial."""
    return uuid5(search_id, f"trial/{sequence}")


# Events:


class ProgressSample(Immutable):
    step: int
    loss: float | None  # None where the recipe reported NaN or infinity
    elapsed_s: float

    @field_validator("loss", mode="before")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        return finite_or_none(value)


class SeedResult(Immutable):
    """What the evaluator measured for one cold-process seed."""

    seed: int
    score: float | None
    measurements: dict[str, float] = Field(default_factory=dict)
    scoring: bool = True  # False: an extra seed run only to measure the noise floor
    # Held-out values in the metric's units, in the evaluator's fixed example order,
    # averaged into contiguous blocks (KeepRule.example_blocks) so the judge can pair
    # examples; () if the evaluator reports none.
    per_example: tuple[float, ...] = ()


def _proposed_v1_to_v2(state: dict[str, Any]) -> None:
    """v1 (before 2026-12-06): a resume asked the agents again; no trial re-ran another."""
    state["reruns"] = None


class TrialProposed(DomainEvent):
    class_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Any]] = {1: _proposed_v1_to_v2}

    search_id: UUID
    sequence: int
    specialist: str
    agent: str  # the proposer backend: offline, claude, recorded, random, optuna
    parent_id: UUID | None
    hypothesis: str
    expected_delta: float | None = None
    idea: str = ""  # a stable key for the technique, for the "already tried" index
    surfaces: tuple[str, ...] = ()
    lineage_view_sha256: str
    lineage_view: str  # the exact text the agent was shown
    session_id: UUID | None = None  # the LLM session that produced it, if any
    # v2: the trial a stop cut short that this one runs again, as it was proposed (its
    # recipe, specialist, parent and hypothesis): domain/rerun.py. None: a new proposal.
    reruns: UUID | None = None


class RecipeEdited(DomainEvent):
    diff: str
    parent_sha256: str
    child_sha256: str
    files: tuple[str, ...] = ()
    surfaces_touched: tuple[str, ...] = ()
    lines_added: int = 0
    lines_removed: int = 0


def _launched_v1_to_v2(state: dict[str, Any]) -> None:
    """v1 (before 2026-11-26) did not say whether a run is bit-reproducible; torch on
    CPU is at a fixed seed with one thread, which is what v2 records."""
    state["deterministic"] = state["threads"] == 1


def clock_before_cpu_budgets(state: dict[str, Any]) -> None:
    """Before rules with CPU budgets (2026-12-05) every cap was in wall seconds."""
    state["clock"] = "wall"


class RunFacts(DomainEvent):
    """What a job fixes about a run: where, on which seeds, with what threads, budgets,
    sandbox, rules and recipe. Shared by a trial's launch and its extensions."""

    runner: str
    host: str
    seeds: tuple[int, ...]
    threads: int
    budgets: dict[str, float]  # train_s, eval_s, smoke_s, wall_backstop, size_cap_bytes
    clock: str  # "cpu": the caps are CPU-seconds of the run's tree; "wall": wall seconds
    sandbox: str  # "bwrap" or "none (--unsafe-no-sandbox)"
    rules_version: str
    recipe_sha256: str
    deterministic: bool  # v2: same seed and threads give bit-identical weights and score


class TrialLaunched(RunFacts):
    class_version: ClassVar[int] = 3
    upcasters: ClassVar[dict[int, Any]] = {1: _launched_v1_to_v2, 2: clock_before_cpu_budgets}


class TrialExtended(RunFacts):
    """Racing: the decision is still open after a look, so the same recipe runs again on
    `seeds` alone. `test` holds the look that left it open."""

    class_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Any]] = {1: clock_before_cpu_budgets}

    test: PairedTest


class TrainingProgressed(DomainEvent):
    seed: int
    samples: tuple[ProgressSample, ...]


def _no_accounting(state: dict[str, Any]) -> None:
    """Before 2026-12-05 no CPU clock ran beside a trial: its cpu_s is rusage's."""
    state["accounting"] = ""


class TrialScored(DomainEvent):
    class_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Any]] = {1: _no_accounting}

    metric: str
    lower_is_better: bool
    score: float
    measurements: dict[str, float]
    per_seed: tuple[SeedResult, ...] = ()
    rules_version: str
    confinement: str = ""  # how processes and memory were limited (2026-12-04 on)
    accounting: str = ""  # how its CPU-seconds were counted: the sandbox cgroup or /proc


def _failed_v1_to_v2(state: dict[str, Any]) -> None:
    """v1 (before 2026-12-05) dropped the score of a trial that scored and then failed a
    rule (an accuracy-gate miss): none is known for those."""
    state["score"] = None


class TrialFailed(DomainEvent):
    class_version: ClassVar[int] = 3
    upcasters: ClassVar[dict[int, Any]] = {1: _failed_v1_to_v2, 2: _no_accounting}

    label: FailureLabel
    reason: str  # one line a person can read
    evidence: dict[str, JSONValue] = Field(default_factory=dict)  # within domain.bounded
    log_excerpt: str = ""
    measurements: dict[str, float] = Field(default_factory=dict)
    rules_version: str = ""
    confinement: str = ""  # as in TrialScored; empty before launch
    score: float | None = None  # v2: measured, then disqualified (a gate miss); else None
    accounting: str = ""  # v3: as in TrialScored; empty before launch


def _judged_v1_to_v2(state: dict[str, Any]) -> None:
    """v1 (before 2026-12-04) verdicts came from the noise_floor or welch rule (or the
    baseline's), whose numbers are all in `numbers`: they carry no paired test."""
    state["test"] = None


class TrialJudged(DomainEvent):
    class_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Any]] = {1: _judged_v1_to_v2}

    verdict: Verdict
    rule: str
    score: float
    best_before_id: UUID | None
    best_before_score: float | None
    # candidate minus best, in the metric's units: the mean over the paired seeds under
    # the paired rule, score minus best score under the earlier rules
    delta: float | None
    numbers: dict[str, float] = Field(default_factory=dict)  # earlier rules: floor, sigma, p
    test: PairedTest | None = None  # v2: the paired rule's last look, every number of it


class TrialReproduced(DomainEvent):
    """A later re-execution of the trial's recipe with its recorded seed and threads."""

    outcome: str  # the label, or "scored"
    score: float | None
    recorded_score: float | None
    identical: bool
    within_noise: bool
    tolerance: float
    measurements: dict[str, float] = Field(default_factory=dict)


class TrialReused(DomainEvent):
    """The trial cache (domain/cache.py): this launch's result is the one recorded for
    `source_trial_id`, an earlier run with the same cache key, so nothing was trained.
    The outcome event that follows copies the source's outcome."""

    source_search_id: UUID
    source_trial_id: UUID
    source_sequence: int
    cache_key: str  # sha256 of `key`
    key: dict[str, JSONValue]  # task and recipe hashes, rules, seeds, threads, environment


TRIAL_EVENTS: tuple[type[DomainEvent], ...] = (
    TrialProposed,
    RecipeEdited,
    TrialLaunched,
    TrainingProgressed,
    TrialScored,
    TrialExtended,
    TrialFailed,
    TrialJudged,
    TrialReproduced,
    TrialReused,
)


# Errors:


class TrialError(DomainError):
    def __init__(self, trial: Trial, action: str, why: str) -> None:
        super().__init__(f"trial {trial.sequence} ({trial.status}): cannot {action}: {why}")
        self.trial_id = trial.id


class TrialAlreadyScoredError(TrialError):
    pass


class TrialNotLaunchedError(TrialError):
    pass


class TrialNotScoredError(TrialError):
    pass


class TrialFinishedError(TrialError):
    pass


# Commands:


def _next(trial: Trial) -> dict[str, Any]:
    return {"originator_id": trial.id, "originator_version": trial.version + 1}


def _require(trial: Trial, action: str, *allowed: TrialStatus) -> None:
    if trial.status in allowed:
        return
    if trial.status in TERMINAL_STATUSES:
        raise TrialFinishedError(trial, action, "the trial already ended")
    if trial.status is TrialStatus.SCORED and action == "score":
        raise TrialAlreadyScoredError(trial, action, "it was scored already")
    if action in ("score", "record progress"):
        raise TrialNotLaunchedError(trial, action, "it was never launched")
    if action == "judge":
        raise TrialNotScoredError(trial, action, "it has no score")
    raise TrialError(trial, action, f"needs status {', '.join(allowed)}")


def propose(search_id: UUID, sequence: int, **fields: Any) -> TrialProposed:
    return TrialProposed(
        originator_id=trial_id(search_id, sequence),
        originator_version=1,
        search_id=search_id,
        sequence=sequence,
        **fields,
    )


def edit(trial: Trial, **fields: Any) -> RecipeEdited:
    _require(trial, "edit", TrialStatus.PROPOSED)
    return RecipeEdited(**_next(trial), **fields)


def launch(trial: Trial, **fields: Any) -> TrialLaunched:
    _require(trial, "launch", TrialStatus.EDITED)
    return TrialLaunched(**_next(trial), **fields)


def record_progress(trial: Trial, **fields: Any) -> TrainingProgressed:
    _require(trial, "record progress", TrialStatus.LAUNCHED)
    return TrainingProgressed(**_next(trial), **fields)


def record_score(trial: Trial, **fields: Any) -> TrialScored:
    _require(trial, "score", TrialStatus.LAUNCHED)
    return TrialScored(**_next(trial), **fields)


def record_failure(trial: Trial, label: FailureLabel, **fields: Any) -> TrialFailed:
    allowed: tuple[TrialStatus, ...] = (
        TrialStatus.PROPOSED,
        TrialStatus.EDITED,
        TrialStatus.LAUNCHED,
    )
    if label is FailureLabel.HARNESS_ABORT:  # infra can end a scored, unjudged trial
        allowed = (*allowed, TrialStatus.SCORED)
    _require(trial, f"fail with {label}", *allowed)
    return TrialFailed(**_next(trial), label=label, **bounded.failure_fields(fields))


def reuse(trial: Trial, **fields: Any) -> TrialReused:
    _require(trial, "reuse a cached result", TrialStatus.LAUNCHED)
    return TrialReused(**_next(trial), **fields)


def extend(trial: Trial, **fields: Any) -> TrialExtended:
    _require(trial, "extend", TrialStatus.SCORED)
    return TrialExtended(**_next(trial), **fields)


def judge(trial: Trial, **fields: Any) -> TrialJudged:
    _require(trial, "judge", TrialStatus.SCORED)
    return TrialJudged(**_next(trial), **fields)


def record_reproduction(trial: Trial, **fields: Any) -> TrialReproduced:
    if trial.status not in TERMINAL_STATUSES:
        raise TrialError(trial, "reproduce", "the trial has not ended")
    return TrialReproduced(**_next(trial), **fields)


# Evolution:


@singledispatch
def mutate(event: DomainEvent, trial: Trial | None) -> Trial:
    raise TypeError(f"not a trial event: {type(event).__name__}")


def _advance(trial: Trial | None, event: DomainEvent, **changes: Any) -> Trial:
    return advance(trial, event, "TrialProposed", **changes)


@mutate.register
def _(event: TrialProposed, trial: Trial | None) -> Trial:
    return Trial(
        id=event.originator_id,
        version=event.originator_version,
        search_id=event.search_id,
        sequence=event.sequence,
        specialist=event.specialist,
        parent_id=event.parent_id,
        status=TrialStatus.PROPOSED,
    )


@mutate.register
def _(event: RecipeEdited, trial: Trial | None) -> Trial:
    return _advance(trial, event, status=TrialStatus.EDITED, child_sha256=event.child_sha256)


@mutate.register
def _(event: TrialLaunched, trial: Trial | None) -> Trial:
    return _advance(trial, event, status=TrialStatus.LAUNCHED)


@mutate.register
def _(event: TrialExtended, trial: Trial | None) -> Trial:
    return _advance(trial, event, status=TrialStatus.LAUNCHED)


@mutate.register
def _(event: TrainingProgressed, trial: Trial | None) -> Trial:
    return _advance(trial, event)


@mutate.register
def _(event: TrialScored, trial: Trial | None) -> Trial:
    return _advance(trial, event, status=TrialStatus.SCORED, score=event.score)


@mutate.register
def _(event: TrialFailed, trial: Trial | None) -> Trial:
    return _advance(trial, event, status=TrialStatus.FAILED, label=event.label)


@mutate.register
def _(event: TrialJudged, trial: Trial | None) -> Trial:
    return _advance(trial, event, status=TrialStatus.JUDGED, verdict=event.verdict)


@mutate.register
def _(event: TrialReproduced, trial: Trial | None) -> Trial:
    return _advance(trial, event)


@mutate.register
def _(event: TrialReused, trial: Trial | None) -> Trial:
    return _advance(trial, event)


# Fold a trial's events, oldest first, into its current state.
project_trial = projector(mutate)
