"""A task as data: the `task.toml` schema that every built-in and user task follows.

Commands are argv lists with placeholders the harness fills in: {python}, {task},
{work}, {data}, {heldout}, {artifact}, {seed}, {threads}, {eval_seconds}, and {test} in
the prepare command of a task with a test split. The train command runs inside the
sandbox; prepare and evaluate are the task's trusted code.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from domain.base import Immutable
from domain.budgets import Budgets
from domain.keep import KeepRule


class Metric(Immutable):
    """`source`: who measures the metric. "evaluator" = the evaluate command's score;
    "train_seconds" = the harness's own wall clock of each training run (airbench's
    time-to-accuracy, where the evaluator only reports the gate)."""

    name: str
    direction: Literal["minimize", "maximize"]
    unit: str = ""
    source: Literal["evaluator", "train_seconds"] = "evaluator"

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "minimize"


class Gate(Immutable):
    """A legality threshold on a mean over seeds, e.g. accuracy >= 0.96 (airbench)."""

    metric: str
    threshold: float
    direction: Literal["at_least", "at_most"] = "at_least"

    def passes(self, value: float) -> bool:
        return value >= self.threshold if self.direction == "at_least" else value <= self.threshold


class Seeds(Immutable):
    """Training seeds. A trial first runs `per_trial` cold-process seeds; under the paired
    keep rule it earns one more at a time, up to `max_per_trial`, while its decision is
    open. The seed recipe runs `noise` seeds (at least the cap) for the noise model."""

    per_trial: int = Field(default=1, ge=1)
    max_per_trial: int | None = Field(default=None, ge=1)  # None: max(per_trial, 3)
    noise: int = Field(default=8, ge=1)

    @model_validator(mode="after")
    def _cap_is_not_below_the_first_look(self) -> Seeds:
        if self.max_per_trial is not None and self.max_per_trial < self.per_trial:
            raise ValueError(
                f"max_per_trial ({self.max_per_trial}) is below per_trial ({self.per_trial})"
            )
        return self

    @property
    def cap(self) -> int:
        return self.max_per_trial if self.max_per_trial is not None else max(self.per_trial, 3)


def training_seed(search_seed: int, index: int) -> int:
    """The index-th training seed of every trial in a search: the same on both sides of
    a comparison, and racing's extra seeds continue the same sequence."""
    return search_seed + index


class FinalTestRules(Immutable):
    """A task's `[test]` table: its prepare command writes a test split to {test}, which
    no trial sees. When a search ends, the best kept recipe and the seed recipe run on
    `seeds` fresh training seeds each and are scored on it (domain/final_test.py)."""

    seeds: int | None = Field(default=None, ge=1)  # None: the task's racing cap


class RosterEntry(Immutable):
    key: str
    surfaces: tuple[str, ...]  # "*" = every surface and core (the generalist)
    role: str = ""

    def may_edit(self, surface: str) -> bool:
        return "*" in self.surfaces or surface in self.surfaces


class Commands(Immutable):
    train: tuple[str, ...]
    evaluate: tuple[str, ...]
    prepare: tuple[str, ...] = ()
    project: tuple[str, ...] = ()  # optional: prints {"projected_bytes": n}


class Limits(Immutable):
    """Resource caps for agent-written code, each enforced by the harness (see
    docs/TASKS.md, "What the harness guarantees", for how and with which label)."""

    memory_mb: int = 4096  # everything in RAM, private /tmp and /dev/shm included
    processes: int = 256
    file_mb: int = 256
    cpu_seconds_factor: float = 4.0  # RLIMIT_CPU per process = factor * cap * threads
    tmpfs_mb: int = Field(default=256, ge=2)  # /tmp and /dev/shm, half each, in memory_mb
    work_dir_mb: int | None = None  # MiB the work dir may hold; None: 2 * file_mb
    work_dir_files: int = 10_000  # entries (files, folders, links) the work dir may hold

    @model_validator(mode="after")
    def _tmpfs_fits(self) -> Limits:
        if self.tmpfs_mb >= self.memory_mb:
            raise ValueError(f"tmpfs_mb {self.tmpfs_mb} must be below memory_mb {self.memory_mb}")
        return self

    @property
    def work_dir_bytes(self) -> int:
        return (self.work_dir_mb or 2 * self.file_mb) << 20


class SandboxRules(Immutable):
    hide_packages: tuple[str, ...] = ()  # importable packages masked inside the sandbox
    limits: Limits = Limits()


