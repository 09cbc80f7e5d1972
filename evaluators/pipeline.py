"""The trusted trial pipeline: stage, preflight, train each seed, measure, evaluate.

Run as `python -m evaluators.pipeline JOB.json`. It speaks JSON lines on stdout:
`{"kind": "progress", ...}` while training and one final `{"kind": "report", ...}` with
every measurement (a RunReport). Classification happens in the loop from that report.
Agent-written code runs only inside the sandbox; times and bytes are measured here.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

from domain.labels import FailureLabel
from domain.ports import (
    EvalReport,
    PreflightReport,
    ProcessReport,
    RunReport,
    SeedReport,
    TrialJob,
)
from domain.task import Limits
from domain.trial import ProgressSample
from evaluators import preflight, staging
from evaluators.process import run_measured
from evaluators.sandbox import SandboxSpec, SandboxStartError, mode
from evaluators.tasks import Task, load

# The evaluate command is the task's own trusted code: it runs outside the sandbox (it
# starts the sandboxed model server itself), in its own session, with roomy limits.
TRUSTED_LIMITS = Limits(memory_mb=65536, processes=4096, file_mb=4096)
PROGRESS_EVERY_S = 2.0
PROGRESS_MAX_SAMPLES = 50


class Emitter:
    """Writes protocol lines; progress samples are batched, not one line per step."""

    def __init__(self) -> None:
        self.pending: list[ProgressSample] = []
        self.seed = 0
        self.flushed_at = time.monotonic()

    def line(self, obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def sample(self, seed: int, sample: ProgressSample) -> None:
        if seed != self.seed:
            self.flush()
            self.seed = seed
        self.pending.append(sample)
        if (
            len(self.pending) >= PROGRESS_MAX_SAMPLES
            or time.monotonic() - self.flushed_at > PROGRESS_EVERY_S
        ):
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.line(
                {
                    "kind": "progress",
                    "seed": self.seed,
                    "samples": [s.model_dump() for s in self.pending],
                }
            )
        self.pending = []
        self.flushed_at = time.monotonic()


def progress_parser(emitter: Emitter, seed: int, started: float) -> Any:
    def on_line(line: str) -> None:
        text = line.strip()
        if not text.startswith("{"):
            return
        try:
            obj = json.loads(text)
            sample = ProgressSample(
                step=int(obj["step"]),
                loss=obj["loss"],
                elapsed_s=round(time.monotonic() - started, 3),
            )
        except (ValueError, KeyError, TypeError):
            return  # not a progress line: it stays in the log only
        emitter.sample(seed, sample)

    return on_line


def sandbox_spec(job: TrialJob, task: Task, paths: staging.TrialPaths, cap_s: float) -> SandboxSpec:
    limits = task.spec.sandbox.limits
    return SandboxSpec(
        work_dir=paths.work,
        read_only=(Path(job.data_dir), paths.harness),
        hide_packages=task.spec.sandbox.hide_packages,
        limits=limits,
        cpu_seconds=int(limits.cpu_seconds_factor * cap_s * job.threads) + 5,
        enabled=job.sandbox,
    )


def run_train(
    job: TrialJob,
    task: Task,
    paths: staging.TrialPaths,
    seed: int,
    smoke: bool,
    emitter: Emitter,
) -> tuple[ProcessReport, Path]:
    budgets = task.spec.budgets
    cap = budgets.smoke_seconds if smoke else budgets.train_seconds + budgets.tolerance_seconds
    artifact = paths.artifact("smoke" if smoke else seed)
    artifact.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    report = run_measured(
        staging.fill(task.spec.commands.train, _values(job, paths, seed, artifact)),
        sandbox_spec(job, task, paths, cap),
        env=staging.train_env(job, seed, artifact, smoke),
        cwd=paths.work,
        timeout_s=cap,
        log_path=paths.logs / ("smoke.log" if smoke else f"train-{seed}.log"),
        on_stdout_line=None if smoke else progress_parser(emitter, seed, started),
    )
    emitter.flush()
    return _relative_to(report, paths.work), artifact


def _relative_to(report: ProcessReport, work: Path) -> ProcessReport:
    """`train.py:12 in main`, not the trial's absolute work path: events stay portable."""
    exc = report.exception
    if exc is None or not exc.where.startswith(f"{work}/"):
        return report
    where = exc.where.removeprefix(f"{work}/")
    return report.model_copy(update={"exception": exc.model_copy(update={"where": where})})


def _values(job: TrialJob, paths: staging.TrialPaths, seed: int, artifact: Path) -> dict[str, str]:
    return {
        "task": job.task_dir,
        "work": str(paths.work),
        "data": job.data_dir,
        "heldout": job.heldout_dir,
        "artifact": str(artifact),
        "seed": str(seed),
        "threads": str(job.threads),
        "eval_seconds": str(job.budgets.eval_seconds),
    }


def run_preflight(
    job: TrialJob, task: Task, paths: staging.TrialPaths, emitter: Emitter
) -> PreflightReport:
    error = preflight.syntax_error(job.recipe)
    if error:
        return preflight.failed("syntax", error)
    # Upstream recipes import from the user's own environment; their smoke run checks it.
    missing = None if task.spec.kind == "upstream" else _import_check(job, task, paths)
    if missing:
        return preflight.failed("import", missing)
    if not job.smoke:
        return PreflightReport(ok=True)
    smoke, artifact = run_train(job, task, paths, job.seeds[0], True, emitter)
    if smoke.timed_out or smoke.rc != 0:
        why = "timed out" if smoke.timed_out else _exit(smoke)
        return preflight.failed("smoke", f"smoke run {why}", smoke=smoke)
    projected, _files = staging.measure_artifact(artifact)
    cap = task.spec.size_cap_bytes
    if cap is not None and projected is not None and projected > cap:
        return preflight.failed(
            "project",
            f"projected artifact {projected:,} B over the {cap:,} B cap by {projected - cap:,} B",
            projected_bytes=projected,
            smoke=smoke,
        )
    return PreflightReport(ok=True, projected_bytes=projected, smoke=smoke)


