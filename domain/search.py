"""The Search aggregate: one run of the loop on one task. State, events, commands, evolution.

Longer than the 300-line guide on purpose, as domain/trial.py: an event's stored topic is
its module and class name, hashed into the ledger's chain, so its classes stay here.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid5

from pydantic import Field

from domain.base import DomainError, DomainEvent, Immutable, JSONValue, advance, projector
from domain.budgets import DerivedBudgets
from domain.keep import KeepRule, NoiseFloor, PairedTest
from domain.labels import FailureLabel, FinishReason
from domain.trial import RunFacts, SeedResult, clock_before_cpu_budgets

SEARCH_NAMESPACE = UUID("5b8f3a8e-6d1c-5f2e-9a57-2c1f0e7b4d10")

# State:

FinalStatus = Literal["held", "not_held", "undecided", "no_keep", "skipped"]


class FinalPlan(Immutable):
    """What the final test runs: both recipes on the same fresh seeds."""

    best_trial_id: UUID
    seed_trial_id: UUID
    seeds: tuple[int, ...]


class Search(Immutable):
    id: UUID
    version: int
    task_id: str
    seed: int
    roster: tuple[str, ...]
    config: dict[str, JSONValue]
    keep_rule: KeepRule
    lineage: bool
    metric: str
    lower_is_better: bool
    noise_floor: NoiseFloor | None = None
    derived_budgets: DerivedBudgets | None = None  # the caps the baseline derived, if any
    finished: FinishReason | None = None
    final_test: FinalStatus | Literal["launched"] | None = None
    final_plan: FinalPlan | None = None


def search_id(ordinal: int, task_id: str, seed: int) -> UUID:
    """Deterministic: the n-th search of a ledger on the same task and seed."""
    return uuid5(SEARCH_NAMESPACE, f"search/{ordinal}/{task_id}/{seed}")


# Events:


class SearchStarted(DomainEvent):
    ordinal: int
    task_id: str
    task_sha256: str  # content hash of every file in the task folder
    rules_version: str
    metric: str
    lower_is_better: bool
    seed: int
    roster: tuple[str, ...]
    policy: str  # the proposer policy: specialists, generalist, random, optuna, ...
    agent: str  # offline, claude, recorded
    lineage: bool
    keep_rule: KeepRule
    config: dict[str, JSONValue]  # every option the search ran with
    environment: dict[str, str]  # python, torch, threads, platform, ...


def _no_derived_budgets(state: dict[str, Any]) -> None:
    """Before 2026-12-05 every cap was absolute: none was derived from the baseline."""
    state["budgets"] = None


class NoiseFloorMeasured(DomainEvent):
    """What the baseline measured: the noise model and, for a task with caps relative to
    the machine (`seed_multiple`), the seed recipe's CPU cost and the caps it gives."""

    class_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Any]] = {1: _no_derived_budgets}

    baseline_trial_id: UUID
    noise: NoiseFloor
    budgets: DerivedBudgets | None


def _resumed_v1_to_v2(state: dict[str, Any]) -> None:
    """v1 (before 2026-12-06) re-ran no trial: the agents were asked for new ones."""
    state["reruns"] = None


class SearchResumed(DomainEvent):
    class_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Any]] = {1: _resumed_v1_to_v2}

    abandoned: tuple[UUID, ...]  # trials that were in flight and now end harness_abort
    # v2: the trials this resume runs again, oldest first (those a Ctrl-C ended, then the
    # abandoned ones): domain/rerun.py. None: a resume before re-runs existed.
    reruns: tuple[UUID, ...] | None = ()
    host: str
    config: dict[str, JSONValue] = Field(default_factory=dict)
    reopened: FinishReason | None = None  # the ending this resume undid (2026-12-04 on)


class SearchFinished(DomainEvent):
    reason: FinishReason
    trials: int  # proposals after the baseline
    best_trial_id: UUID | None
    best_score: float | None
    detail: str = ""


class SpecialistYielded(DomainEvent):
    """A specialist had no untried edit to offer: it gave up its turn. Not a trial; the
    next turn may use `sequence`. When every specialist has yielded since the last
    trial began or ended, the search ends "exhausted"."""

    sequence: int  # the trial number it was asked for
    specialist: str
    agent: str
    reason: str
    lineage_view_sha256: str
    lineage_view: str  # the exact text it was shown