class Baseline(Immutable):
    """Measured numbers for the seed recipe, shown by `cli.py tasks` (documentation)."""

    score: float | None = None
    train_seconds: float | None = None
    artifact_bytes: int | None = None
    gate_value: float | None = None
    machine: str = ""


class TaskSpec(Immutable):
    name: str
    description: str
    rules_version: str
    recipe: tuple[str, ...]  # recipe files, relative to the task's recipe folder
    metric: Metric
    budgets: Budgets
    commands: Commands
    roster: tuple[RosterEntry, ...]
    size_cap_bytes: int | None = None
    gate: Gate | None = None
    seeds: Seeds = Seeds()
    keep: KeepRule = KeepRule()
    sandbox: SandboxRules = SandboxRules()
    baseline: Baseline = Baseline()
    kind: Literal["builtin", "user", "upstream"] = "user"
    test: FinalTestRules | None = None  # no [test] table: no test split, no final test
    # Python packages (PEP 508 strings) the task's commands import beyond autorecipe's own;
    # evaluators/requirements.py checks them before the baseline.
    requirements: tuple[str, ...] = ()
    # The task's word that the same recipe, seeds, threads and environment give the same
    # score and measurements: its trials may come from the trial cache (domain/cache.py).
    deterministic: bool = False

    @model_validator(mode="after")
    def _roster_is_unique(self) -> TaskSpec:
        keys = [entry.key for entry in self.roster]
        if len(set(keys)) != len(keys):
            raise ValueError(f"roster keys repeat: {keys}")
        return self

    @model_validator(mode="after")
    def _seeds_fit_the_keep_rule(self) -> TaskSpec:
        if self.keep.name != "paired":
            return self
        if self.gate is not None and self.seeds.cap > self.seeds.per_trial:
            raise ValueError(
                "a gate is a mean over a trial's seeds, so a gated task runs them all at"
                " once: set [seeds] max_per_trial = per_trial"
            )
        if self.seeds.cap == 1 and self.seeds.noise < 3:
            raise ValueError(
                "with one seed per trial the paired test uses the noise model's spread:"
                " set [seeds] noise to 3 or more (5 or more is better)"
            )
        return self

    @model_validator(mode="after")
    def _time_scores_are_measured_once(self) -> TaskSpec:
        if self.budgets.remeasures and self.metric.source == "train_seconds":
            raise ValueError(
                "a train_seconds score is each seed's one measurement: the least of"
                " re-measures near the cap would score those runs low; drop remeasures"
            )
        return self

    @model_validator(mode="after")
    def _test_split_is_prepared(self) -> TaskSpec:
        """A declared test split is written by prepare, into {test}, and nothing else
        names it: the evaluate command gets it as {heldout} in the final test only."""
        prepared = any("{test}" in part for part in self.commands.prepare)
        if self.test is not None and not prepared:
            raise ValueError("a [test] table needs the prepare command to write {test}")
        if self.test is None and prepared:
            raise ValueError("the prepare command writes {test}: declare it with a [test] table")
        named = [c for c in ("train", "evaluate", "project") if _names_test(self.commands, c)]
        if named:
            raise ValueError(f"only the prepare command may name {{test}}, not {', '.join(named)}")
        return self

    @model_validator(mode="after")
    def _time_is_never_deterministic(self) -> TaskSpec:
        """A score that is a clock reading depends on the machine's load, whatever the
        task says: such a task can never reuse an earlier trial's result."""
        if self.deterministic and self.metric.source == "train_seconds":
            raise ValueError("a time metric (source = train_seconds) cannot be deterministic")
        return self

    @property
    def test_seeds(self) -> int:
        """Fresh training seeds each side runs in the final test."""
        if self.test is None or self.test.seeds is None:
            return self.seed_cap
        return self.test.seeds

    @property
    def seed_cap(self) -> int:
        """The most seeds a trial runs: the racing cap under `paired`, else per_trial."""
        return self.seeds.cap if self.keep.name == "paired" else self.seeds.per_trial

    def specialist(self, key: str) -> RosterEntry:
        for entry in self.roster:
            if entry.key == key:
                return entry
        if key == "generalist":
            return RosterEntry(key="generalist", surfaces=("*",), role="any surface")
        raise KeyError(key)


def _names_test(commands: Commands, name: str) -> bool:
    return any("{test}" in part for part in getattr(commands, name))


def recorded_task(raw: dict[str, Any]) -> TaskSpec:
    """A task's rules as a search recorded them: rules recorded before CPU budgets
    (2026-12-05) name no clock, and ran on the wall clock."""
    budgets = {"clock": "wall", **raw.get("budgets", {})}
    return TaskSpec.model_validate({**raw, "budgets": budgets})
