"""The trusted trial pipeline: stage, preflight, train each seed, take, measure, evaluate.

Run as `python -m evaluators.pipeline JOB.json`. It speaks JSON lines on stdout:
`{"kind": "progress", ...}` while training and one final `{"kind": "report", ...}` with
every measurement (a RunReport). Classification happens in the loop from that report.
Agent-written code runs only inside the sandbox; times and bytes are measured here.

Every run (import check, smoke run, each seed) starts from a fresh copy of the staged
recipe in a work dir of its own, removed when the run ends (evaluators.harness.staging). The
smoke run's artifact is only measured; a seed's artifact is copied by the harness into
a folder of its own (evaluators.harness.artifact), and only that copy is measured and evaluated.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from domain.ports import TrialJob
from domain.reports import Measure, PreflightReport, ProcessReport, RunReport, SeedReport
from evaluators import preflight, remeasure
from evaluators.classify import describe_exit
from evaluators.harness import artifact, staging
from evaluators.harness.emitter import Emitter, progress_parser
from evaluators.harness.evaluation import run_eval
from evaluators.harness.process import run_measured
from evaluators.harness.sandbox import SandboxSpec, SandboxStartError, confinement, mode
from evaluators.overrun import STARVED_RERUNS, starved, used
from evaluators.upstream.run import result_path

Ran = tuple[ProcessReport, artifact.Taken | None]
IMPORT_CHECK_S = 30  # CPU-seconds (wall seconds under the wall clock) for the import check


def sandbox_spec(job: TrialJob, work: Path, cap_s: float) -> SandboxSpec:
    limits = job.rules.limits
    return SandboxSpec(
        work_dir=work,
        read_only=(Path(job.data_dir), Path(job.run_dir) / "harness"),
        hide_packages=job.rules.hide_packages,
        limits=limits,
        cpu_seconds=int(limits.cpu_seconds_factor * cap_s * job.threads) + 5,
        enabled=job.sandbox,
    )


def run_train(
    job: TrialJob,
    paths: staging.TrialPaths,
    seed: int,
    smoke: bool,
    emitter: Emitter,
    attempt: int = 0,
) -> tuple[ProcessReport, artifact.Taken | None]:
    """One run in a fresh work dir, again while other work starves it (`_fed`); its
    artifact is taken (None if it failed). Attempt k > 0 re-measures a seed's training:
    the same run to the recipe, logged and copied apart by the harness."""
    return _fed(job, lambda: _train_once(job, paths, seed, smoke, emitter, attempt))


def train_seed(
    job: TrialJob, paths: staging.TrialPaths, seed: int, emitter: Emitter
) -> tuple[remeasure.Measured, tuple[Measure, ...]]:
    """A seed's training, re-measured where it ends over its cap within the margin."""

    def run(attempt: int) -> remeasure.Measured:
        process, taken = run_train(job, paths, seed, False, emitter, attempt)
        return remeasure.measured(process, taken, _copy_of(paths, seed, attempt), attempt == 0)

    return remeasure.judged(run(0), run, job.budgets)


def _copy_of(paths: staging.TrialPaths, seed: int, attempt: int) -> Path:
    """Where a run's artifact is copied: a re-measure's beside the evaluator's, apart."""
    return (
        paths.artifact(seed)
        if attempt == 0
        else paths.scratch(seed).with_name(f"remeasure-{seed}-{attempt}")
    )


def _fed(job: TrialJob, run: Callable[[], Ran]) -> Ran:
    """A run that other work starved (evaluators.classify.starved) runs again,
    STARVED_RERUNS times at most; past that the trial is harness_abort, never the
    idea's fault."""
    for _attempt in range(STARVED_RERUNS - 1):
        ran = run()
        if not starved(ran[0], job.budgets):
            return ran
    return run()


