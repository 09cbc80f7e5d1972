"""Over all seeds, once no failure rule matched (rows 12 to 14 of evaluators/classify.py's
table): enough scored seeds, the gate, the score as the mean over the scoring seeds; and
the harness's own totals over every process the trial ran.
"""

from __future__ import annotations

import statistics

from domain.labels import FailureLabel
from domain.ports import Outcome
from domain.reports import ProcessReport, RunReport, SeedReport
from domain.stats import blocks_of
from domain.task import TaskSpec
from domain.trial import SeedResult
from evaluators.overrun import fail, used

L = FailureLabel


def aggregate(report: RunReport, spec: TaskSpec, scoring_seeds: tuple[int, ...]) -> Outcome:
    results = [_seed_result(s, scoring_seeds, spec) for s in report.seeds]
    scored = [r for r in results if r.scoring and r.score is not None]
    if len(scored) < len(scoring_seeds):
        return fail(
            L.CRASH,
            f"only {len(scored)} of {len(scoring_seeds)} seeds finished",
            seeds_done=len(scored),
        )
    score = statistics.fmean(r.score for r in scored if r.score is not None)
    measured = {"score": score, "per_seed": tuple(results), "measurements": _means(scored)}
    gate = spec.gate
    if gate is not None:
        values = [r.measurements.get(gate.metric) for r in scored]
        if any(v is None for v in values):
            return fail(L.CRASH, f"the evaluator reported no {gate.metric}")
        mean = statistics.fmean(v for v in values if v is not None)
        if not gate.passes(mean):
            missed = fail(
                L.DISQUALIFIED,
                f"mean {gate.metric} {mean:.5f} misses the gate {gate.threshold:g}",
                gate_metric=gate.metric,
                mean=mean,
                threshold=gate.threshold,
                per_seed=values,
                margin=mean - gate.threshold,
            )
            # The score was measured: kept, so everyone sees how close the trial came.
            return missed.model_copy(update=measured)
    return Outcome(label=None, **measured)


def _seed_result(seed: SeedReport, scoring_seeds: tuple[int, ...], spec: TaskSpec) -> SeedResult:
    ev = seed.eval
    measured: dict[str, float] = {
        "train_s": seed.train.wall_s,
        "cpu_s": seed.train.cpu_s,
        "peak_rss_mb": seed.train.peak_rss_mb,
    }
    if seed.measures:  # judged by the least of several measurements (evaluators/remeasure.py)
        measured["train_runs"] = float(len(seed.measures))
        measured["cpu_s_first"] = seed.measures[0].process.cpu_s
    if seed.artifact_bytes is not None:
        measured["artifact_bytes"] = float(seed.artifact_bytes)
    if ev is not None:
        measured.update(ev.measurements)
        measured["eval_s"] = ev.process.wall_s
        measured["eval_cpu_s"] = ev.process.cpu_s
    score = ev.score if ev else None
    if spec.metric.source == "train_seconds" and ev is not None:
        score = used(seed.train, spec.budgets)  # the harness's clock, never the recipe's
    return SeedResult(
        seed=seed.seed,
        score=score,
        measurements=measured,
        scoring=seed.seed in scoring_seeds,
        per_example=blocks_of(ev.per_example, spec.keep.example_blocks) if ev else (),
    )


def _means(results: list[SeedResult]) -> dict[str, float]:
    keys = sorted({k for r in results for k in r.measurements})
    return {
        k: statistics.fmean(r.measurements[k] for r in results if k in r.measurements) for k in keys
    }


def _processes(report: RunReport) -> list[ProcessReport]:
    """Every process the harness ran for the trial, in the order they ran."""
    smoke = [report.preflight.smoke] if report.preflight.smoke else []
    runs = [
        p for s in report.seeds for p in (*_trainings(s), s.eval.process if s.eval else None) if p
    ]
    return smoke + runs


def _trainings(seed: SeedReport) -> list[ProcessReport]:
    """Every run of a seed's training: all its measurements when it was re-measured."""
    return [m.process for m in seed.measures] or [seed.train]


def accounting(report: RunReport) -> str:
    return next((p.clock for p in _processes(report) if p.clock), "")


def resource_totals(report: RunReport) -> dict[str, float]:
    """CPU seconds, peak RSS, wall time, the largest artifact and the load average when
    the first process started and the last ended, over every process."""
    processes = _processes(report)
    sizes = [s.artifact_bytes for s in report.seeds if s.artifact_bytes is not None]
    totals = {
        "cpu_s": sum(p.cpu_s for p in processes),
        "peak_rss_mb": max((p.peak_rss_mb for p in processes), default=0.0),
        "wall_s": report.wall_s,
    }
    if processes:
        totals["load_start"] = processes[0].load_start
        totals["load_end"] = processes[-1].load_end
    if sizes:
        totals["artifact_bytes"] = float(max(sizes))
    return totals
