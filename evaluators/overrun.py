"""Time-budget rules: a run's use on the task's clock, and what a stop at a cap means.

Under the CPU clock a run is stopped past its CPU cap (its own overrun) or at the wall
backstop. There the scheduler's numbers tell the two causes apart: a run whose threads
sat on the run queue for STARVED_SHARE of the wall time or more was starved by other
work (`harness_abort`, run again by the pipeline up to STARVED_RERUNS times); one that
did not wait there slept or blocked, which is its own overrun.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.budgets import Budgets
from domain.labels import FailureLabel
from domain.ports import Outcome
from domain.reports import ProcessReport, SeedReport

L = FailureLabel
STARVED_SHARE = 0.25  # of the wall time, summed over threads: see `starved`
STARVED_RERUNS = 3  # runs of one seed at most while other work starves them (pipeline)


def fail(label: FailureLabel, reason: str, excerpt: str = "", **evidence: Any) -> Outcome:
    return Outcome(label=label, reason=reason, evidence=evidence, log_excerpt=excerpt[-1500:])


def used(process: ProcessReport, budgets: Budgets) -> float:
    """What a run spent on the task's clock: CPU-seconds of its tree, or wall seconds."""
    return process.cpu_s if budgets.clock == "cpu" else process.wall_s


def budget_use(seeds: Sequence[SeedReport], budgets: Budgets) -> dict[str, float]:
    """The most any seed's judged training run used on the task's clock, and the cap it
    was judged by: a trial's share of its cap, which an agent needs to size a time cut
    (agents/fit.py). Nothing for a trial that never trained."""
    if not seeds:
        return {}
    return {
        "train_used_s": max(used(seed.train, budgets) for seed in seeds),
        "train_cap_s": budgets.train_cap(),
    }


def starved(process: ProcessReport, budgets: Budgets) -> bool:
    """Stopped by the wall backstop under its CPU cap while the scheduler kept it waiting:
    its threads sat runnable on the run queue for STARVED_SHARE of the wall time or more.
    A run that slept or blocked waits on no run queue: that is its own overrun."""
    return (
        budgets.clock == "cpu"
        and process.stopped == "wall"
        and process.runqueue_s >= STARVED_SHARE * process.wall_s
    )


def starved_failure(process: ProcessReport, budgets: Budgets, stage: str) -> Outcome | None:
    if not starved(process, budgets):
        return None
    reason = (
        f"{stage} starved by other work: {_numbers(process)}; not the recipe's doing,"
        " so it is run again"
    )
    return fail(
        L.HARNESS_ABORT, reason, process.log_tail, fault="starved", stage=stage, **_clocks(process)
    )


def overrun(
    label: FailureLabel, stage: str, process: ProcessReport, cap: float, budgets: Budgets
) -> Outcome:
    if budgets.clock == "wall":
        why = f"{stage} took {process.wall_s:.1f} s, over the {cap:g} s cap"
    elif process.stopped == "wall":
        why = (
            f"{stage} stopped at the {budgets.wall_backstop:g}x wall backstop while it was"
            f" not kept waiting: {_numbers(process)}; it slept or blocked"
        )
    else:
        why = f"{stage} used {process.cpu_s:.1f} CPU-s, over the {cap:g} CPU-s cap"
    return fail(label, why, process.log_tail, cap_s=cap, clock=budgets.clock, **_clocks(process))


def _numbers(process: ProcessReport) -> str:
    return (
        f"{process.wall_s:.1f} s wall for {process.cpu_s:.1f} CPU-s at load"
        f" {process.load_start:.1f} to {process.load_end:.1f}, run-queue wait"
        f" {process.runqueue_s:.1f} s"
    )


def _clocks(process: ProcessReport) -> dict[str, Any]:
    return {
        "wall_s": process.wall_s,
        "cpu_s": process.cpu_s,
        "runqueue_s": process.runqueue_s,
        "load_start": process.load_start,
        "load_end": process.load_end,
        "accounting": process.clock,
        "stopped_by": process.stopped,
    }