def _train_once(
    job: TrialJob,
    paths: staging.TrialPaths,
    seed: int,
    smoke: bool,
    emitter: Emitter,
    attempt: int,
) -> tuple[ProcessReport, artifact.Taken | None]:
    budgets = job.budgets
    cap = budgets.smoke_seconds if smoke else budgets.train_limit()
    work = staging.fresh_work(paths, "smoke" if smoke else f"seed-{seed}")
    log = "smoke" if smoke else f"train-{seed}" + (f"-again-{attempt}" if attempt else "")
    if not smoke:
        emitter.start_seed(seed, cap)
    try:
        report = run_measured(
            staging.fill(job.commands.train, values(job, work, seed, work / staging.ARTIFACT)),
            sandbox_spec(job, work, cap),
            env=staging.train_env(job, seed, work, smoke),
            cwd=work,
            timeout_s=budgets.wall_cap(cap),
            cpu_cap_s=budgets.cpu_cap(cap),
            log_path=paths.logs / f"{log}.log",
            on_stdout_line=None if smoke else progress_parser(emitter, time.monotonic()),
        )
        if not smoke:
            emitter.end_seed()
        finished = report.rc == 0 and not report.timed_out and report.breach is None
        dest = None if smoke else _copy_of(paths, seed, attempt)
        taken = _take(job, work, dest) if finished else None
    finally:
        staging.remove(work)  # nothing it wrote reaches a later run
    return _relative_to(report, work), taken


def _take(job: TrialJob, work: Path, dest: Path | None) -> artifact.Taken:
    """Measure the run's artifact; copy a seed's (within the cap) to `dest`."""
    taken = artifact.take(work, staging.ARTIFACT, dest, job.size_cap_bytes)
    if dest is not None and dest.is_dir() and job.upstream:  # copied
        artifact.carry_sidecar(result_path(work / staging.ARTIFACT), result_path(dest))
    return taken


def _relative_to(report: ProcessReport, work: Path) -> ProcessReport:
    """`train.py:12 in main`, not the trial's absolute work path: events stay portable."""
    exc = report.exception
    if exc is None or not exc.where.startswith(f"{work}/"):
        return report
    where = exc.where.removeprefix(f"{work}/")
    return report.model_copy(update={"exception": exc.model_copy(update={"where": where})})


def values(job: TrialJob, work: Path, seed: int, artifact_dir: Path) -> dict[str, str]:
    return {
        "task": job.task_dir,
        "work": str(work),
        "data": job.data_dir,
        "heldout": job.heldout_dir,
        "artifact": str(artifact_dir),
        "seed": str(seed),
        "threads": str(job.threads),
        "eval_seconds": str(job.budgets.eval_seconds),
    }


def run_preflight(job: TrialJob, paths: staging.TrialPaths, emitter: Emitter) -> PreflightReport:
    error = preflight.syntax_error(job.recipe)
    if error:
        return preflight.failed("syntax", error)
    # Upstream recipes import from the user's own environment; their smoke run checks it.
    missing = None if job.upstream else _import_check(job, paths)
    if missing:
        return preflight.failed("import", missing)
    if not job.smoke:
        return PreflightReport(ok=True)
    smoke, taken = run_train(job, paths, job.seeds[0], True, emitter)
    if smoke.breach is not None:
        return preflight.failed("workdir", f"smoke run stopped: {smoke.breach.reason}", smoke=smoke)
    if taken is None:
        why = "timed out" if smoke.timed_out else describe_exit(smoke)
        return preflight.failed("smoke", f"smoke run {why}", smoke=smoke)
    if taken.refused is not None:
        return preflight.failed(
            "artifact", taken.refused.reason, smoke=smoke, artifact_refused=taken.refused
        )
    return _projection(job, taken.bytes, smoke)


def _projection(job: TrialJob, projected: int, smoke: ProcessReport) -> PreflightReport:
    cap = job.size_cap_bytes
    if cap is not None and projected > cap:
        return preflight.failed(
            "project",
            f"projected artifact {projected:,} B over the {cap:,} B cap by {projected - cap:,} B",
            projected_bytes=projected,
            smoke=smoke,
        )
    return PreflightReport(ok=True, projected_bytes=projected, smoke=smoke)


