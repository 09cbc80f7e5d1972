"""Running a task's evaluate command on the harness's copy of an artifact.

The evaluate command is the task's own trusted code: it runs outside the sandbox (it
starts the sandboxed model server itself), in its own session, with roomy limits. Its
TMPDIR is a scratch folder inside the trial's run dir, so the private folders of the
model servers it starts (under the same work-dir caps as training, evaluators.harness.guard)
stay with the trial and are removed after it, never left in the host's /tmp.
"""

from __future__ import annotations

import json
from pathlib import Path

from domain.labels import FailureLabel
from domain.ports import TrialJob
from domain.reports import EvalReport, ProcessReport
from domain.task import Limits
from evaluators.harness import staging
from evaluators.harness.process import run_measured
from evaluators.harness.sandbox import SandboxSpec

TRUSTED_LIMITS = Limits(memory_mb=65536, processes=4096, file_mb=4096)
GRACE_S = 5  # past the eval cap before the command is stopped (its own numbers say more)
# Under the CPU clock, the wall seconds after which we stop the command (the backstop):
# its model servers are waited on at least that long (evaluators.serving.servers), so a busy
# machine is told apart from a sleeping model by our numbers (evaluators.overrun).
BACKSTOP_ENV = "AUTORECIPE_EVAL_WALL_SECONDS"


def run_eval(job: TrialJob, paths: staging.TrialPaths, seed: int, argv: list[str]) -> EvalReport:
    if not job.sandbox:
        argv = [*argv, "--unsafe-no-sandbox"]
    scratch = paths.scratch(seed)
    scratch.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    budgets = job.budgets
    wall_s = budgets.wall_cap(budgets.eval_seconds + GRACE_S)
    cpu_cap_s = budgets.cpu_cap(budgets.eval_seconds + GRACE_S)
    env = {**staging.trusted_env(job.threads), "TMPDIR": str(scratch)}
    if cpu_cap_s is not None:  # under the wall clock the eval cap is the command's own
        env[BACKSTOP_ENV] = str(wall_s)
    try:
        process = run_measured(
            argv,
            SandboxSpec(work_dir=scratch, enabled=False, trusted=True, limits=TRUSTED_LIMITS),
            env=env,
            cwd=Path(job.task_dir),
            timeout_s=wall_s,
            cpu_cap_s=cpu_cap_s,
            log_path=paths.logs / f"eval-{seed}.log",
            on_stdout_line=lines.append,
        )
    finally:
        staging.remove(scratch)
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
