"""The trial cache's rules: when a run's recorded result may stand in for training it
again, and the key that says two runs are the same.

A task that declares its score deterministic (task.toml `deterministic = true`; never a
time metric, domain/task.py) gives the same outcome for the same task content, rules,
recipe, seeds, threads, budgets, sandbox, smoke run and environment. Those facts are the
key. The entries are the ledger's own trials (ledger/cache.py reads them from any
search), so there is no side store that could disagree with the record, and a reuse is
an event of its own (TrialReused) that names the trial it came from.

The final test's runs (domain/final_test.py) are cached too, under a key that adds the
test split: a side answered from the cache names its source in FinalTested itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from pydantic import SerializerFunctionWrapHandler, model_serializer

from domain import search as s
from domain import trial as t
from domain.base import DomainEvent, Immutable
from domain.envelope import canonical
from domain.labels import FailureLabel
from domain.ports import Outcome
from domain.progress import SearchState
from domain.task import TaskSpec

# What the numbers depend on in SearchStarted.environment. The host and the
# interpreter's path are left out on purpose: the same versions on the same platform
# compute the same bits wherever they are installed.
FINGERPRINT = ("python", "torch", "numpy", "autorecipe", "platform", "machine")

# Failures that are facts about the recipe. Never reused: harness_abort (the world
# failed, not the idea) and the budget overruns (a clock reading on a busy machine),
# except a training overrun the re-measure rule settled (`reusable`).
REUSABLE_LABELS = frozenset(
    {
        FailureLabel.CRASH,
        FailureLabel.PREFLIGHT_CRASH,
        FailureLabel.SIZE_BLOCKED,
        FailureLabel.DISQUALIFIED,
    }
)


class CacheKey(Immutable):
    task_sha256: str
    rules_version: str
    recipe_sha256: str
    seeds: tuple[int, ...]
    scoring_seeds: tuple[int, ...]  # which seeds' mean is the score
    threads: int
    budgets: dict[str, float]
    sandbox: str
    smoke: bool
    environment: dict[str, str]
    # A racing extension's recorded score is the mean over every look, so its outcome
    # only ever stands for another extension, never for a first look on those seeds.
    first_look: bool = True
    # "test" for a final test's run; None (left out of the dump) on the validation split,
    # so every validation key, and the digest old ledgers recorded for it, is unchanged.
    split: str | None = None

    @model_serializer(mode="wrap")
    def _validation_unsplit(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        if dumped.get("split") is None:
            dumped.pop("split", None)
        return dumped

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical(self.model_dump(mode="json"))).hexdigest()


class CacheHit(Immutable):
    """An earlier run with the same key, and the outcome its record holds."""

    source_search_id: UUID
    source_trial_id: UUID
    source_sequence: int
    key: CacheKey
    outcome: Outcome


def cacheable(task: TaskSpec, deterministic_run: bool) -> bool:
    """Only where the task vouches for its score and the run was bit-reproducible."""
    return task.deterministic and task.metric.source == "evaluator" and deterministic_run


def reusable(outcome: Outcome) -> bool:
    """A score, a failure that is a fact about the recipe, or a training overrun that does
    not hang on one reading: every measurement of the same work over the cap, or the
    first past the re-measure margin (evidence `settled`, evaluators/remeasure.py)."""
    if outcome.label is None:
        return outcome.score is not None
    if outcome.label is FailureLabel.TRAIN_BUDGET_OVERRUN:
        return outcome.evidence.get("settled") is True
    return outcome.label in REUSABLE_LABELS


def fingerprint(environment: Mapping[str, str]) -> dict[str, str]:
    return {name: environment.get(name, "") for name in FINGERPRINT}


def same_boot(one: Mapping[str, str], other: Mapping[str, str]) -> bool:
    """Both recorded on one boot of one machine (unknown, as before boots were recorded
    or off Linux: not the same)."""
    boot = one.get("boot", "")
    return bool(boot) and boot == other.get("boot", "")


def key_of(
    task_sha256: str,
    environment: Mapping[str, str],
    facts: Mapping[str, Any],
    scoring_seeds: tuple[int, ...],
    smoke: bool,
    first_look: bool = True,
    split: str = "validation",
) -> CacheKey:
    """The key of a run from its launch facts (a TrialLaunched's or TrialExtended's
    fields, or the live job's `launch_facts` plus the rules version): both sides build
    it here."""
    return CacheKey(
        task_sha256=task_sha256,
        rules_version=facts["rules_version"],
        recipe_sha256=facts["recipe_sha256"],
        seeds=tuple(facts["seeds"]),
        scoring_seeds=scoring_seeds,
        threads=facts["threads"],
        budgets=dict(facts["budgets"]),
        sandbox=facts["sandbox"],
        smoke=smoke,
        environment=fingerprint(environment),
        first_look=first_look,
        split=None if split == "validation" else split,
    )


def final_key(
    task_sha256: str, environment: Mapping[str, str], facts: Mapping[str, Any]
) -> CacheKey:
    """The key of one side of a final test: its recipe scored on the test split over all
    of `facts`' seeds at once, with no smoke run (a single look, so always a first)."""
    seeds = tuple(facts["seeds"])
    return key_of(task_sha256, environment, facts, seeds, False, True, "test")


def final_side_key(
    started: s.SearchStarted, launched: s.FinalTestLaunched, trial_id: UUID
) -> CacheKey:
    """A recorded side's key: the launch's facts (both sides share them) with that
    side's recipe."""
    best = trial_id == launched.best_trial_id
    recipe = launched.recipe_sha256 if best else launched.seed_recipe_sha256
    facts = {**launched.model_dump(), "recipe_sha256": recipe}
    return final_key(started.task_sha256, started.environment, facts)


def final_sides(tested: s.FinalTested) -> list[s.FinalSide]:
    """The sides a final test ran or copied (none when it ran nothing)."""
    return [side for side in (tested.best, tested.seed_recipe) if side is not None]


def side_hit(side: s.FinalSide, key: CacheKey, outcome: Outcome) -> CacheHit | None:
    """The cache hit a recorded final-test side says it copied, if it says so."""
    if side.reused_from_search_id is None or side.reused_from_trial_id is None:
        return None
    return CacheHit(
        source_search_id=side.reused_from_search_id,
        source_trial_id=side.reused_from_trial_id,
        source_sequence=side.reused_from_sequence or 0,
        key=key,
        outcome=outcome,
    )


def reuse_events(state: SearchState, trial_id: UUID, hit: CacheHit) -> list[DomainEvent]:
    """TrialReused, folded into `state`; the caller records the outcome's events after."""
    event = t.reuse(
        state.trials[trial_id],
        source_search_id=hit.source_search_id,
        source_trial_id=hit.source_trial_id,
        source_sequence=hit.source_sequence,
        cache_key=hit.key.digest,
        key=hit.key.model_dump(mode="json"),
    )
    state.apply(event)
    return [event]
