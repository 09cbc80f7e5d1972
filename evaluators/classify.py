"""From what the harness measured to one outcome: the failure rules, first match wins.

Priority (as in the paper's classifier, with our preflight and infrastructure rows):

 1. an infrastructure fault (sandbox, runner, disk)            -> harness_abort
 2. preflight: projected artifact bytes over the cap, the
    smoke run past a work-dir cap, or its artifact over the
    file-count cap                                             -> size_blocked
 3. preflight: the smoke run's artifact breaks another
    artifact rule (links, folders, devices, names)             -> disqualified
 4. preflight: syntax, imports, surfaces or smoke run failed   -> preflight_crash
 then for each seed, in the order they ran:
 4b. training or evaluation stopped at the wall backstop while
    other work starved it (evaluators/overrun.py)              -> harness_abort
 5. evaluation killed at its cap                               -> eval_budget_overrun
 6. training killed at its cap, or longer than cap + tolerance -> train_budget_overrun
 7. evaluation longer than its cap, or an overrun that the
    task's own phase clocks report (upstream runs)              -> eval/train_budget_overrun
 8. the file-size limit hit, the work dir past its byte or
    entry cap, the artifact over the size or file-count cap    -> size_blocked
 9. training exited non-zero or was killed                     -> crash
10. the artifact breaks another artifact rule (links,
    folders, devices, names), or the model broke an
    evaluation rule (look-ahead, ...)                          -> disqualified
11. evaluation failed or gave no finite score                  -> crash
 then over all seeds:
12. fewer scored seeds than the trial needs                    -> crash
13. the gate's mean over seeds misses its threshold            -> disqualified
14. otherwise VALID: the score is the mean over scoring seeds.

Caps and "longer" are on the task's clock: CPU-seconds of the run's whole process tree
by default, wall seconds under clock "wall" (evaluators/overrun.py says how a stop at
the wall backstop is told apart). Every number comes from the harness, never from the
recipe's own output. The artifact rules are evaluators/harness/artifact.py's; the
work-dir caps evaluators/harness/guard.py's. Rows 12 to 14, over all seeds, and the
harness's totals are evaluators/aggregate.py's.
"""

from __future__ import annotations

import math
import signal
from typing import Any

from domain.labels import FailureLabel
from domain.ports import Outcome
from domain.reports import (
    ArtifactRefusal,
    EvalReport,
    LimitBreach,
    ProcessReport,
    RunReport,
    SeedReport,
)
from domain.task import TaskSpec
from evaluators import remeasure
from evaluators.aggregate import accounting, aggregate, resource_totals
from evaluators.overrun import budget_use, fail, overrun, starved_failure, used

L = FailureLabel


def classify(report: RunReport, spec: TaskSpec, scoring_seeds: tuple[int, ...]) -> Outcome:
    if report.budgets is not None:  # the caps the job ran under: derived ones included
        spec = spec.model_copy(update={"budgets": report.budgets})
    measurements = {**resource_totals(report), **budget_use(report.seeds, spec.budgets)}
    outcome = _first_failure(report, spec) or aggregate(report, spec, scoring_seeds)
    return outcome.model_copy(
        update={
            "measurements": {
                **outcome.measurements,
                **measurements,
            },  # harness totals win
            "rules_version": spec.rules_version,
            "confinement": report.confinement,
            "accounting": accounting(report),
        }
    )


def _first_failure(report: RunReport, spec: TaskSpec) -> Outcome | None:
    if report.abort:
        return fail(L.HARNESS_ABORT, report.abort, fault=report.abort)
    pre = report.preflight
    if not pre.ok:
        return _preflight_failure(report, spec)
    for seed in report.seeds:
        found = _seed_failure(seed, spec)
        if found is not None:
            return found.model_copy(update={"evidence": {**found.evidence, "seed": seed.seed}})
    return None


def _preflight_failure(report: RunReport, spec: TaskSpec) -> Outcome:
    pre = report.preflight
    smoke = pre.smoke
    excerpt = smoke.log_tail if smoke else ""
    if pre.stage == "project":
        return fail(
            L.SIZE_BLOCKED,
            pre.reason,
            excerpt,
            projected_bytes=pre.projected_bytes,
            cap_bytes=spec.size_cap_bytes,
            stage="preflight",
        )
    if smoke is not None and smoke.breach is not None:
        return _breach_failure(smoke.breach, excerpt, stage="preflight")
    if pre.artifact_refused is not None:
        return _refusal_failure(pre.artifact_refused, stage="preflight")
    evidence: dict[str, Any] = {"stage": pre.stage}
    if smoke and smoke.exception:
        evidence["exception"] = smoke.exception.model_dump()
    return fail(L.PREFLIGHT_CRASH, pre.reason, excerpt, **evidence)