# The final test (domain/final_test.py states its rules), recorded before SearchFinished:


class FinalSide(Immutable):
    """One recipe's runs in the final test, as the evaluator classified them on the test
    split: scored on every test seed (`label` None), or failed with a trial's labels."""

    trial_id: UUID
    sequence: int
    label: FailureLabel | None = None
    reason: str = ""
    score: float | None = None  # the mean over the test seeds
    per_seed: tuple[SeedResult, ...] = ()  # each seed's score and per-example blocks
    measurements: dict[str, float] = Field(default_factory=dict)
    evidence: dict[str, JSONValue] = Field(default_factory=dict)  # within domain.bounded
    log_excerpt: str = ""
    rules_version: str = ""
    confinement: str = ""
    accounting: str = ""  # as on TrialScored (v2 of FinalTested on)
    # v3: a side the trial cache answered (domain/cache.py) names the earlier final test's
    # side it copied, and the key they share; None: it ran (or was recorded before v3).
    reused_from_search_id: UUID | None = None
    reused_from_trial_id: UUID | None = None
    reused_from_sequence: int | None = None
    cache_key: str | None = None


class FinalTestLaunched(RunFacts):
    """The final test's two runs, on the same fresh `seeds`, scored on the test split: the
    best kept recipe (`recipe_sha256`) and the seed recipe (`seed_recipe_sha256`)."""

    class_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Any]] = {1: clock_before_cpu_budgets}

    ending: FinishReason  # the ending that called for it
    split: str
    best_trial_id: UUID
    seed_trial_id: UUID
    seed_recipe_sha256: str


def _sides_without_accounting(state: dict[str, Any]) -> None:
    """Before 2026-12-05 no CPU clock ran beside a run: its sides name no method."""
    for side in ("best", "seed_recipe"):
        if state.get(side) is not None:
            state[side]["accounting"] = ""


def _sides_not_reused(state: dict[str, Any]) -> None:
    """Before 2026-12-06 the trial cache never answered a final test: every side ran."""
    for side in ("best", "seed_recipe"):
        if state.get(side) is not None:
            for name in ("search_id", "trial_id", "sequence"):
                state[side][f"reused_from_{name}"] = None
            state[side]["cache_key"] = None


class FinalTested(DomainEvent):
    """The final test's result. `differences`, `delta` and `interval` are the best minus
    the seed recipe in the metric's units (negative is better when lower is better);
    `test` holds every number of the paired test, its candidate the best kept recipe and
    its reference ("best") the seed recipe. held, not_held and undecided ran both sides;
    no_keep and skipped ran nothing, and `reason` says why."""

    class_version: ClassVar[int] = 3
    upcasters: ClassVar[dict[int, Any]] = {
        1: _sides_without_accounting,
        2: _sides_not_reused,
    }

    status: FinalStatus
    held: bool
    reason: str
    split: str = "test"
    seeds: tuple[int, ...] = ()
    best: FinalSide | None = None
    seed_recipe: FinalSide | None = None
    differences: tuple[float, ...] = ()
    delta: float | None = None
    interval: tuple[float, float] | None = None
    method: str = ""
    test: PairedTest | None = None


SEARCH_EVENTS: tuple[type[DomainEvent], ...] = (
    SearchStarted,
    NoiseFloorMeasured,
    SearchResumed,
    SearchFinished,
    FinalTestLaunched,
    FinalTested,
    SpecialistYielded,
)


# Which endings a resume may reopen. An ending that says the world failed the search
# (trial after trial aborted by the infrastructure: an OOM killer, a flaky host) is not
# the search's own verdict: once a person has fixed the machine, `search --resume`
# continues it, its SearchResumed names the ending it reopened, and the count of aborts
# in a row starts again. Endings that say the search ran its course (budget, deadline,
# patience, cost, a failing baseline) stay final. An interrupt (Ctrl-C, during the trials
# or the final test) is a person's pause, not a verdict: a resume goes on from there.
REOPENABLE: frozenset[FinishReason] = frozenset(
    {FinishReason.HARNESS_FAULTS, FinishReason.INTERRUPTED}
)


def resumable(search: Search) -> bool:
    """Still running (a process died under it), or ended in a way a resume reopens."""
    return search.finished is None or search.finished in REOPENABLE


# Errors:


