"""A search's options as one value, recorded whole in SearchStarted."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from domain.base import Immutable
from domain.progress import StopLimits
from domain.task import TaskSpec, training_seed


class SearchConfig(Immutable):
    task: str
    trials: int = Field(default=20, ge=0)
    seed: int = 0
    workers: int = Field(default=1, ge=1)
    threads: int = Field(default=1, ge=1)  # torch threads per trial process
    specialists: tuple[str, ...] = ()  # empty: the task's roster without the generalist
    policy: str = "specialists"
    agent: str = "offline"
    model: str | None = None  # the LLM behind the claude and recorded agents
    max_turns: int = Field(default=40, ge=1)  # model calls per LLM session
    lineage: bool = True
    strict_surfaces: bool = False
    sandbox: bool = True
    smoke: bool = True
    cache: bool = True  # reuse recorded results of deterministic tasks (domain/cache.py)
    # A derived search's source: {"kind": "rejudge" | "counterfactual", "search", "head", ...}
    derived_from: dict[str, Any] | None = None
    runner: str = "local"
    noise_seeds: int | None = None  # overrides the task's seeds.noise
    deadline_minutes: float | None = None
    patience: int | None = None
    cost_cap_usd: float | None = None

    def roster(self, task: TaskSpec) -> tuple[str, ...]:
        if self.specialists:
            return self.specialists
        return tuple(entry.key for entry in task.roster if entry.key != "generalist")

    def limits(self) -> StopLimits:
        deadline = None if self.deadline_minutes is None else self.deadline_minutes * 60
        return StopLimits(
            trials=self.trials,
            deadline_seconds=deadline,
            patience=self.patience,
            cost_usd=self.cost_cap_usd,
        )

    def trial_seeds(self, task: TaskSpec, baseline: bool) -> tuple[int, ...]:
        """Every trial starts on the same seeds (paired comparisons); the baseline runs
        every seed a trial can reach, and more, so the spread between seeds gives the
        noise model."""
        count = task.seeds.per_trial
        if baseline:
            count = max(task.seed_cap, self.noise_seeds or task.seeds.noise)
        return tuple(training_seed(self.seed, i) for i in range(count))

    def scoring_seeds(self, task: TaskSpec, baseline: bool) -> tuple[int, ...]:
        """The seeds whose mean is the score: a trial's first look, or the baseline's
        seeds up to the cap (the seeds a kept trial has too)."""
        count = task.seed_cap if baseline else task.seeds.per_trial
        return tuple(training_seed(self.seed, i) for i in range(count))
