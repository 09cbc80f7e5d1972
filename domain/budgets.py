"""A task's time budgets: caps on the task's clock (CPU-seconds by default), the wall
backstop, caps derived from the seed recipe's measured cost, and re-measuring at the cap.
"""

from __future__ import annotations

from statistics import fmean
from typing import Literal

from pydantic import Field, model_validator

from domain.base import Immutable


class DerivedBudgets(Immutable):
    """Caps derived on this machine from the seed recipe's measured cost (recorded with
    the noise model, so a resume or replay runs under the same caps)."""

    seed_multiple: float
    seed_train_cpu_s: float  # mean training CPU-seconds over the baseline's seeds
    seed_eval_cpu_s: float  # mean evaluation CPU-seconds over them
    train_seconds: float
    eval_seconds: float


class Budgets(Immutable):
    """Harness-enforced caps; a step may straddle the cap by `tolerance`.

    clock "cpu" (the default): the caps are CPU-seconds of the run's whole process tree,
    counted live, so they mean the same on a busy machine; wall time is only a backstop
    at `wall_backstop` times the cap. clock "wall": the caps are wall seconds (the
    upstream GPU adapters, where a GPU is not shared)."""

    train_seconds: float = Field(gt=0)
    eval_seconds: float = Field(gt=0)
    smoke_seconds: float = Field(default=60, gt=0)
    tolerance_seconds: float = Field(default=0, ge=0)
    clock: Literal["cpu", "wall"] = "cpu"
    wall_backstop: float = Field(default=3.0, ge=1)
    # Caps relative to the machine: train and eval caps = this multiple of the seed
    # recipe's mean CPU-seconds, measured by the baseline (train_seconds and eval_seconds
    # then cap the baseline's own runs). None: the absolute caps hold throughout.
    seed_multiple: float | None = Field(default=None, gt=1)
    # A seed's training run that ends over its CPU cap by at most this share of the cap
    # is measured again, up to `remeasures` more times, and judged by its least
    # measurement of the same work (evaluators/remeasure.py). 0 re-measures: the first
    # measurement stands, and a run is stopped at the cap itself.
    remeasure_within: float = Field(default=0.25, gt=0, le=1)
    remeasures: int = Field(default=0, ge=0, le=5)

    @model_validator(mode="after")
    def _relative_caps_count_cpu(self) -> Budgets:
        if self.seed_multiple is not None and self.clock != "cpu":
            raise ValueError('seed_multiple measures the seed in CPU-seconds: needs clock "cpu"')
        return self

    @model_validator(mode="after")
    def _remeasures_count_cpu(self) -> Budgets:
        if self.remeasures and self.clock != "cpu":
            raise ValueError('remeasures re-measure CPU-seconds: needs clock "cpu"')
        return self

    def derive(self, train_cpu_s: list[float], eval_cpu_s: list[float]) -> DerivedBudgets | None:
        """The caps for this machine from the baseline's seeds (None: absolute caps)."""
        if self.seed_multiple is None or not train_cpu_s or not eval_cpu_s:
            return None
        train, evaluate = fmean(train_cpu_s), fmean(eval_cpu_s)
        return DerivedBudgets(
            seed_multiple=self.seed_multiple,
            seed_train_cpu_s=round(train, 3),
            seed_eval_cpu_s=round(evaluate, 3),
            train_seconds=round(self.seed_multiple * train, 1),
            eval_seconds=round(self.seed_multiple * evaluate, 1),
        )

    def apply(self, derived: DerivedBudgets | None) -> Budgets:
        """The budgets a trial runs under once the baseline derived its caps."""
        if derived is None:
            return self
        caps = {"train_seconds": derived.train_seconds, "eval_seconds": derived.eval_seconds}
        return self.model_copy(update=caps)

    def wall_cap(self, cap: float) -> float:
        """The wall seconds a run with this cap may take before the backstop ends it."""
        return cap * self.wall_backstop if self.clock == "cpu" else cap

    def train_cap(self) -> float:
        """The training cap a run is judged by: train_seconds plus the tolerance."""
        return self.train_seconds + self.tolerance_seconds

    def train_limit(self) -> float:
        """Where a seed's training run is stopped: past the re-measure margin when runs
        over the cap are re-measured (they must finish to be compared), else the cap."""
        cap = self.train_cap()
        return cap * (1 + self.remeasure_within) if self.remeasures else cap

    def cpu_cap(self, cap: float) -> float | None:
        """The CPU-seconds past which a run is stopped; None under the wall clock."""
        return cap if self.clock == "cpu" else None
