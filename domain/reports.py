"""What the harness measured: a trial's run report, from its preflight through each
seed's training runs and evaluation. Runners return it; evaluators classify it."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from domain.base import Immutable
from domain.budgets import Budgets
from domain.labels import FailureLabel


class ExceptionInfo(Immutable):
    type: str
    message: str
    where: str  # file:line in function, from the last traceback frame


class LimitBreach(Immutable):
    """A harness cap that a running process passed, and was stopped for."""

    limit: str  # work_dir_bytes, work_dir_files
    measured: int
    cap: int
    reason: str


class ArtifactRefusal(Immutable):
    """Why the harness would not take an artifact (evaluators/harness/artifact.py's rules)."""

    rule: str  # files (over the count cap), link, special, folder, name, not_a_folder
    reason: str
    names: tuple[str, ...] = ()  # the offending entries, at most a few


class ProcessReport(Immutable):
    """One harness-run process: a seed's training, a smoke run, or an evaluation."""

    rc: int | None  # negative: killed by that signal
    timed_out: bool = False  # stopped at a cap, CPU or wall
    stopped: Literal["", "cpu", "wall"] = ""  # which cap stopped it
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the whole process tree's, live (evaluators.harness.cpuclock)
    clock: str = ""  # how cpu_s was accounted: the sandbox's cgroup or a /proc poll
    runqueue_s: float = 0.0  # summed over its threads: runnable, but given no CPU
    load_start: float = 0.0  # one-minute load average when it started and ended
    load_end: float = 0.0
    peak_rss_mb: float = 0.0
    log_tail: str = ""
    exception: ExceptionInfo | None = None
    breach: LimitBreach | None = None  # stopped by the harness for passing a cap


class EvalReport(Immutable):
    process: ProcessReport
    score: float | None = None
    measurements: dict[str, float] = Field(default_factory=dict)
    illegal: str = ""  # the model broke a rule (non-causal, not normalised, ...)
    error: str = ""  # the evaluator could not score it
    label: FailureLabel | None = None  # an overrun the task's own clocks saw (upstream runs)
    per_example: tuple[float, ...] = ()  # one value per held-out example, in the task's order


class Measure(Immutable):
    """One measurement of a seed's training run (evaluators/remeasure.py)."""

    process: ProcessReport
    artifact_sha256: str | None = None  # the harness copy's content; None: no copy


class SeedReport(Immutable):
    seed: int
    train: ProcessReport  # the measurement that is judged: the least of `measures`
    # Every measurement of this training, in order, when it was re-measured; else ().
    measures: tuple[Measure, ...] = ()
    artifact_bytes: int | None = None  # content bytes + name bytes of the harness's copy
    artifact_files: dict[str, int] = Field(default_factory=dict)
    artifact_refused: ArtifactRefusal | None = None
    eval: EvalReport | None = None


class PreflightReport(Immutable):
    ok: bool
    stage: str = ""  # syntax, import, project, smoke, artifact
    reason: str = ""
    projected_bytes: int | None = None
    smoke: ProcessReport | None = None
    artifact_refused: ArtifactRefusal | None = None  # the smoke run's artifact


class RunReport(Immutable):
    trial_id: UUID
    preflight: PreflightReport
    seeds: tuple[SeedReport, ...] = ()
    abort: str = ""  # an infrastructure fault: sandbox, runner, disk
    sandbox: str = ""
    confinement: str = ""  # how processes and memory were limited: a cgroup or rlimits
    host: str = ""
    wall_s: float = 0.0
    budgets: Budgets | None = None  # the job's caps (derived ones too); None: the task's