def _import_check(job: TrialJob, paths: staging.TrialPaths) -> str | None:
    modules = preflight.imported_modules(job.recipe)
    if not modules:
        return None
    work = staging.fresh_work(paths, "import-check")
    argv = [sys.executable, "-I", str(paths.harness / "import_check.py"), str(work), *modules]
    budgets = job.budgets
    try:
        report = run_measured(
            argv,
            sandbox_spec(job, work, IMPORT_CHECK_S),
            env=staging.train_env(job, 0, work, True),
            cwd=work,
            timeout_s=budgets.wall_cap(IMPORT_CHECK_S),
            cpu_cap_s=budgets.cpu_cap(IMPORT_CHECK_S),
            log_path=paths.logs / "import-check.log",
        )
    finally:
        staging.remove(work)
    if report.rc == 0:
        return None
    last = report.log_tail.strip().splitlines()[-1:] or ["import check failed"]
    return last[0]


def run_seeds(job: TrialJob, paths: staging.TrialPaths, emitter: Emitter) -> list[SeedReport]:
    """Seeds run one after another; the first failing seed ends the trial early."""
    cap = job.size_cap_bytes
    reports: list[SeedReport] = []
    for seed in job.seeds:
        trained, measures = train_seed(job, paths, seed, emitter)
        taken = trained.taken
        report = _seed_report(seed, trained.process, taken, measures)
        size = report.artifact_bytes
        over = used(trained.process, job.budgets) > job.budgets.train_cap()
        if over or taken is None or taken.refused or (cap is not None and (size or 0) > cap):
            reports.append(report)
            break
        command = job.commands.evaluate
        argv = staging.fill(command, values(job, paths.scratch(seed), seed, paths.artifact(seed)))
        report = report.model_copy(update={"eval": run_eval(job, paths, seed, argv)})
        reports.append(report)
        ev = report.eval
        if ev is None or ev.process.rc != 0 or ev.process.timed_out or ev.error or ev.illegal:
            break
    return reports


def _seed_report(
    seed: int, train: ProcessReport, taken: artifact.Taken | None, measures: tuple[Measure, ...]
) -> SeedReport:
    if taken is None:  # training failed: there is no artifact to speak of
        return SeedReport(seed=seed, train=train, measures=measures)
    return SeedReport(
        seed=seed,
        train=train,
        measures=measures,
        artifact_bytes=None if taken.refused else taken.bytes,
        artifact_files=taken.files,
        artifact_refused=taken.refused,
    )


def run_job(job: TrialJob, emitter: Emitter) -> RunReport:
    started = time.monotonic()
    base = {"trial_id": job.trial_id, "host": socket.gethostname()}
    try:
        paths = staging.stage(job)  # every cap and command comes with the job
        spec = sandbox_spec(job, paths.run_dir, 1)
        pre = run_preflight(job, paths, emitter)
        seeds = run_seeds(job, paths, emitter) if pre.ok else []
    except SandboxStartError as error:
        return RunReport(
            **base, preflight=PreflightReport(ok=True), abort=f"sandbox failed to start: {error}"
        )
    except OSError as error:
        return RunReport(
            **base, preflight=PreflightReport(ok=True), abort=f"harness I/O error: {error}"
        )
    finally:
        for folder in ("work", "scratch", "harness"):  # provenance keeps the rest
            staging.remove(Path(job.run_dir) / folder)
    return RunReport(
        **base,
        budgets=job.budgets,
        preflight=pre,
        seeds=tuple(seeds),
        sandbox=mode(spec),
        confinement=confinement(spec),
        wall_s=round(time.monotonic() - started, 3),
    )


def main(argv: list[str]) -> int:
    job = TrialJob.model_validate_json(Path(argv[1]).read_text())
    emitter = Emitter(len(job.seeds))
    report = run_job(job, emitter)
    emitter.flush()
    emitter.line({"kind": "report", "report": report.model_dump(mode="json")})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