class SearchFinishedError(DomainError):
    def __init__(self, search: Search, action: str) -> None:
        super().__init__(f"search {search.id} ended ({search.finished}): cannot {action}")


class NoiseFloorKnownError(DomainError):
    pass


class FinalTestRecordedError(DomainError):
    pass


# Commands:


def start(ordinal: int, task_id: str, seed: int, **fields: Any) -> SearchStarted:
    return SearchStarted(
        originator_id=search_id(ordinal, task_id, seed),
        originator_version=1,
        ordinal=ordinal,
        task_id=task_id,
        seed=seed,
        **fields,
    )


def _next(search: Search, action: str) -> dict[str, Any]:
    if search.finished is not None:
        raise SearchFinishedError(search, action)
    return {"originator_id": search.id, "originator_version": search.version + 1}


def measure_noise_floor(
    search: Search, baseline: UUID, noise: NoiseFloor, budgets: DerivedBudgets | None = None
) -> NoiseFloorMeasured:
    fields = _next(search, "measure the noise floor")
    if search.noise_floor is not None:
        raise NoiseFloorKnownError(f"search {search.id}: the noise floor is measured once")
    return NoiseFloorMeasured(**fields, baseline_trial_id=baseline, noise=noise, budgets=budgets)


def resume(search: Search, **fields: Any) -> SearchResumed:
    if not resumable(search):
        raise SearchFinishedError(search, "resume")
    version = {"originator_id": search.id, "originator_version": search.version + 1}
    return SearchResumed(**version, reopened=search.finished, **fields)


def launch_final_test(search: Search, **fields: Any) -> FinalTestLaunched:
    return FinalTestLaunched(**_final(search, "launch the final test"), **fields)


def record_final_test(search: Search, **fields: Any) -> FinalTested:
    return FinalTested(**_final(search, "record the final test"), **fields)


def _final(search: Search, action: str) -> dict[str, Any]:
    """Once per search, before it finishes; a launch cut off by a crash may run again."""
    fields = _next(search, action)
    if search.final_test not in (None, "launched"):
        raise FinalTestRecordedError(f"search {search.id}: the final test is recorded once")
    return fields


def yield_turn(search: Search, **fields: Any) -> SpecialistYielded:
    return SpecialistYielded(**_next(search, "take a turn"), **fields)


def finish(search: Search, reason: FinishReason, **fields: Any) -> SearchFinished:
    return SearchFinished(**_next(search, "finish"), reason=reason, **fields)


# Evolution:


@singledispatch
def mutate(event: DomainEvent, search: Search | None) -> Search:
    raise TypeError(f"not a search event: {type(event).__name__}")


@mutate.register
def _(event: SearchStarted, search: Search | None) -> Search:
    return Search(
        id=event.originator_id,
        version=event.originator_version,
        task_id=event.task_id,
        seed=event.seed,
        roster=event.roster,
        config=event.config,
        keep_rule=event.keep_rule,
        lineage=event.lineage,
        metric=event.metric,
        lower_is_better=event.lower_is_better,
    )


def _advance(search: Search | None, event: DomainEvent, **changes: Any) -> Search:
    return advance(search, event, "SearchStarted", **changes)


@mutate.register
def _(event: NoiseFloorMeasured, search: Search | None) -> Search:
    return _advance(search, event, noise_floor=event.noise, derived_budgets=event.budgets)


@mutate.register
def _(event: SearchResumed, search: Search | None) -> Search:
    resumed = _advance(search, event, finished=None)
    # The options this resume changed (domain/resume.py says which may): folds from
    # here on, the loop's and replay's, read them as the search's config.
    return resumed.model_copy(update={"config": {**resumed.config, **event.config}})


@mutate.register
def _(event: SearchFinished, search: Search | None) -> Search:
    return _advance(search, event, finished=event.reason)


@mutate.register
def _(event: FinalTestLaunched, search: Search | None) -> Search:
    plan = FinalPlan(
        best_trial_id=event.best_trial_id, seed_trial_id=event.seed_trial_id, seeds=event.seeds
    )
    return _advance(search, event, final_test="launched", final_plan=plan)


@mutate.register
def _(event: FinalTested, search: Search | None) -> Search:
    return _advance(search, event, final_test=event.status)


@mutate.register
def _(event: SpecialistYielded, search: Search | None) -> Search:
    return _advance(search, event)


# Fold a search's events, oldest first, into its current state.
project_search = projector(mutate)