def _breach_failure(breach: LimitBreach, excerpt: str, **evidence: Any) -> Outcome:
    return fail(
        L.SIZE_BLOCKED,
        breach.reason,
        excerpt,
        limit=breach.limit,
        measured=breach.measured,
        cap=breach.cap,
        **evidence,
    )


def _refusal_failure(refused: ArtifactRefusal, **evidence: Any) -> Outcome:
    """Over the file-count cap is a size rule; anything but plain files is illegal."""
    label = L.SIZE_BLOCKED if refused.rule == "files" else L.DISQUALIFIED
    return fail(label, refused.reason, rule=refused.rule, names=list(refused.names), **evidence)


def _seed_failure(seed: SeedReport, spec: TaskSpec) -> Outcome | None:
    train, ev, budgets = seed.train, seed.eval, spec.budgets
    found = starved_failure(train, budgets, "training")
    if found is None and ev is not None:
        found = starved_failure(ev.process, budgets, "evaluation")
    if found is not None:
        return found
    if ev is not None and ev.process.timed_out:
        return overrun(
            L.EVAL_BUDGET_OVERRUN, "evaluation", ev.process, budgets.eval_seconds, budgets
        )
    if train.timed_out or used(train, budgets) > budgets.train_cap():
        found = overrun(L.TRAIN_BUDGET_OVERRUN, "training", train, budgets.train_seconds, budgets)
        return remeasure.annotated(found, seed, budgets)
    if ev is not None and used(ev.process, budgets) > budgets.eval_seconds:
        return overrun(
            L.EVAL_BUDGET_OVERRUN, "evaluation", ev.process, budgets.eval_seconds, budgets
        )
    if ev is not None and ev.label is not None:  # an overrun the task's own phase clocks saw
        return fail(ev.label, ev.error or str(ev.label), ev.process.log_tail, source="evaluator")
    found = _size_failure(seed, spec) or _crash_failure(seed)
    if found is None and seed.artifact_refused is not None:
        found = _refusal_failure(seed.artifact_refused)
    if found is None and ev is not None:
        found = _eval_failure(ev, needs_score=spec.metric.source == "evaluator")
    return found


def _hit_file_limit(process: ProcessReport) -> bool:
    """SIGXFSZ kills a C program; Python ignores it and raises EFBIG (errno 27) instead."""
    exc = process.exception
    return process.rc == -signal.SIGXFSZ or (
        exc is not None and "File too large" in exc.message and process.rc != 0
    )


def _size_failure(seed: SeedReport, spec: TaskSpec) -> Outcome | None:
    if seed.train.breach is not None:
        return _breach_failure(seed.train.breach, seed.train.log_tail)
    refused = seed.artifact_refused
    if refused is not None and refused.rule == "files":
        return _refusal_failure(refused)
    if _hit_file_limit(seed.train):
        return fail(
            L.SIZE_BLOCKED,
            f"wrote a file over the {spec.sandbox.limits.file_mb} MB file-size limit",
            seed.train.log_tail,
            signal="SIGXFSZ",
            file_limit_mb=spec.sandbox.limits.file_mb,
        )
    cap, size = spec.size_cap_bytes, seed.artifact_bytes
    if cap is not None and size is not None and size > cap:
        return fail(
            L.SIZE_BLOCKED,
            f"artifact {size:,} B over the {cap:,} B cap by {size - cap:,} B",
            "",
            artifact_bytes=size,
            cap_bytes=cap,
            over_by=size - cap,
            files=seed.artifact_files,
        )
    return None


def _crash_failure(seed: SeedReport) -> Outcome | None:
    train = seed.train
    if train.rc == 0:
        return None
    return fail(
        L.CRASH,
        "training " + describe_exit(train),
        train.log_tail,
        rc=train.rc,
        exception=train.exception.model_dump() if train.exception else None,
    )


def _eval_failure(ev: EvalReport, needs_score: bool) -> Outcome | None:
    if ev.illegal:
        return fail(
            L.DISQUALIFIED,
            f"illegal model: {ev.illegal}",
            ev.process.log_tail,
            illegal=ev.illegal,
        )
    if ev.process.rc != 0 or ev.error:
        why = ev.error or "evaluation " + describe_exit(ev.process)
        return fail(L.CRASH, why, ev.process.log_tail, rc=ev.process.rc, stage="evaluate")
    if needs_score and (ev.score is None or not math.isfinite(ev.score)):
        return fail(
            L.CRASH,
            f"no finite score (got {ev.score})",
            ev.process.log_tail,
            stage="evaluate",
        )
    return None


def describe_exit(process: ProcessReport) -> str:
    """`exited 1: ValueError: bad (train.py:12 in main)` or `killed by SIGKILL`."""
    if process.rc is not None and process.rc < 0:
        try:
            name = signal.Signals(-process.rc).name
        except ValueError:
            name = f"signal {-process.rc}"
        return f"killed by {name}"
    exc = process.exception
    detail = f": {exc.type}: {exc.message} ({exc.where})" if exc else ""
    return f"exited {process.rc}{detail}"