def _exit(process: ProcessReport) -> str:
    from evaluators.classify import describe_exit

    return describe_exit(process)


def _import_check(job: TrialJob, task: Task, paths: staging.TrialPaths) -> str | None:
    modules = preflight.imported_modules(job.recipe)
    if not modules:
        return None
    argv = [
        sys.executable,
        "-I",
        str(paths.harness / "import_check.py"),
        str(paths.work),
        *modules,
    ]
    report = run_measured(
        argv,
        sandbox_spec(job, task, paths, 30),
        env=staging.train_env(job, 0, paths.work, True),
        cwd=paths.work,
        timeout_s=30,
        log_path=paths.logs / "import-check.log",
    )
    if report.rc == 0:
        return None
    last = report.log_tail.strip().splitlines()[-1:] or ["import check failed"]
    return last[0]


def run_eval(
    job: TrialJob, task: Task, paths: staging.TrialPaths, seed: int, artifact: Path
) -> EvalReport:
    argv = staging.fill(task.spec.commands.evaluate, _values(job, paths, seed, artifact))
    if not job.sandbox:
        argv.append("--unsafe-no-sandbox")
    lines: list[str] = []
    process = run_measured(
        argv,
        SandboxSpec(work_dir=paths.run_dir, enabled=False, limits=TRUSTED_LIMITS),
        env=staging.trusted_env(job.threads),
        cwd=Path(job.task_dir),
        timeout_s=job.budgets.eval_seconds + 5,
        log_path=paths.logs / f"eval-{seed}.log",
        on_stdout_line=lines.append,
    )
    return _eval_report(process, lines)


def _eval_report(process: ProcessReport, lines: list[str]) -> EvalReport:
    for line in reversed(lines):
        if line.strip().startswith("{"):
            try:
                result = json.loads(line)
                return EvalReport(
                    process=process,
                    score=result.get("score"),
                    measurements={
                        k: float(v) for k, v in (result.get("measurements") or {}).items()
                    },
                    illegal=str(result.get("illegal") or ""),
                    error=str(result.get("error") or ""),
                    label=_overrun_label(result.get("label")),
                    per_example=tuple(float(v) for v in result.get("per_example") or ()),
                )
            except (ValueError, TypeError, AttributeError):
                break
    return EvalReport(process=process, error="the evaluator printed no JSON result line")


def _overrun_label(value: object) -> FailureLabel | None:
    """Only budget overruns may come from the evaluator: every other label is ours."""
    overruns = (FailureLabel.TRAIN_BUDGET_OVERRUN, FailureLabel.EVAL_BUDGET_OVERRUN)
    return FailureLabel(str(value)) if value in overruns else None


def run_seeds(
    job: TrialJob, task: Task, paths: staging.TrialPaths, emitter: Emitter
) -> list[SeedReport]:
    """Seeds run one after another; the first failing seed ends the trial early."""
    cap = task.spec.size_cap_bytes
    reports: list[SeedReport] = []
    for seed in job.seeds:
        train, artifact = run_train(job, task, paths, seed, False, emitter)
        size, files = staging.measure_artifact(artifact)
        report = SeedReport(seed=seed, train=train, artifact_bytes=size, artifact_files=files)
        if train.rc != 0 or train.timed_out or (cap is not None and (size or 0) > cap):
            reports.append(report)
            break
        links = staging.artifact_links(artifact)
        if links:  # a link could point the trusted evaluator at files the recipe cannot read
            illegal = EvalReport(
                process=ProcessReport(rc=0),
                illegal=f"the artifact holds symbolic links: {', '.join(links)}",
            )
            reports.append(report.model_copy(update={"eval": illegal}))
            break
        report = report.model_copy(update={"eval": run_eval(job, task, paths, seed, artifact)})
        reports.append(report)
        ev = report.eval
        if ev is None or ev.process.rc != 0 or ev.process.timed_out or ev.error or ev.illegal:
            break
    return reports


def run_job(job: TrialJob, emitter: Emitter) -> RunReport:
    started = time.monotonic()
    base = {"trial_id": job.trial_id, "host": socket.gethostname()}
    try:
        task = load(job.task_dir)
        paths = staging.stage(job)
        sandbox = mode(sandbox_spec(job, task, paths, 1))
        pre = run_preflight(job, task, paths, emitter)
        seeds = run_seeds(job, task, paths, emitter) if pre.ok else []
    except SandboxStartError as error:
        return RunReport(
            **base,
            preflight=PreflightReport(ok=True),
            abort=f"sandbox failed to start: {error}",
        )
    except OSError as error:
        return RunReport(
            **base,
            preflight=PreflightReport(ok=True),
            abort=f"harness I/O error: {error}",
        )
    return RunReport(
        **base,
        preflight=pre,
        seeds=tuple(seeds),
        sandbox=sandbox,
        wall_s=round(time.monotonic() - started, 3),
    )


def main(argv: list[str]) -> int:
    job = TrialJob.model_validate_json(Path(argv[1]).read_text())
    emitter = Emitter()
    report = run_job(job, emitter)
    emitter.flush()
    emitter.line({"kind": "report", "report": report.model_dump(mode="json")})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
